import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { homelabConfig } from "../fixtures";
import { edges, installMocks, mockPrivateKey, mockToken, recordEdges, registered, unexpected, unwrap } from "./mocks";

// The homelab stack's whole graph under Pulumi mocks: what is registered, under which parent, in
// which order, and that secrets stay secret.

type Outputs = Record<string, any>;
let stack: Outputs;

beforeAll(async () => {
    installMocks();
    const config = homelabConfig();
    pulumi.runtime.setAllConfig(
        {
            "k3s-over-usb:household": JSON.stringify(config["k3s-over-usb:household"]),
            "k3s-over-usb:sshPrivateKey": mockPrivateKey,
            // No host is reached from a unit test (test/no-network.ts guards it too).
            "k3s-over-usb:driftCheck": "false",
        },
        ["k3s-over-usb:sshPrivateKey"],
    );
    await pulumi.runtime.runInPulumiStack(async () => {
        recordEdges();
        const program = await import("../../index");
        stack = await program.default();
        return undefined;
    });
    // Let every registration settle.
    await unwrap(stack.nodes as pulumi.Input<unknown>);
    await unwrap(stack.kubeconfig);
});

const phones = ["one6t", "one62", "one61"];
const key = (type: string, name: string) => `${type}::${name}`;
const link = (p: string) => key("k3s-over-usb:network:UsbLink", p);
const node = (p: string) => key("k3s-over-usb:node:PmosNode", p);
const cap = (p: string) => key("k3s-over-usb:node:BatteryCap", p);
const agent = (p: string) => key("k3s-over-usb:k3s:K3sAgent", p);
const server = key("k3s-over-usb:k3s:K3sServer", "k3master");
const cmd = (name: string) => key("command:remote:Command", name);

const secretSig = "4dabf18193072939515e22adb298388d";
const secretSigValue = "1b47061264138c4ac30d75fd1eb44270";

/** The SDK wraps a connection in a secret envelope; tests read the value inside. */
function connection(name: string): Record<string, any> {
    const c = command(name).inputs["connection"];
    expect(c[secretSig]).toBe(secretSigValue);
    return c.value;
}

/** What a step's shell reads on stdin: its values, the script and any secret (secret steps: unwrapped). */
function program(name: string): string {
    const stdin = command(name).inputs["stdin"];
    return typeof stdin === "string" ? stdin : (stdin as Record<string, string>)["value"]!;
}

function command(name: string) {
    const found = registered.find((r) => r.type === "command:remote:Command" && r.name === name);
    if (!found) {
        throw new Error(`no command ${name}`);
    }
    return found;
}

