import { EventEmitter } from "events";
import type { Client } from "ssh2";
import { describe, expect, it } from "vitest";
import { proveCluster } from "../../doctor/cluster";
import { parseHousehold } from "../../household/model";
import { homelabHousehold } from "../fixtures";

// The cluster proof's own logic, with the laptop's shell answered by a script of kubectl outputs:
// what it asks for, in which order, how it reads the answers, and that it always cleans up. The
// real cluster runs them in test/lab/cluster.test.ts; here every branch of the reading is pinned,
// the VIP's fetch and this machine's neighbour table given by the test.

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

const nodes = "k3master True\none6t True\none62 True\n";
const poll = "get nodes,namespaces,pods -n k3s-over-usb-doctor -o jsonpath=";

/** The answer to a poll: nodes as "name Ready" lines, pods as "name node ip Ready" lines, and the nettest namespace while it is left. */
function look(nodeLines: string, podLines: string, namespaceLeft = false): Answer {
    const rows = [
        ...nodeLines.trim().split("\n").map((l) => `Node ${l.split(" ")[0]}   ${l.split(" ")[1]}`),
        ...(namespaceLeft ? ["Namespace k3s-over-usb-doctor   "] : []),
        ...podLines.trim().split("\n").map((l) => `Pod ${l}`),
    ];
    return { stdout: `${rows.join("\n")}\n` };
}
const pods = "nettest-a k3master 10.42.0.5 True\nnettest-b one6t 10.42.1.7 True\nnettest-c one62 10.42.2.3 True\n";

