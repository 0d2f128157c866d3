import * as fs from "fs";
import * as http from "http";
import type { Client } from "ssh2";
import { renderCommand, shellQuote } from "../hosts/command";
import { hostPrivilege } from "../hosts/endpoints";
import type { Household, MetalLb } from "../household/model";
import { nettestManifest, nettestNamespace } from "../manifests/nettest";
import { exec } from "../ops/ssh";
import type { ClusterProof } from "./report";

// The cluster proof, run with kubectl on the laptop over the doctor's laptop connection: the nettest
// DaemonSet on every node, the pod-to-pod ping matrix, each pod's way out to the LAN gateway (through
// the phones' and the laptop's NAT), DNS from a pod, and the LoadBalancer VIP fetched from here (the
// operator's machine is on the LAN), whose ARP answer must come from the laptop's LAN MAC: a phone
// that wins MetalLB's L2 election has no LAN, and the VIP goes dead. Everything is deleted afterwards.

export interface ProofOptions {
    readonly image: string;
    /** Seconds to wait for the pods, and for the VIP. */
    readonly deadline: number;
    /** GETs / on port 80 of an address from this machine; the body, or a rejection. */
    readonly fetchPage?: (address: string, timeoutMs: number) => Promise<string>;
    /** The MAC this machine's neighbour table holds for an address, if it has a complete entry. */
    readonly arpLookup?: (address: string) => string | undefined;
}

/** Linux's neighbour table (/proc/net/arp of this network namespace); undefined where there is none. */
export function procNetArp(address: string): string | undefined {
    let text: string;
    try {
        text = fs.readFileSync("/proc/net/arp", "utf8");
    } catch {
        return undefined;
    }
    for (const line of text.split("\n").slice(1)) {
        const [ip, , flags, mac] = line.trim().split(/\s+/);
        // Flags 0x2 is a complete entry; an incomplete one (no answer) has the all-zero MAC.
        if (ip === address && flags !== undefined && (parseInt(flags, 16) & 0x2) !== 0) {
            return mac?.toLowerCase();
        }
    }
    return undefined;
}

async function onLaptop(client: Client, household: Household, script: string, stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return exec(client, renderCommand(hostPrivilege(household, household.laptop.name), "doctor", script, {}), stdin);
}

export function fetchFrom(address: string, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
        const req = http.get({ host: address, port: 80, path: "/", timeout: timeoutMs }, (res) => {
            let body = "";
            res.on("data", (d: Buffer) => (body += d.toString()));
            res.on("end", () => resolve(body));
        });
        req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
        req.on("error", reject);
    });
}

/** A few kubectl execs at a time: sshd allows 10 sessions per connection by default. */
async function limited<T, R>(items: readonly T[], n: number, f: (t: T) => Promise<R>): Promise<R[]> {
    const out: R[] = new Array<R>(items.length);
    let next = 0;
    await Promise.all(
        Array.from({ length: Math.min(n, items.length) }, async () => {
            while (next < items.length) {
                const i = next++;
                out[i] = await f(items[i]!);
            }
        }),
    );
    return out;
}

