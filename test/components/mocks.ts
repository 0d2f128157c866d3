import * as pulumi from "@pulumi/pulumi";

// Pulumi mocks for the whole program. Every resource type the program may register is listed; any
// other type fails the registration loudly. A legacy stack transformation (which, unlike transforms,
// runs under mocks) records each resource's parent and dependsOn, which MockResourceArgs lacks.

export const knownTypes = new Set([
    "pulumi:pulumi:Stack",
    "pulumi:pulumi:StackReference",
    "k3s-over-usb:network:UsbLink",
    "k3s-over-usb:node:PmosNode",
    "k3s-over-usb:node:BatteryCap",
    "k3s-over-usb:k3s:K3sServer",
    "k3s-over-usb:k3s:K3sAgent",
    "k3s-over-usb:cluster:MetalLbPool",
    "command:remote:Command",
    "command:remote:CopyToRemote",
    "random:index/randomPassword:RandomPassword",
    "pulumi:providers:kubernetes",
    "kubernetes:yaml/v2:ConfigGroup",
    "kubernetes:metallb.io/v1beta1:IPAddressPool",
    "kubernetes:metallb.io/v1beta1:L2Advertisement",
]);

export const mockToken = "MockToken0123456789abcdefghijABCDEFGHIJ0123456789";
export const mockPrivateKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nMOCKPRIVATEKEYMATERIAL\n-----END OPENSSH PRIVATE KEY-----\n";

export const k3sKubeconfig = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0E=
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
`;

export interface Registered {
    readonly type: string;
    readonly name: string;
    readonly inputs: Record<string, any>;
}

export interface Edges {
    parent?: string;
    dependsOn: string[];
    aliases: pulumi.Input<pulumi.Alias | string>[];
}

export const registered: Registered[] = [];
export const edges = new Map<string, Edges>();
/** The stack outputs the program reads back through its reference to itself (the last up's). */
export const previousOutputs: Record<string, unknown> = { repairs: { "one62-node": 2 } };
export const unexpected: string[] = [];

function stdoutFor(name: string): string {
    if (name.endsWith("-locate")) {
        return "fe80::1c2d:3eff:fe4f:5a6b%usb-x";
    }
    if (name.endsWith("-kubeconfig")) {
        return k3sKubeconfig;
    }
    if (name.endsWith("-cleanup-key")) {
        return "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILaptopCleanupKeyMock";
    }
    if (name.endsWith("-battery-cap")) {
        return '{"written":3800000,"live":4400000}';
    }
    return "";
}

export function installMocks(preview = false): void {
    void pulumi.runtime.setMocks(
        {
            newResource(args: pulumi.runtime.MockResourceArgs) {
                if (!knownTypes.has(args.type)) {
                    unexpected.push(`${args.type}::${args.name}`);
                    throw new Error(`mock: unexpected resource type ${args.type} (${args.name})`);
                }
                registered.push({ type: args.type, name: args.name, inputs: args.inputs });
                const state: Record<string, unknown> = { ...args.inputs };
                if (args.type === "command:remote:Command") {
                    state["stdout"] = stdoutFor(args.name);
                    state["stderr"] = "";
                }
                if (args.type === "pulumi:pulumi:StackReference") {
                    state["outputs"] = previousOutputs;
                    state["secretOutputNames"] = [];
                }
                if (args.type === "random:index/randomPassword:RandomPassword") {
                    state["result"] = mockToken;
                }
                return { id: `${args.name}-id`, state };
            },
            call: () => ({}),
        },
        "k3s-over-usb",
        "homelab",
        preview,
        // The file backend's organization: the program reads its own last outputs by reference.
        "organization",
    );
}

const keys = new WeakMap<pulumi.Resource, string>();

function keyOf(r: unknown): string {
    const found = r ? keys.get(r as pulumi.Resource) : undefined;
    return found ?? "?";
}

/** Records parents and dependsOn of every resource constructed from now on in this stack. */
export function recordEdges(): void {
    pulumi.runtime.registerStackTransformation((args) => {
        const key = `${args.type}::${args.name}`;
        keys.set(args.resource, key);
        const deps = args.opts.dependsOn;
        const list = deps === undefined ? [] : Array.isArray(deps) ? deps : [deps];
        edges.set(key, { parent: args.opts.parent ? keyOf(args.opts.parent) : undefined, dependsOn: (list as unknown[]).map(keyOf), aliases: args.opts.aliases ?? [] });
        return undefined;
    });
}

/** Resolves an Output in a test (Output.promise is internal). */
export function unwrap<T>(o: pulumi.Input<T>): Promise<pulumi.Unwrap<T>> {
    return new Promise((resolve) => pulumi.output(o).apply(resolve));
}
