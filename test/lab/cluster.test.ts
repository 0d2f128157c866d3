import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shellQuote } from "../../hosts/command";
import { labK3sSource, labStatus } from "../../lab/household";
import { doctorJson, failingChecks, failingPairs, forgetNeighbour, poolStart, untilHealthy } from "./proof";
import { LabStack, labK3sDir, onHost, repo } from "./stack";

// The real cluster on the lab, converged by the real engine: every node Ready with a real kubelet,
// the doctor's pod ping matrix green, pods reaching the LAN gateway through NAT, DNS from a pod, and
// MetalLB's VIP serving the operator, answered on the LAN by the laptop's MAC. Then the seed's
// lessons as negative controls: each one breaks exactly what it should, the doctor names the cause,
// and `pulumi up` repairs it.

const stack = new LabStack("cluster");
const doctor = (args: string[] = []) => doctorJson(stack, args);
const failing = failingChecks;

let laptop = "";
let laptopMac = "";
/** The first address of the lab's pool: the doctor's LoadBalancer Service gets it. */
let vip = "";
let phones: string[] = [];
let nodes: string[] = [];

const sha = (s: string) => crypto.createHash("sha256").update(s).digest();

/** Every pair of different nodes where at least one side is in `cut`. */
function pairsTouching(cut: string[]): string[] {
    const out: string[] = [];
    for (const a of nodes) {
        for (const b of nodes) {
            if (a !== b && (cut.includes(a) || cut.includes(b))) {
                out.push(`${a}->${b}`);
            }
        }
    }
    return out.sort();
}

/**
 * Breaks the household, waits (up to 90 s) until the doctor sees a failure in the cluster proof,
 * checks what it reports, and repairs with `pulumi up` whatever the check found, so that the next
 * control starts from a healthy cluster.
 */
async function breakThenRepair(inject: () => void, check: (r: ReturnType<typeof doctor>) => void, cleanup?: () => void, refresh = false): Promise<void> {
    inject();
    try {
        const until = Date.now() + 90_000;
        forgetVip();
        let r = doctor(["--deadline", "60"]);
        while (r.report.cluster?.status === "ok" && Date.now() < until) {
            await new Promise((resolve) => setTimeout(resolve, 3000));
            forgetVip();
            r = doctor(["--deadline", "60"]);
        }
        expect(r.code, r.text).toBe(1);
        check(r);
    } finally {
        cleanup?.();
        await repairAndProve(refresh);
    }
}

const forgetVip = () => forgetNeighbour(vip);

async function repairAndProve(refresh = false): Promise<void> {
    // A host step's drift is found by the program's own checks; a Kubernetes object changed behind
    // Pulumi's back is found by a refresh, as with any Pulumi stack.
    const up = stack.pulumi(refresh ? ["up", "--yes", "--refresh"] : ["up", "--yes"]);
    expect(up.out).toMatch(refresh ? /metallb-l2 .*updated/ : /drifted/);
    await untilHealthy(stack, 240_000);
}

beforeAll(() => {
    stack.init();
    stack.pulumi(["up", "--yes"]);
    laptop = labStatus().laptop.name;
    laptopMac = labStatus().laptop.lanMac.toLowerCase();
    vip = poolStart(stack);
    phones = labStatus().phones.map((p) => p.name);
    nodes = [laptop, ...phones].sort();
}, 1_200_000);

afterAll(() => stack.dispose());

