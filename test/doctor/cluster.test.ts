import { EventEmitter } from "events";
import type { Client } from "ssh2";
import { describe, expect, it } from "vitest";
import { proveCluster } from "../../doctor/cluster";
import { parseHousehold } from "../../household/model";
import { homelabHousehold } from "../fixtures";

// The cluster proof's own logic, with the laptop's shell answered by a script of kubectl outputs:
// what it asks for, in which order, how it reads the answers, and that it always cleans up. The
// lab's k3s runs no pods, so this is where the matrix and DNS paths are exercised; against a real
// cluster they have not run yet (see the closing note). The LoadBalancer fetch is not here.

type Answer = { code?: number; stdout?: string; stderr?: string };

function fakeLaptop(answer: (script: string, stdin: string) => Answer): { client: Client; seen: Array<{ script: string; stdin: string }> } {
    const seen: Array<{ script: string; stdin: string }> = [];
    const client = {
        exec(command: string, cb: (err: Error | undefined, stream: any) => void) {
            // The script is the single-quoted argument after "sh -c".
            const m = /sh -c '((?:[^']|'\\'')*)'/.exec(command);
            const script = (m?.[1] ?? "").replace(/'\\''/g, "'");
            const stream = new EventEmitter() as EventEmitter & { stderr: EventEmitter; end: (input?: string) => void };
            stream.stderr = new EventEmitter();
            stream.end = (input?: string) => {
                seen.push({ script, stdin: input ?? "" });
                const a = answer(script, input ?? "");
                setImmediate(() => {
                    if (a.stdout) {
                        stream.emit("data", Buffer.from(a.stdout));
                    }
                    if (a.stderr) {
                        stream.stderr.emit("data", Buffer.from(a.stderr));
                    }
                    stream.emit("close", a.code ?? 0);
                });
            };
            cb(undefined, stream);
        },
    } as unknown as Client;
    return { client, seen };
}

const household = (() => {
    const raw = homelabHousehold();
    raw["metallb"] = null;
    return parseHousehold(raw, "test");
})();

const pods = "nettest-a k3master 10.42.0.5\nnettest-b one6t 10.42.1.7\nnettest-c one62 10.42.2.3\n";

function realCluster(overrides: (script: string) => Answer | undefined = () => undefined) {
    return fakeLaptop((script) => {
        const o = overrides(script);
        if (o) {
            return o;
        }
        if (script.includes("--version")) {
            return { stdout: "k3s version v1.35.5+k3s1 (0123abcd)\n" };
        }
        if (script.includes("get pods -o jsonpath")) {
            return { stdout: pods };
        }
        if (script.includes("exec nettest-")) {
            return script.includes("nslookup") ? { stdout: "Name: kubernetes.default.svc.cluster.local\n" } : { stdout: "ok\nok\nok\nok\n" };
        }
        return {};
    });
}