export async function proveCluster(client: Client, household: Household, o: ProofOptions): Promise<ClusterProof> {
    const version = await onLaptop(client, household, "/usr/local/bin/k3s --version 2>&1 | head -n 1");
    if (version.code !== 0 || version.stdout.trim() === "") {
        return { status: "fail", problems: [`k3s is not installed on ${household.laptop.name}`] };
    }
    const kubectl = "/usr/local/bin/k3s kubectl";
    const ns = nettestNamespace;
    const problems: string[] = [];
    const manifest = nettestManifest({ image: o.image, loadBalancer: household.metallb !== null });
    // A node whose kubelet stopped reporting (cable out, phone off, agent down) keeps its pod in the
    // DaemonSet's count forever, and a pod there never finishes terminating (no kubelet confirms it).
    // Such a node is named, its pods are deleted by force, and the cluster is proven on the others.
    // The nodes are read again at every poll of every wait: a phone unplugged just before or during
    // a run turns NotReady (the node controller's grace, 40 s) while the run waits on its pods.
    const notReady: string[] = [];
    let nodes: string[] = [];
    let namespaceLeft = false;
    let pods: Array<{ name: string; node: string; ip: string; ready: boolean }> = [];
    const forceOff = async (names: readonly string[]) => {
        for (const n of names) {
            await onLaptop(client, household, `${kubectl} -n ${ns} delete pods --field-selector spec.nodeName=${n} --grace-period=0 --force --ignore-not-found`);
        }
    };
    // One kubectl per poll (each costs the laptop a few tenths of a CPU-second): the nodes, the
    // namespaces and the nettest pods, a row each: kind, name, node, pod IP, Ready.
    const query = `${kubectl} get nodes,namespaces,pods -n ${ns} -o jsonpath='{range .items[*]}{.kind} {.metadata.name} {.spec.nodeName} {.status.podIP} {.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}'`;
    /** One look at the cluster; a node newly not Ready has its pods forced off. How many were. */
    const look = async (): Promise<number> => {
        const rows = (await onLaptop(client, household, query)).stdout
            .split("\n")
            .map((l) => l.split(" "))
            .filter((f) => f.length === 5);
        const nodeRows = rows.filter((f) => f[0] === "Node");
        nodes = nodeRows.map((f) => f[1]!);
        const fresh = nodeRows.filter((f) => f[4] !== "True" && !notReady.includes(f[1]!)).map((f) => f[1]!);
        notReady.push(...fresh);
        await forceOff(fresh);
        namespaceLeft = rows.some((f) => f[0] === "Namespace" && f[1] === ns);
        pods = rows
            .filter((f) => f[0] === "Pod" && !notReady.includes(f[2]!))
            .map(([, name, node, ip, up]) => ({ name: name!, node: node!, ip: ip!, ready: up === "True" }))
            .sort((a, b) => a.node.localeCompare(b.node));
        return fresh.length;
    };
    /**
     * Looks every 2 s until `done` holds or `o.deadline` seconds pass; a node lost on the way gives
     * the wait its whole deadline again once its pods are forced off.
     */
    const waitFor = async (done: () => boolean): Promise<boolean> => {
        let until = Date.now() + o.deadline * 1000;
        for (;;) {
            if ((await look()) > 0) {
                until = Date.now() + o.deadline * 1000;
            }
            if (done()) {
                return true;
            }
            if (Date.now() > until) {
                return false;
            }
            await new Promise((resolve) => setTimeout(resolve, 2000));
        }
    };
    const withNodes = (rest: string[]) => [
        ...notReady.map((n) => `node ${n} is not Ready: its kubelet has stopped reporting (cable out, powered off, or its k3s service down); the proof below covers the other nodes`),
        ...rest,
    ];
    try {
        // A namespace still terminating from an earlier run would take the new pods down with it.
        await onLaptop(client, household, `${kubectl} delete namespace ${ns} --ignore-not-found --wait=false`);
        await waitFor(() => !namespaceLeft);
        const applied = await onLaptop(client, household, `${kubectl} apply -f -`, manifest);
        if (applied.code !== 0) {
            return { status: "fail", problems: withNodes([`applying the nettest DaemonSet failed: ${applied.stderr.trim()}`]) };
        }
        // Ready once every node still reporting runs a ready pod (the DaemonSet's pods tolerate every taint).
        const ready = await waitFor(() => pods.length > 0 && pods.every((p) => p.ready) && nodes.every((n) => notReady.includes(n) || pods.some((p) => p.node === n)));
        if (!ready) {
            const table = await onLaptop(client, household, `${kubectl} -n ${ns} get pods -o wide`);
            return { status: "fail", problems: withNodes([`the nettest pods were not ready within ${o.deadline} s (image ${o.image}; set --image to one your nodes can pull):\n${table.stdout}`]) };
        }
        const gateway = household.laptop.lan.gateway;
        const ips = [...pods.map((p) => p.ip), gateway].join(" ");
        const probe = `for ip in ${ips}; do if ping -c 1 -W 2 "$ip" >/dev/null 2>&1; then echo ok; else echo FAIL; fi; done`;
        const execFailures: string[] = [];
        const rows = await limited(pods, 6, async (p) => {
            const r = await onLaptop(client, household, `${kubectl} -n ${ns} exec ${p.name} -- sh -c ${shellQuote(probe)}`);
            const row = r.stdout.trim().split("\n");
            if (row.length === pods.length + 1) {
                return row;
            }
            execFailures.push(`could not run the probe in the nettest pod on ${p.node}: ${(r.stderr.trim().split("\n")[0] ?? "") || `exit ${r.code}`}`);
            return [...pods.map(() => "FAIL"), "FAIL"];
        });
        problems.push(...execFailures);
        const matrix = rows.map((r) => r.slice(0, pods.length));
        const egress = { gateway, results: rows.map((r) => r[pods.length]!) };
        const bad = matrix.flat().filter((c) => c !== "ok").length;
        if (bad > 0) {
            // Name the nodes whose pods are cut off: every pair across nodes involving them fails.
            const cut = pods
                .map((p, i) => ({ node: p.node, all: pods.every((q, j) => q.node === p.node || (matrix[i]![j] !== "ok" && matrix[j]![i] !== "ok")) }))
                .filter((x) => x.all && pods.some((q) => q.node !== x.node))
                .map((x) => x.node);
            problems.push(
                `${bad} of ${pods.length * pods.length} pod pairs do not answer${cut.length > 0 ? `; cut off from the other nodes: ${cut.join(", ")}` : ""}: check flannel (VXLAN 8472/udp over each node's flannel-iface) and the phones' firewall (pmOS's forward chain must pass cni0 and flannel.1)`,
            );
        }
        const noWayOut = pods.filter((_, i) => egress.results[i] !== "ok").map((p) => p.node);
        if (noWayOut.length > 0) {
            problems.push(`pods on ${noWayOut.join(", ")} cannot reach the LAN gateway ${gateway}: check the laptop's NAT for their links (nat column) and the phones' forward chain`);
        }
        const dnsRun = pods.length > 0 ? await onLaptop(client, household, `${kubectl} -n ${ns} exec ${pods[0]!.name} -- nslookup kubernetes.default.svc.cluster.local`) : undefined;
        const dns = dnsRun?.code === 0 ? "ok" : "FAIL";
        if (dns === "FAIL") {
            problems.push("DNS from a pod does not resolve kubernetes.default: check CoreDNS (k3s kubectl -n kube-system get pods)");
        }
        const loadBalancer = household.metallb === null ? ({ status: "not-configured" } as const) : await proveVip(client, household, household.metallb, o, problems);
        const all = withNodes(problems);
        return { status: all.length === 0 ? "ok" : "fail", nodes: pods.map((p) => p.node), matrix, egress, dns, loadBalancer, problems: all };
    } finally {
        await forceOff(notReady).catch(() => undefined);
        await onLaptop(client, household, `${kubectl} delete namespace ${ns} --wait=false --ignore-not-found`).catch(() => undefined);
    }
}