describe("the homelab graph", () => {
    it("registers nothing the mocks do not know", () => {
        expect(unexpected).toEqual([]);
    });

    it("has every component for every host, and nothing else at the top", () => {
        const components = registered.filter((r) => r.type.startsWith("k3s-over-usb:")).map((r) => key(r.type, r.name));
        expect(components.sort()).toEqual(
            [server, key("k3s-over-usb:cluster:MetalLbPool", "metallb"), ...phones.flatMap((p) => [link(p), node(p), cap(p), agent(p)])].sort(),
        );
        for (const c of components) {
            // Top-level: the engine parents them to the stack.
            expect(edges.get(c)?.parent, c).toBeUndefined();
        }
    });

    it("parents every child to its component", async () => {
        const expectParent: Array<[string, string]> = [
            ...phones.flatMap((p): Array<[string, string]> => [
                [cmd(`${p}-laptop-link`), link(p)],
                [cmd(`${p}-locate`), link(p)],
                [cmd(`${p}-adopt`), link(p)],
                [cmd(`${p}-phone-link`), link(p)],
                [cmd(`${p}-node`), node(p)],
                [cmd(`${p}-battery-cap`), cap(p)],
                [cmd(`${p}-forget-previous`), agent(p)],
                [cmd(`${p}-drain`), agent(p)],
                [cmd(`${p}-install`), agent(p)],
                [cmd(`${p}-cleanup-access`), agent(p)],
                [cmd(`${p}-ready`), agent(p)],
            ]),
            [cmd("k3master-install"), server],
            [cmd("k3master-kubeconfig"), server],
            [cmd("k3master-cleanup-key"), server],
            [key("random:index/randomPassword:RandomPassword", "k3master-token"), server],
            [key("pulumi:providers:kubernetes", "k3master-k8s"), server],
            [cmd("metallb-webhook"), key("k3s-over-usb:cluster:MetalLbPool", "metallb")],
        ];
        for (const [child, parent] of expectParent) {
            expect(edges.get(child)?.parent, child).toBe(parent);
        }
        // The Kubernetes provider lived in MetalLbPool before K3sServer shared it: its alias carries
        // the old state over, so no in-cluster resource is replaced.
        const [alias] = edges.get(key("pulumi:providers:kubernetes", "k3master-k8s"))!.aliases as pulumi.Alias[];
        expect(alias!.name).toBe("metallb-k8s");
        expect(await unwrap(alias!.parent as pulumi.Output<string>)).toBe("urn:pulumi:homelab::k3s-over-usb::k3s-over-usb:cluster:MetalLbPool::metallb");
        const children = registered.filter((r) => r.type === "command:remote:Command").length;
        expect(children).toBe(phones.length * 11 + 4);
    });

    it("creates the k3s server only after every link (and its NAT) exists", () => {
        expect(edges.get(server)?.dependsOn.sort()).toEqual(phones.map(link).sort());
    });

    it("installs an agent only after its link's NAT, its node preparation, its battery cap and the server", () => {
        for (const p of phones) {
            // The server holds back the agent's forget, drain and install, not the whole component:
            // the phone's copies of k3s's files need nothing of it.
            expect(edges.get(agent(p))?.dependsOn.sort()).toEqual([link(p), node(p), cap(p)].sort());
            expect(edges.get(cmd(`${p}-forget-previous`))?.dependsOn).toEqual([server]);
            expect(edges.get(cmd(`${p}-install`))?.dependsOn).toContain(server);
            expect(edges.get(node(p))?.dependsOn).toEqual([link(p)]);
            expect(edges.get(cap(p))?.dependsOn).toEqual([node(p)]);
        }
    });

    it("forgets a previous node and drains it (an upgrade's update only) before the agent joins, and waits for Ready after it did", () => {
        for (const p of phones) {
            // Nothing rolls on this stack (its last outputs name no other version): every phone at once.
            expect(edges.get(cmd(`${p}-drain`))?.dependsOn).toEqual([cmd(`${p}-forget-previous`)]);
            expect(edges.get(cmd(`${p}-install`))?.dependsOn).toEqual([cmd(`${p}-drain`), server]);
            expect(command(`${p}-drain`).inputs["create"]).not.toContain("K3OU_ACTION");
            expect(command(`${p}-drain`).inputs["update"]).toContain("K3OU_ACTION='update'");
            expect(command(`${p}-install`).inputs["update"]).toBeUndefined();
            // The forget step deletes the node on create (a new host key replaces it), never on an update.
            expect(command(`${p}-forget-previous`).inputs["update"]).toContain("K3OU_ACTION='update'");
            expect(edges.get(cmd(`${p}-ready`))?.dependsOn).toEqual([cmd(`${p}-install`), cmd(`${p}-cleanup-access`)]);
        }
    });

    it("lets the laptop uninstall an agent with its own key, for that one command only", () => {
        expect(program("one61-cleanup-access")).toContain(
            `export AUTHORIZED_LINE='restrict,command="/bin/sh /etc/k3s-over-usb/uninstall-agent.sh" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILaptopCleanupKeyMock k3s-over-usb-cleanup@k3master'`,
        );
        const remove = command("one61-ready").inputs["delete"] as string;
        expect(remove).toContain("PHONE_ADDR='10.0.3.2'");
        expect(remove).toContain("PHONE_HOST_KEY='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFh3mOHqTmGd6SlFXdjokFYl0n2LRNdHzR7UN+qtA0yQ'");
        expect(command("one61-install").inputs["delete"]).toBeUndefined();
    });

    it("reaches a phone first where locate found it, then at its /30", () => {
        for (const p of phones) {
            expect(edges.get(cmd(`${p}-locate`))?.dependsOn).toEqual([cmd(`${p}-laptop-link`)]);
            expect(edges.get(cmd(`${p}-phone-link`))?.dependsOn).toEqual([cmd(`${p}-adopt`)]);
            expect(connection(`${p}-adopt`).host).toBe("fe80::1c2d:3eff:fe4f:5a6b%usb-x");
        }
        expect(connection("one62-node")).toMatchObject({
            host: "10.0.2.2",
            user: "user",
            hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO5Q55UaGmmuqLM6ZhAusWyNhzO0LL+9oNqopviRrTxF",
            proxy: { host: "192.168.100.52", user: "ubuntu", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE/T1vwa/FF3gUhqQcV3Z9t9latzF5/p8P32Oje6dKkK" },
        });
    });

    it("applies MetalLB's pool only after the webhook serves, and the L2 advertisement after the pool", () => {
        expect(edges.get(cmd("metallb-webhook"))?.dependsOn).toEqual([key("kubernetes:yaml/v2:ConfigGroup", "metallb-metallb")]);
        expect(edges.get(key("kubernetes:metallb.io/v1beta1:IPAddressPool", "metallb-pool"))?.dependsOn).toEqual([cmd("metallb-webhook")]);
        expect(edges.get(key("kubernetes:metallb.io/v1beta1:L2Advertisement", "metallb-l2"))?.dependsOn).toEqual([
            key("kubernetes:metallb.io/v1beta1:IPAddressPool", "metallb-pool"),
        ]);
        const l2 = registered.find((r) => r.name === "metallb-l2")!;
        expect(l2.inputs["spec"]).toEqual({
            ipAddressPools: ["homelab-pool"],
            interfaces: ["wan0"],
            nodeSelectors: [{ matchLabels: { "kubernetes.io/hostname": "k3master" } }],
        });
        const provider = registered.find((r) => r.type === "pulumi:providers:kubernetes")!;
        expect(provider.inputs["clusterIdentifier"]).toBe("k3s-over-usb-k3master");
    });

    it("keeps the token, the private key and the kubeconfig secret, and off every command line", async () => {
        expect(await pulumi.isSecret(stack.kubeconfig)).toBe(true);
        const installs = ["k3master-install", ...phones.map((p) => `${p}-install`)];
        for (const r of registered.filter((x) => x.type === "command:remote:Command")) {
            const text = JSON.stringify([r.inputs["create"], r.inputs["delete"], r.inputs["update"]]);
            expect(text).not.toContain(mockToken);
            expect(text).not.toContain("MOCKPRIVATEKEYMATERIAL");
            if (!installs.includes(r.name)) {
                expect(JSON.stringify(r.inputs["stdin"] ?? ""), r.name).not.toContain(mockToken);
            }
        }
        for (const name of installs) {
            // The SDK's secret envelope: the token reaches the provider marked secret, as the step's stdin.
            const stdin = command(name).inputs["stdin"];
            expect(stdin[secretSig], name).toBe(secretSigValue);
            expect(stdin.value, name).toMatch(new RegExp(`^\\} <<'(K3OU_STDIN_[0-9a-f]{64})'\n${mockToken}\n\\1\n$`, "m"));
        }
    });

    it("runs a step from a command line that names only its host and step; values and script travel on stdin", () => {
        expect(command("one62-battery-cap").inputs["create"]).toBe(`exec doas -n env K3OU_HOST='one62' K3OU_STEP='battery-cap' K3OU_INIT='auto' sh -c 'eval "$(cat)"' 'k3s-over-usb-battery-cap'`);
        expect(program("one62-battery-cap")).toContain("export CAP='3800000'\n");
        expect(program("one62-battery-cap")).toContain('die "/boot is full');
        expect(command("one62-phone-link").inputs["delete"]).toMatch(/ <\/dev\/null$/);
    });

    it("exports the kubeconfig pointed at the laptop under a stable context name", async () => {
        const kc = await unwrap(stack.kubeconfig);
        expect(kc).toContain("server: https://192.168.100.52:6443");
        expect(kc).toContain("current-context: k3s-over-usb-homelab");
        expect(kc).not.toContain("127.0.0.1");
    });

    it("reads the kubeconfig again when the server may have a new CA (a new install, a repair), not for a new version", async () => {
        const read = registered.find((r) => r.name === "k3master-kubeconfig")!;
        const triggers = await unwrap(read.inputs["triggers"] as pulumi.Input<unknown[]>);
        // The install step's id and its repair generation (0: never repaired); nothing of its program.
        expect(triggers).toEqual(["k3master-install-id", "0"]);
    });

    it("exports nodes, the pool and each phone's battery state", async () => {
        expect(await unwrap(stack.nodes as pulumi.Input<unknown>)).toEqual([
            { name: "k3master", role: "server", address: "192.168.100.52", version: "v1.35.5+k3s1" },
            { name: "one6t", role: "agent", address: "10.0.1.2", laptopInterface: "usb-one6t", laptopEnd: "10.0.1.1" },
            { name: "one62", role: "agent", address: "10.0.2.2", laptopInterface: "usb-one62", laptopEnd: "10.0.2.1" },
            { name: "one61", role: "agent", address: "10.0.3.2", laptopInterface: "usb-one61", laptopEnd: "10.0.3.1" },
        ]);
        expect(await unwrap(stack.pool as pulumi.Input<unknown>)).toEqual({ addresses: "192.168.100.200-192.168.100.220", speakerNode: "k3master", interface: "wan0" });
        expect(await unwrap(stack.battery as pulumi.Input<unknown>)).toEqual({
            one6t: { written: 3800000, live: 4400000, rebootPending: true },
            one62: { written: 3800000, live: 4400000, rebootPending: true },
            one61: { written: 3800000, live: 4400000, rebootPending: true },
        });
    });
});

describe("the mocks", () => {
    it("registers a check for every step that leaves something on a host, and exports them with their URNs", async () => {
        const plan = (await unwrap(stack.checks as pulumi.Input<unknown>)) as Array<{ key: string; host: string; subject: string; script: string; urn: string; env: Record<string, string> }>;
        const keys = plan.map((c) => c.key).sort();
        expect(keys).toEqual(
            [
                "k3master-install",
                "k3master-cleanup-key",
                "k3master-kubeconfig",
                ...phones.flatMap((p) => [`${p}-laptop-link`, `${p}-phone-link`, `${p}-node`, `${p}-battery-cap`, `${p}-install`, `${p}-cleanup-access`, `${p}-ready`]),
            ].sort(),
        );
        const ready = plan.find((c) => c.key === "one62-ready")!;
        expect(ready).toMatchObject({ host: "k3master", subject: "one62", script: "hosts/laptop/steps/node-ready.check.sh" });
        expect(ready.urn).toMatch(/::one62-ready$/);
        // File contents travel as digests; no check carries a secret.
        const node = plan.find((c) => c.key === "one62-node")!;
        expect(node.env["NFT_DROPIN"]).toMatch(/^sha256:[0-9a-f]{64}$/);
        expect(node.env["NODE_NAME"]).toBe("one62");
        const text = JSON.stringify(plan);
        expect(text).not.toContain(mockToken);
        expect(text).not.toContain(mockPrivateKey.split("\n")[1]!);
    });

    it("runs every checked step with its repair generation from the last up (0 when new), and exports them", async () => {
        expect(program("one62-node")).toContain("export K3OU_REPAIR='2'");
        expect(program("one6t-node")).toContain("export K3OU_REPAIR='0'");
        expect(program("one6t-locate")).not.toContain("K3OU_REPAIR");
        const repairs = (await unwrap(stack.repairs as pulumi.Input<unknown>)) as Record<string, number>;
        expect(repairs["one62-node"]).toBe(2);
        expect(repairs["one6t-laptop-link"]).toBe(0);
    });

    it("fail on a resource type the program is not expected to register", async () => {
        const { installMocks: install } = await import("./mocks");
        install();
        const mocks = (pulumi.runtime as unknown as { getMonitor(): { mocks: pulumi.runtime.Mocks } }).getMonitor().mocks;
        expect(() => mocks.newResource({ type: "aws:s3/bucket:Bucket", name: "stray", inputs: {}, custom: true })).toThrow(/unexpected resource type aws:s3\/bucket:Bucket/);
    });
});
