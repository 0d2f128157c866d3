import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { beforeAll, describe, expect, it } from "vitest";
import { labStatus } from "../../lab/household";
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
});