/** The speaker's and controller's events on the nettest Service: who announces, and what failed. */
async function vipEvents(client: Client, household: Household): Promise<{ announcedFrom?: string; failures: string[] }> {
    const r = await onLaptop(
        client,
        household,
        `/usr/local/bin/k3s kubectl -n ${nettestNamespace} get events --field-selector involvedObject.kind=Service,involvedObject.name=nettest-lb --sort-by=.lastTimestamp -o jsonpath='{range .items[*]}{.type}|{.reason}|{.message}{"\\n"}{end}'`,
    );
    let announcedFrom: string | undefined;
    const failures: string[] = [];
    for (const line of r.stdout.trim().split("\n")) {
        const [type, reason, message] = line.split("|");
        const node = /announcing from node "([^"]+)"/.exec(message ?? "");
        if (reason === "nodeAssigned" && node) {
            announcedFrom = node[1];
        } else if (type === "Warning" && message !== undefined && !failures.includes(`${reason}: ${message}`)) {
            failures.push(`${reason}: ${message}`);
        }
    }
    return { announcedFrom, failures };
}

/**
 * The VIP of the nettest Service, fetched from here, and who answered ARP for it: the laptop's LAN
 * MAC, from the speaker on the laptop, or a named cause.
 */
async function proveVip(client: Client, household: Household, metallb: MetalLb, o: ProofOptions, problems: string[]): Promise<NonNullable<ClusterProof["loadBalancer"]>> {
    const fetchPage = o.fetchPage ?? fetchFrom;
    const arpLookup = o.arpLookup ?? procNetArp;
    const laptopMac = household.laptop.lan.mac.toLowerCase();
    const pin = `pin the L2Advertisement ${metallb.l2.name} to the laptop (nodeSelectors kubernetes.io/hostname: ${metallb.speakerNode}, interfaces: [${metallb.l2.interface}]); \`pulumi up --refresh\` restores it`;
    let address = "";
    const until = Date.now() + o.deadline * 1000;
    while (address === "" && Date.now() < until) {
        const r = await onLaptop(client, household, `/usr/local/bin/k3s kubectl -n ${nettestNamespace} get svc nettest-lb -o jsonpath='{.status.loadBalancer.ingress[0].ip}'`);
        address = r.stdout.trim();
        if (address === "") {
            await new Promise((resolve) => setTimeout(resolve, 1000));
        }
    }
    if (address === "") {
        const { failures } = await vipEvents(client, household);
        problems.push(
            `MetalLB assigned no address from ${metallb.pool.addresses} within ${o.deadline} s${failures.length > 0 ? ` (${failures.join("; ")})` : ""}: check k3s kubectl -n metallb-system get pods,ipaddresspools on the laptop`,
        );
        return { address: "(none assigned)", status: "FAIL" };
    }
    // The speaker needs a moment after the address is assigned: a few tries before calling it dead.
    let served = false;
    for (let i = 0; i < 5 && !served; i++) {
        served = await fetchPage(address, 3000).then(
            (body) => body.startsWith("nettest "),
            () => false,
        );
        if (!served) {
            await new Promise((resolve) => setTimeout(resolve, 1000));
        }
    }
    const answeredBy = arpLookup(address);
    const { announcedFrom, failures } = await vipEvents(client, household);
    const fromPhone = announcedFrom !== undefined && announcedFrom !== metallb.speakerNode ? announcedFrom : undefined;
    const byLaptop = answeredBy === undefined ? undefined : answeredBy === laptopMac;
    const ok = served && byLaptop !== false && fromPhone === undefined;
    if (!ok) {
        if (fromPhone !== undefined) {
            problems.push(
                `the VIP ${address} is announced from ${fromPhone}, not ${metallb.speakerNode}: a phone won MetalLB's L2 election and has no ${metallb.l2.interface} on the LAN${failures.length > 0 ? ` (${failures.join("; ")})` : ""}; fix: ${pin}`,
            );
        } else if (byLaptop === false) {
            problems.push(`the VIP ${address} is answered (ARP) by ${answeredBy}, not the laptop's LAN MAC ${laptopMac}: another host claims it; fix: ${pin}, and keep the pool's addresses free on the LAN`);
        } else {
            problems.push(
                `the VIP ${address} does not answer from here${failures.length > 0 ? ` (${failures.join("; ")})` : ""}: check that the speaker runs on ${metallb.speakerNode} (k3s kubectl -n metallb-system get pods -o wide) and announces on ${metallb.l2.interface}`,
            );
        }
    }
    return {
        address,
        status: ok ? "ok" : "FAIL",
        ...(announcedFrom !== undefined ? { announcedFrom } : {}),
        arp: answeredBy === undefined ? "not seen" : answeredBy === laptopMac ? `${answeredBy} (${household.laptop.name} ${household.laptop.lan.interface})` : answeredBy,
    };
}