describe("the real cluster on the lab", () => {
    it("every node is Ready with a real kubelet of the Kubernetes the lab's k3s says it runs", () => {
        const version = onHost("laptop", "k3s --version | head -n 1");
        const kube = /Kubernetes (v\d+\.\d+\.\d+)/.exec(version)?.[1];
        expect(kube, version).toBeDefined();
        const table = onHost("laptop", "k3s kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.status.nodeInfo.kubeletVersion} {.status.conditions[?(@.type==\"Ready\")].status} {.spec.podCIDR}{\"\\n\"}{end}'");
        const rows = table.trim().split("\n").sort();
        expect(rows.map((r) => r.split(" ").slice(0, 3).join(" "))).toEqual(nodes.map((n) => `${n} ${kube} True`));
        // Each node got its own /24 of cluster-cidr, which flannel routes.
        const cidrs = rows.map((r) => r.split(" ")[3]);
        expect(new Set(cidrs).size).toBe(nodes.length);
        for (const c of cidrs) {
            expect(c).toMatch(/^10\.42\.\d+\.0\/24$/);
        }
    });

    it("flannel's VXLAN rides each phone's own /30: flannel-iface and node-ip decide it", () => {
        for (const p of phones) {
            const link = onHost(p, "ip -d link show flannel.1");
            expect(link, p).toMatch(/vxlan id 1 local 10\.0\.\d+\.2 dev usb0 .*dstport 8472/);
        }
        const annotations = onHost("laptop", "k3s kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.annotations.flannel\\.alpha\\.coreos\\.com/public-ip}{\"\\n\"}{end}'");
        for (const p of phones) {
            expect(annotations).toMatch(new RegExp(`^${p} 10\\.0\\.\\d+\\.2$`, "m"));
        }
    });

    it("the doctor proves the cluster: the pod ping matrix is all green, every pod reaches the LAN gateway, DNS answers, the VIP serves the operator from the laptop's MAC", () => {
        forgetVip();
        const r = doctor();
        expect(r.code, r.text).toBe(0);
        const c = r.report.cluster!;
        expect(c.status).toBe("ok");
        expect(c.nodes).toEqual(nodes);
        expect(failingPairs(r.report)).toEqual([]);
        expect(c.egress?.results).toEqual(nodes.map(() => "ok"));
        expect(c.dns).toBe("ok");
        // Fetched from the operator's namespace, which has only its LAN route; the neighbour entry
        // was flushed before, so the MAC is the one that answered ARP for the VIP just now.
        expect(c.loadBalancer).toEqual({ address: vip, status: "ok", announcedFrom: laptop, arp: `${laptopMac} (${laptop} wan0)` });
        const text = stack.doctor().stdout;
        expect(text).toContain(`pod ping matrix (${nodes.length}x${nodes.length})`);
        expect(text).toContain("DNS from a pod (kubernetes.default): ok");
        expect(text).toContain(`LoadBalancer VIP ${vip} from here: ok, announced from ${laptop}, ARP answered by ${laptopMac} (${laptop} wan0)`);
    });

    it("npm run kubeconfig merges the stack into the operator's kubeconfig, and kubectl there reaches the cluster over the LAN", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k3ou-operator-kube-"));
        // It holds the cluster's admin key: removed whatever the outcome.
        try {
            const file = path.join(dir, "config");
            fs.writeFileSync(file, "apiVersion: v1\nclusters:\n- cluster:\n    server: https://10.1.2.3:6443\n  name: work\ncontexts:\n- context:\n    cluster: work\n    user: work\n  name: work\ncurrent-context: work\nkind: Config\npreferences: {}\nusers:\n- name: work\n  user:\n    token: abc\n", { mode: 0o600 });
            const r = spawnSync("npm", ["run", "-s", "kubeconfig", "--", "--stack", stack.name, "--use"], { cwd: repo, env: { ...stack.env, KUBECONFIG: file }, encoding: "utf8" });
            expect(r.status, r.stderr).toBe(0);
            expect(r.stdout).toContain(`has the context k3s-over-usb-${stack.name} (now current)`);
            expect(r.stdout + r.stderr).not.toMatch(/BEGIN|client-key-data|token/);
            expect(fs.statSync(file).mode & 0o777).toBe(0o600);
            // The lab's k3s binary is a kubectl too; this namespace is the operator's, with only its LAN route.
            const kubectl = spawnSync(path.join(labK3sDir(), "k3s"), ["kubectl", "--kubeconfig", file, "get", "nodes", "-o", "name"], { encoding: "utf8" });
            expect(kubectl.status, kubectl.stderr).toBe(0);
            expect(kubectl.stdout.trim().split("\n").sort()).toEqual(nodes.map((n) => `node/${n}`));
            expect(fs.readFileSync(file, "utf8")).toContain("current-context: k3s-over-usb-cluster\n");
            expect(fs.readFileSync(file, "utf8")).toContain("  name: work\n");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("MetalLB's controller and speaker are the ones the pinned manifest names, and the speaker runs on the laptop only", () => {
        const pods = onHost("laptop", "k3s kubectl -n metallb-system get pods -o jsonpath='{range .items[*]}{.spec.containers[0].image} {.spec.nodeName} {.status.phase}{\"\\n\"}{end}'");
        const version = stack.household().metallb.version as string;
        expect(pods.trim().split("\n").sort()).toEqual([`quay.io/metallb/controller:${version} ${laptop} Running`, `quay.io/metallb/speaker:${version} ${laptop} Running`]);
    });

    it("an L2Advertisement without the laptop pin, speakers allowed on the phones: a phone wins the VIP's election and it goes dead; the doctor names the phone and the pin", async () => {
        // MetalLB's L2 election: the node with the lowest sha256("<node>#<ip>") among those with a
        // speaker announces. The phones' taint keeps the stock speaker off them, so a household
        // without that taint is made here by a toleration on the speaker.
        const winner = [...nodes].sort((a, b) => Buffer.compare(sha(`${a}#${vip}`), sha(`${b}#${vip}`)))[0]!;
        expect(winner, `with these node names a phone must win ${vip} for this control to mean anything`).not.toBe(laptop);
        const l2 = stack.household().metallb.l2.name as string;
        await breakThenRepair(
            () => {
                onHost("laptop", `k3s kubectl -n metallb-system patch ds speaker --type json -p '[{"op":"add","path":"/spec/template/spec/tolerations/-","value":{"operator":"Exists"}}]'`);
                onHost("laptop", `k3s kubectl -n metallb-system patch l2advertisement ${l2} --type json -p '[{"op":"remove","path":"/spec/nodeSelectors"}]'`);
                onHost("laptop", "k3s kubectl -n metallb-system rollout status ds/speaker --timeout=120s");
            },
            (r) => {
                const lb = r.report.cluster!.loadBalancer as { status: string; announcedFrom?: string; arp?: string };
                expect(lb).toMatchObject({ status: "FAIL", announcedFrom: winner, arp: "not seen" });
                expect(r.report.cluster!.problems).toEqual([expect.stringMatching(new RegExp(`^the VIP ${vip.replace(/\./g, "\\.")} is announced from ${winner}, not ${laptop}: a phone won MetalLB's L2 election and has no wan0 on the LAN \\(announceFailed: .*; fix: pin the L2Advertisement ${l2} to the laptop`))]);
                // Only the VIP: the pods and their network are fine.
                expect(failingPairs(r.report)).toEqual([]);
                expect(failing(r.report)).toEqual([]);
            },
            () => {
                // The toleration belongs to kubectl's field manager; Pulumi restores only its own fields.
                onHost("laptop", `k3s kubectl -n metallb-system patch ds speaker --type json -p '[{"op":"remove","path":"/spec/template/spec/tolerations/2"}]'`);
            },
            true,
        );
    }, 900_000);

    it("without the PmosNode drop-in, pmOS's forward chain drops pod traffic: cross-node pairs with a phone fail, the doctor names the firewall", async () => {
        await breakThenRepair(
            () => {
                for (const p of phones) {
                    onHost(p, `{ sed '/^include/d' /etc/nftables.nft; for f in /etc/nftables.d/*.nft; do case $f in *k3s-over-usb*) ;; *) cat "$f" ;; esac; done; } | nft -f -`);
                }
            },
            (r) => {
                expect(failing(r.report)).toEqual(phones.map((p) => `${p} firewall`).sort());
                expect(r.report.cluster?.status).toBe("fail");
                // Every pair across nodes has a phone on one side, and only those fail.
                expect(failingPairs(r.report)).toEqual(pairsTouching(phones));
                expect(r.report.cluster?.problems?.[0]).toContain(`cut off from the other nodes: ${nodes.join(", ")}`);
            },
        );
    }, 900_000);

    it("one phone's agent on its Wi-Fi instead of its cable (another flannel-iface): its pods are cut off, the doctor names its k3s config", async () => {
        const p = phones[1]!;
        await breakThenRepair(
            () => {
                // The seed's trap: flannel on the phone's Wi-Fi, which the other nodes cannot reach.
                // The lab's phones have no radio: a veth wlan0 with a home-Wi-Fi address stands in, made
                // inside the phone's namespace (its peer too), so no name of the machine's is touched.
                onHost(p, "ip link add wlan0 type veth peer name wlan0-peer && ip addr add 192.168.1.50/24 dev wlan0 && ip link set wlan0-peer up && ip link set wlan0 up");
                onHost(p, "sed -i 's/^flannel-iface: .*/flannel-iface: wlan0/' /etc/rancher/k3s/config.yaml && rc-service k3s-agent restart >/dev/null");
            },
            (r) => {
                expect(onHost(p, "ip -d link show flannel.1; tail -n 3 /var/log/k3s-agent.log")).toMatch(/local 192\.168\.1\.50 dev wlan0/);
                expect(failing(r.report)).toEqual([`${p} k3s`]);
                expect(r.report.results.find((x) => x.subject === p && x.column === "k3s")!.detail).toContain("/etc/rancher/k3s/config.yaml");
                expect(failingPairs(r.report)).toEqual(pairsTouching([p]));
            },
            () => onHost(p, "ip link del wlan0"),
        );
    }, 900_000);

    it("without the laptop's NAT for one cable, that phone's pods cannot reach the LAN gateway, and only they", async () => {
        const p = phones[2]!;
        await breakThenRepair(
            () => onHost("laptop", `nft delete rule ip k3ou_nat_${p} postrouting handle $(nft -a list table ip k3ou_nat_${p} | sed -n 's/.*masquerade # handle //p')`),
            (r) => {
                expect(failing(r.report)).toEqual([`${laptop} nat`]);
                const c = r.report.cluster!;
                expect(failingPairs(r.report)).toEqual([]);
                expect(c.egress?.results).toEqual(nodes.map((n) => (n === p ? "FAIL" : "ok")));
                expect(c.problems).toEqual([`pods on ${p} cannot reach the LAN gateway ${c.egress!.gateway}: check the laptop's NAT for their links (nat column) and the phones' forward chain`]);
            },
        );
    }, 900_000);

    // Last: it leaves the cluster on the next version.
    it("a new k3s rolls: the server first, then one phone at a time cordoned, drained, upgraded, Ready and uncordoned; a pod that blocks a drain stops the roll with the phones after it untouched, and the next up resumes", () => {
        // The lab can build one Kubernetes in CI's time, so the two builds differ in the launcher
        // alone (lab/k3s/env.sh): what rolls is the binary, its version and every agent's restart.
        const from = stack.household().k3s.version as string;
        const to = process.env["K3OU_LAB_K3S_NEXT_VERSION"] ?? "";
        const toDir = process.env["K3OU_LAB_K3S_NEXT_DIR"] ?? "";
        expect(to, "tools/test.sh builds the next version (lab/k3s/env.sh)").not.toBe("");
        const k3sOn = (host: string) => onHost(host, "/usr/local/bin/k3s --version | head -n 1").split(" ")[2];
        const kubectl = (args: string) => onHost("laptop", `/usr/local/bin/k3s kubectl ${args}`);
        const cordoned = () => kubectl("get nodes -o jsonpath='{range .items[?(@.spec.unschedulable==true)]}{.metadata.name} {end}'").trim();
        const probePods = () =>
            kubectl(`-n k3ou-roll get pods -l app=roll-probe -o jsonpath='{range .items[*]}{.metadata.name} {.spec.nodeName} {.status.phase}{"\\n"}{end}'`)
                .trim()
                .split("\n")
                .filter((l) => l !== "")
                .map((l) => l.split(" ") as [string, string, string]);

        // Pods on the phones that a drain must move (the doctor's nettest pods are a DaemonSet, which a
        // drain leaves in place), and a pod no controller owns on the second phone, which it cannot.
        // Their toleration is the phones' taint only, not a cordon's.
        const toleratePhones = "tolerations: [{key: node-role/phone, operator: Exists, effect: NoSchedule}]";
        const manifest = [
            "apiVersion: v1",
            "kind: Namespace",
            "metadata: {name: k3ou-roll}",
            "---",
            "apiVersion: apps/v1",
            "kind: Deployment",
            "metadata: {name: roll-probe, namespace: k3ou-roll}",
            "spec:",
            "  replicas: 3",
            "  selector: {matchLabels: {app: roll-probe}}",
            "  template:",
            "    metadata: {labels: {app: roll-probe}}",
            "    spec:",
            `      ${toleratePhones}`,
            `      affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [${phones.join(", ")}]}]}]}}}`,
            "      topologySpreadConstraints: [{maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {app: roll-probe}}}]",
            "      terminationGracePeriodSeconds: 1",
            '      containers: [{name: sleep, image: "docker.io/library/busybox:1.37", command: [sleep, "100000"]}]',
            "---",
            "apiVersion: v1",
            "kind: Pod",
            "metadata: {name: blocker, namespace: k3ou-roll}",
            "spec:",
            `  nodeName: ${phones[1]}`,
            `  ${toleratePhones}`,
            "  terminationGracePeriodSeconds: 1",
            '  containers: [{name: sleep, image: "docker.io/library/busybox:1.37", command: [sleep, "100000"]}]',
            "",
        ].join("\n");
        onHost(
            "laptop",
            [
                `printf '%s' ${shellQuote(manifest)} | /usr/local/bin/k3s kubectl apply -f - >/dev/null`,
                "/usr/local/bin/k3s kubectl -n k3ou-roll rollout status deploy/roll-probe --timeout=120s >/dev/null",
                "/usr/local/bin/k3s kubectl -n k3ou-roll wait --for=condition=Ready pod/blocker --timeout=120s >/dev/null",
            ].join(" && "),
        );
        const before = probePods();
        expect(before.map(([, node, phase]) => [phones.includes(node), phase])).toEqual(before.map(() => [true, "Running"]));

        // Every half second, which nodes are cordoned, for as long as the roll runs.
        onHost(
            "laptop",
            "(while :; do /usr/local/bin/k3s kubectl get nodes -o jsonpath='{range .items[?(@.spec.unschedulable==true)]}{.metadata.name} {end}' 2>/dev/null; echo; sleep 0.5; done) </dev/null >/tmp/k3ou-roll-cordoned 2>&1 8>&- 9>&- & echo $! >/tmp/k3ou-roll-sampler",
        );
        try {
            stack.editHousehold((h) => {
                h.k3s.version = to;
                h.k3s.source = labK3sSource(toDir, path.join(repo, "lab/k3s/install.sh"));
            });
            const order = `k3s ${from} -> ${to}: the server ${laptop} first, then the phones in this order, 1 at a time (cordon, drain, upgrade, Ready, uncordon): ${phones.join(", ")}`;
            expect(stack.pulumi(["preview"]).out).toContain(order);

            // The first phone rolls; the second's drain is refused by the pod no controller owns.
            const first = stack.pulumi(["up", "--yes"], { ok: false });
            expect(first.code, first.out.slice(-4000)).not.toBe(0);
            expect(first.out).toContain(order);
            expect(first.out).toContain(`k3s-over-usb: ${laptop}: drain ${phones[1]}: FAILED: the drain of ${phones[1]} did not finish`);
            expect(first.out).toMatch(/the roll stops before its upgrade \(the phones after it are untouched\); pods still on it: [^\n]*k3ou-roll\/blocker/);
            expect(first.out).toContain("fix: free or move those pods");
            expect(k3sOn("laptop")).toBe(to);
            expect(k3sOn(phones[0]!)).toBe(to);
            expect(k3sOn(phones[1]!)).toBe(from);
            expect(k3sOn(phones[2]!)).toBe(from);
            expect(cordoned()).toBe(phones[1]);
            // The probe pods left the first phone when it was drained.
            expect(probePods().filter(([name]) => before.some(([b, node]) => b === name && node === phones[0]))).toEqual([]);

            // The pod is freed; the next up resumes the roll where it stopped (the stack's outputs still
            // say the old version: an up that fails does not move them).
            kubectl("-n k3ou-roll delete pod blocker --wait=true >/dev/null");
            const second = stack.pulumi(["up", "--yes"]);
            expect(second.out).toContain(order);
            for (const host of ["laptop", ...phones]) {
                expect(k3sOn(host), host).toBe(to);
            }
            expect(cordoned()).toBe("");
            const annotated = kubectl("get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.annotations.k3s-over-usb/version} {end}'").trim().split(" ");
            expect(annotated.filter((a) => !a.startsWith(`${laptop}=`)).sort()).toEqual(phones.map((p) => `${p}=${to}`).sort());
            // The next up has nothing to roll, and nothing to do.
            const third = stack.pulumi(["up", "--yes"]);
            expect(third.out).not.toContain(" -> ");
            expect(third.out).not.toMatch(/\b(updated|created|replaced) \(/);
        } finally {
            onHost("laptop", "kill $(cat /tmp/k3ou-roll-sampler) 2>/dev/null; true");
        }
        // Never more than maxUnavailable (1) phones cordoned at once, and the roll cordoned each of them.
        const samples = onHost("laptop", "cat /tmp/k3ou-roll-cordoned")
            .split("\n")
            .map((l) => l.trim().split(" ").filter((n) => n !== ""));
        expect(Math.max(...samples.map((s) => s.length))).toBe(1);
        expect(new Set(samples.flat())).toEqual(new Set(phones));
        // Every probe pod that ran on a phone before the roll was moved, and all of them run again.
        onHost("laptop", "/usr/local/bin/k3s kubectl -n k3ou-roll rollout status deploy/roll-probe --timeout=120s >/dev/null");
        const after = probePods();
        expect(after.filter(([name]) => before.some(([b]) => b === name))).toEqual([]);
        expect(after.map(([, , phase]) => phase)).toEqual(["Running", "Running", "Running"]);
        kubectl("delete namespace k3ou-roll --wait=false >/dev/null");
    }, 1_200_000);

    it("after the roll, the doctor's pod ping matrix is green on the new version", async () => {
        const r = await untilHealthy(stack, 240_000);
        expect(r.code, r.text).toBe(0);
        expect(failingPairs(r.report)).toEqual([]);
        expect(r.report.cluster?.status).toBe("ok");
    }, 300_000);
});