describe("the cluster proof", () => {
    it("without k3s on the laptop fails naming the laptop, and touches nothing else", async () => {
        const { client, seen } = fakeLaptop(() => ({ code: 127, stderr: "sh: /usr/local/bin/k3s: not found\n" }));
        const proof = await proveCluster(client, household, { image: "busybox:1.37", deadline: 5 });
        expect(proof).toEqual({ status: "fail", problems: ["k3s is not installed on k3master"] });
        expect(seen).toHaveLength(1);
    });

    it("applies the nettest manifest, waits for the rollout, pings every pod from every pod, asks DNS, and deletes it all", async () => {
        const { client, seen } = realCluster();
        const proof = await proveCluster(client, household, { image: "registry.lan/busybox:1.37", deadline: 42 });
        expect(proof).toMatchObject({ status: "ok", nodes: ["k3master", "one62", "one6t"], dns: "ok", loadBalancer: { status: "not-configured" }, problems: [] });
        expect(proof.egress).toEqual({ gateway: "192.168.100.1", results: ["ok", "ok", "ok"] });
        expect(proof.matrix).toEqual([
            ["ok", "ok", "ok"],
            ["ok", "ok", "ok"],
            ["ok", "ok", "ok"],
        ]);
        const scripts = seen.map((s) => s.script);
        expect(scripts[1]).toBe("/usr/local/bin/k3s kubectl delete namespace k3s-over-usb-doctor --ignore-not-found --wait=true --timeout=42s");
        expect(seen[2]!.script).toBe("/usr/local/bin/k3s kubectl apply -f -");
        expect(seen[2]!.stdin).toContain("image: registry.lan/busybox:1.37");
        expect(scripts[3]).toBe("/usr/local/bin/k3s kubectl -n k3s-over-usb-doctor rollout status ds/nettest --timeout=42s");
        // Pods in node order; each pings all three addresses, then the LAN gateway.
        const pings = scripts.filter((s) => s.includes("ping"));
        expect(pings).toHaveLength(3);
        expect(pings[0]).toContain("exec nettest-a -- sh -c");
        expect(pings[0]).toContain("for ip in 10.42.0.5 10.42.2.3 10.42.1.7 192.168.100.1;");
        expect(scripts.at(-1)).toBe("/usr/local/bin/k3s kubectl delete namespace k3s-over-usb-doctor --wait=false --ignore-not-found");
    });

    it("reports pairs that do not answer and DNS that fails, as problems with where to look", async () => {
        const { client } = realCluster((script) => {
            if (script.includes("exec nettest-b") && script.includes("ping")) {
                return { stdout: "FAIL\nok\nFAIL\nok\n" };
            }
            if (script.includes("nslookup")) {
                return { code: 1, stdout: "** server can't find kubernetes.default" };
            }
            return undefined;
        });
        const proof = await proveCluster(client, household, { image: "busybox:1.37", deadline: 5 });
        expect(proof.status).toBe("fail");
        expect(proof.dns).toBe("FAIL");
        expect(proof.problems).toEqual([
            "2 of 9 pod pairs do not answer: check flannel (VXLAN 8472/udp over each node's flannel-iface) and the phones' firewall (pmOS's forward chain must pass cni0 and flannel.1)",
            "DNS from a pod does not resolve kubernetes.default: check CoreDNS (k3s kubectl -n kube-system get pods)",
        ]);
    });

    it("names the node whose pods are cut off, and the pods that cannot get out through NAT", async () => {
        // one6t (nettest-b) neither reaches nor is reached across nodes, and cannot reach the gateway.
        const { client } = realCluster((script) => {
            if (script.includes("exec nettest-b") && script.includes("ping")) {
                return { stdout: "FAIL\nFAIL\nok\nFAIL\n" };
            }
            if (script.includes("exec nettest-") && script.includes("ping")) {
                return { stdout: script.includes("exec nettest-a") ? "ok\nok\nFAIL\nok\n" : "ok\nok\nFAIL\nok\n" };
            }
            return undefined;
        });
        const proof = await proveCluster(client, household, { image: "busybox:1.37", deadline: 5 });
        expect(proof.matrix).toEqual([
            ["ok", "ok", "FAIL"],
            ["ok", "ok", "FAIL"],
            ["FAIL", "FAIL", "ok"],
        ]);
        expect(proof.egress).toEqual({ gateway: "192.168.100.1", results: ["ok", "ok", "FAIL"] });
        expect(proof.problems).toEqual([
            "4 of 9 pod pairs do not answer; cut off from the other nodes: one6t: check flannel (VXLAN 8472/udp over each node's flannel-iface) and the phones' firewall (pmOS's forward chain must pass cni0 and flannel.1)",
            "pods on one6t cannot reach the LAN gateway 192.168.100.1: check the laptop's NAT for their links (nat column) and the phones' forward chain",
        ]);
    });

    it("a pod the probe cannot run in is named, with kubectl's answer", async () => {
        const { client } = realCluster((script) => {
            if (script.includes("exec nettest-c") && script.includes("ping")) {
                return { code: 1, stderr: 'error: unable to upgrade connection: container not found ("nettest")\n' };
            }
            return undefined;
        });
        const proof = await proveCluster(client, household, { image: "busybox:1.37", deadline: 5 });
        expect(proof.problems![0]).toBe('could not run the probe in the nettest pod on one62: error: unable to upgrade connection: container not found ("nettest")');
    });

    it("pods not ready by the deadline: says so with the pods' state, and still deletes everything", async () => {
        const { client, seen } = realCluster((script) => {
            if (script.includes("rollout status")) {
                return { code: 1, stderr: "error: timed out waiting for the condition" };
            }
            if (script.includes("get pods -o wide")) {
                return { stdout: "nettest-b 0/1 ErrImagePull one6t\n" };
            }
            return undefined;
        });
        const proof = await proveCluster(client, household, { image: "busybox:1.37", deadline: 7 });
        expect(proof.status).toBe("fail");
        expect(proof.problems![0]).toContain("the nettest pods were not ready within 7 s (image busybox:1.37; set --image to one your nodes can pull)");
        expect(proof.problems![0]).toContain("ErrImagePull");
        expect(seen.at(-1)!.script).toContain("delete namespace k3s-over-usb-doctor");
    });
});