function realCluster(overrides: (script: string) => Answer | undefined = () => undefined) {
    return fakeLaptop((script) => {
        const o = overrides(script);
        if (o) {
            return o;
        }
        if (script.includes("--version")) {
            return { stdout: "k3s version v1.35.5+k3s1 (0123abcd)\n" };
        }
        if (script.includes(poll)) {
            return look(nodes, pods);
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

    it("applies the nettest manifest, waits for a ready pod on every node, pings every pod from every pod, asks DNS, and deletes it all", async () => {
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
        expect(scripts[1]).toBe("/usr/local/bin/k3s kubectl delete namespace k3s-over-usb-doctor --ignore-not-found --wait=false");
        // Each poll of a wait is one kubectl: the nodes, the namespaces and the nettest pods.
        expect(scripts[2]).toContain(`/usr/local/bin/k3s kubectl ${poll}`);
        expect(seen[3]!.script).toBe("/usr/local/bin/k3s kubectl apply -f -");
        expect(seen[3]!.stdin).toContain("image: registry.lan/busybox:1.37");
        expect(scripts[4]).toContain(`/usr/local/bin/k3s kubectl ${poll}`);
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
            if (script.includes(poll)) {
                return look(nodes, "nettest-a k3master 10.42.0.5 True\nnettest-b one6t  False\nnettest-c one62 10.42.2.3 True\n");
            }
            if (script.includes("get pods -o wide")) {
                return { stdout: "nettest-b 0/1 ErrImagePull one6t\n" };
            }
            return undefined;
        });
        const proof = await proveCluster(client, household, { image: "busybox:1.37", deadline: 1 });
        expect(proof.status).toBe("fail");
        expect(proof.problems![0]).toContain("the nettest pods were not ready within 1 s (image busybox:1.37; set --image to one your nodes can pull)");
        expect(proof.problems![0]).toContain("ErrImagePull");
        expect(seen.at(-1)!.script).toContain("delete namespace k3s-over-usb-doctor");
    });

    it("a node that is not Ready is named, and the proof runs on the pods of the others", async () => {
        const { client, seen } = realCluster((script) => {
            if (script.includes(poll)) {
                return look("k3master True\none62 Unknown\none6t True\n", "nettest-a k3master 10.42.0.5 True\nnettest-b one6t 10.42.1.7 True\nnettest-c one62 10.42.2.3 True\n");
            }
            if (script.includes("exec nettest-") && script.includes("ping")) {
                return { stdout: "ok\nok\nok\n" };
            }
            return undefined;
        });
        const proof = await proveCluster(client, household, { image: "busybox:1.37", deadline: 5 });
        expect(proof.status).toBe("fail");
        expect(proof.nodes).toEqual(["k3master", "one6t"]);
        expect(proof.matrix).toEqual([
            ["ok", "ok"],
            ["ok", "ok"],
        ]);
        expect(proof.problems).toEqual([
            "node one62 is not Ready: its kubelet has stopped reporting (cable out, powered off, or its k3s service down); the proof below covers the other nodes",
        ]);
        // Its pods (of this run and any earlier one) are deleted by force, before and after: no
        // kubelet confirms it.
        const force = "/usr/local/bin/k3s kubectl -n k3s-over-usb-doctor delete pods --field-selector spec.nodeName=one62 --grace-period=0 --force --ignore-not-found";
        const scripts = seen.map((x) => x.script);
        expect(scripts.indexOf(force)).toBeLessThan(scripts.indexOf("/usr/local/bin/k3s kubectl apply -f -"));
        expect(scripts.at(-2)).toBe(force);
    });

    it("a node that stops reporting during the run (a cable pulled just before it): named once NotReady, its stuck pods forced off, the proof ends on the others", async () => {
        // The earlier run's pod on one62 never finishes terminating, so the namespace stays until
        // the node turns NotReady (the third look) and its pods are deleted by force.
        let looks = 0;
        let forced = false;
        const { client, seen } = realCluster((script) => {
            if (script.includes(poll)) {
                looks += 1;
                return look(
                    looks < 3 ? nodes : "k3master True\none6t True\none62 Unknown\n",
                    forced ? "nettest-a k3master 10.42.0.5 True\nnettest-b one6t 10.42.1.7 True\nnettest-c one62  False\n" : "nettest-old one62 10.42.2.3 True\n",
                    !forced,
                );
            }
            if (script.includes("delete pods --field-selector spec.nodeName=one62")) {
                forced = true;
                return {};
            }
            if (script.includes("exec nettest-") && script.includes("ping")) {
                return { stdout: "ok\nok\nok\n" };
            }
            return undefined;
        });
        const started = Date.now();
        const proof = await proveCluster(client, household, { image: "busybox:1.37", deadline: 60 });
        expect(Date.now() - started).toBeLessThan(15_000);
        expect(proof.status).toBe("fail");
        expect(proof.nodes).toEqual(["k3master", "one6t"]);
        expect(proof.problems).toEqual([
            "node one62 is not Ready: its kubelet has stopped reporting (cable out, powered off, or its k3s service down); the proof below covers the other nodes",
        ]);
        const scripts = seen.map((x) => x.script);
        const force = scripts.filter((x) => x.includes("delete pods --field-selector spec.nodeName=one62"));
        // Once when it turned, once on the way out.
        expect(force).toHaveLength(2);
        expect(scripts.findIndex((x) => x.includes("delete pods"))).toBeLessThan(scripts.indexOf("/usr/local/bin/k3s kubectl apply -f -"));
    });

    describe("the VIP", () => {
        const withLb = parseHousehold(homelabHousehold(), "test");
        const laptopMac = "9c:69:d3:4a:f4:a9";

        function lbCluster(address: string, events: string) {
            return realCluster((script) => {
                if (script.includes("get svc nettest-lb")) {
                    return { stdout: address };
                }
                if (script.includes("get events")) {
                    return { stdout: events };
                }
                return undefined;
            });
        }

        it("fetched from here, announced from the laptop, ARP answered by the laptop's LAN MAC: ok", async () => {
            const { client, seen } = lbCluster("192.168.100.200", 'Normal|IPAllocated|Assigned IP ["192.168.100.200"]\nNormal|nodeAssigned|announcing from node "k3master" with protocol "layer2"\n');
            const fetched: string[] = [];
            const proof = await proveCluster(client, withLb, {
                image: "busybox:1.37",
                deadline: 5,
                fetchPage: (a) => (fetched.push(a), Promise.resolve("nettest one62\n")),
                arpLookup: (a) => (a === "192.168.100.200" ? laptopMac : undefined),
            });
            expect(proof.problems).toEqual([]);
            expect(proof.loadBalancer).toEqual({ address: "192.168.100.200", status: "ok", announcedFrom: "k3master", arp: `${laptopMac} (k3master wan0)` });
            expect(fetched).toEqual(["192.168.100.200"]);
            expect(seen.find((x) => x.script.includes("get events"))!.script).toContain("--field-selector involvedObject.kind=Service,involvedObject.name=nettest-lb");
        });

        it("a phone won the L2 election: the VIP is dead, the doctor names the phone and the missing pin", async () => {
            const { client } = lbCluster(
                "192.168.100.200",
                'Normal|nodeAssigned|announcing from node "one62" with protocol "layer2"\nWarning|announceFailed|the interfaces specified by LB IP "192.168.100.200" doesn\'t exist in assigned node "one62" with protocol "layer2"\n',
            );
            const proof = await proveCluster(client, withLb, { image: "busybox:1.37", deadline: 5, fetchPage: () => Promise.reject(new Error("no route")), arpLookup: () => undefined });
            expect(proof.status).toBe("fail");
            expect(proof.loadBalancer).toEqual({ address: "192.168.100.200", status: "FAIL", announcedFrom: "one62", arp: "not seen" });
            expect(proof.problems).toEqual([
                'the VIP 192.168.100.200 is announced from one62, not k3master: a phone won MetalLB\'s L2 election and has no wan0 on the LAN (announceFailed: the interfaces specified by LB IP "192.168.100.200" doesn\'t exist in assigned node "one62" with protocol "layer2"); fix: pin the L2Advertisement homelab-l2 to the laptop (nodeSelectors kubernetes.io/hostname: k3master, interfaces: [wan0]); `pulumi up --refresh` restores it',
            ]);
        });

        it("served, but ARP answered by another MAC: another host claims the VIP", async () => {
            const { client } = lbCluster("192.168.100.200", "");
            const proof = await proveCluster(client, withLb, { image: "busybox:1.37", deadline: 5, fetchPage: () => Promise.resolve("nettest k3master"), arpLookup: () => "16:26:d6:df:e9:bb" });
            expect(proof.loadBalancer).toMatchObject({ status: "FAIL", arp: "16:26:d6:df:e9:bb" });
            expect(proof.problems![0]).toMatch(/^the VIP 192\.168\.100\.200 is answered \(ARP\) by 16:26:d6:df:e9:bb, not the laptop's LAN MAC 9c:69:d3:4a:f4:a9/);
        });

        it("no address assigned: says so with MetalLB's own warning, within the deadline", async () => {
            const { client } = lbCluster("", 'Warning|AllocationFailed|Failed to allocate IP for "k3s-over-usb-doctor/nettest-lb": no available IPs\n');
            const started = Date.now();
            const proof = await proveCluster(client, withLb, { image: "busybox:1.37", deadline: 1, fetchPage: () => Promise.resolve("x"), arpLookup: () => undefined });
            expect(Date.now() - started).toBeLessThan(5000);
            expect(proof.loadBalancer).toEqual({ address: "(none assigned)", status: "FAIL" });
            expect(proof.problems).toEqual([
                'MetalLB assigned no address from 192.168.100.200-192.168.100.220 within 1 s (AllocationFailed: Failed to allocate IP for "k3s-over-usb-doctor/nettest-lb": no available IPs): check k3s kubectl -n metallb-system get pods,ipaddresspools on the laptop',
            ]);
        });
    });
});
