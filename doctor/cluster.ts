import * as http from "http";
import type { Client } from "ssh2";
import { renderCommand, shellQuote } from "../hosts/command";
import type { Household } from "../household/model";
import { nettestManifest, nettestNamespace } from "../manifests/nettest";
import { exec } from "../ops/ssh";
import type { ClusterProof } from "./report";
import { hostAccess } from "./run";

// The cluster proof, run with kubectl on the laptop over the doctor's laptop connection: the nettest
// DaemonSet on every node, the pod-to-pod ping matrix, each pod's way out to the LAN gateway (through
// the phones' and the laptop's NAT), DNS from a pod, and the LoadBalancer VIP fetched from here (the
// operator's machine is on the LAN). Everything is deleted afterwards.

export interface ProofOptions {
    readonly image: string;
    /** Seconds to wait for the pods, and for the VIP. */
    readonly deadline: number;
}

async function onLaptop(client: Client, household: Household, script: string, stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return exec(client, renderCommand(hostAccess(household, household.laptop.name), "doctor", script, {}), stdin);
}

function fetchFrom(address: string, timeoutMs: number): Promise<string> {
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
    try {
        // A namespace still terminating from an earlier run would take the new pods down with it.
        await onLaptop(client, household, `${kubectl} delete namespace ${ns} --ignore-not-found --wait=true --timeout=${o.deadline}s`);
        const applied = await onLaptop(client, household, `${kubectl} apply -f -`, manifest);
        if (applied.code !== 0) {
            return { status: "fail", problems: [`applying the nettest DaemonSet failed: ${applied.stderr.trim()}`] };
        }
        const rolled = await onLaptop(client, household, `${kubectl} -n ${ns} rollout status ds/nettest --timeout=${o.deadline}s`);
        if (rolled.code !== 0) {
            const pods = await onLaptop(client, household, `${kubectl} -n ${ns} get pods -o wide`);
            return {
                status: "fail",
                problems: [`the nettest pods were not ready within ${o.deadline} s (image ${o.image}; set --image to one your nodes can pull):\n${pods.stdout}`],
            };
        }
        const listed = await onLaptop(client, household, `${kubectl} -n ${ns} get pods -o jsonpath='{range .items[*]}{.metadata.name} {.spec.nodeName} {.status.podIP}{"\\n"}{end}'`);
        const pods = listed.stdout
            .trim()
            .split("\n")
            .map((l) => l.split(" "))
            .filter((f) => f.length === 3)
            .map(([name, node, ip]) => ({ name: name!, node: node!, ip: ip! }))
            .sort((a, b) => a.node.localeCompare(b.node));
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
        let loadBalancer: ClusterProof["loadBalancer"] = { status: "not-configured" };
        if (household.metallb !== null) {
            let address = "";
            const until = Date.now() + o.deadline * 1000;
            while (address === "" && Date.now() < until) {
                const r = await onLaptop(client, household, `${kubectl} -n ${ns} get svc nettest-lb -o jsonpath='{.status.loadBalancer.ingress[0].ip}'`);
                address = r.stdout.trim();
                if (address === "") {
                    await new Promise((resolve) => setTimeout(resolve, 1000));
                }
            }
            let ok = false;
            if (address !== "") {
                ok = await fetchFrom(address, 5000).then(
                    (body) => body.startsWith("nettest "),
                    () => false,
                );
            }
            loadBalancer = { address: address || "(none assigned)", status: ok ? "ok" : "FAIL" };
            if (!ok) {
                problems.push(
                    address === ""
                        ? `MetalLB assigned no address from ${household.metallb.pool.addresses} within ${o.deadline} s`
                        : `the VIP ${address} does not answer from here: check that the speaker runs on ${household.metallb.speakerNode} and announces on ${household.metallb.l2.interface}`,
                );
            }
        }
        return { status: problems.length === 0 ? "ok" : "fail", nodes: pods.map((p) => p.node), matrix, egress, dns, loadBalancer, problems };
    } finally {
        await onLaptop(client, household, `${kubectl} delete namespace ${ns} --wait=false --ignore-not-found`).catch(() => undefined);
    }
}
