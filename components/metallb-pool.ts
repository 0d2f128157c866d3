import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";
import { ipAddressPool, l2Advertisement, webhookProbe } from "../manifests/metallb";
import type { MetalLb } from "../household/model";
import type { HostAccess } from "./remote-step";
import { remoteStep } from "./remote-step";

export interface MetalLbPoolArgs {
    readonly metallb: MetalLb;
    /** The cluster's Kubernetes provider (K3sServer.provider()). */
    readonly provider: pulumi.ProviderResource;
    /** The laptop, where k3s kubectl can probe the webhook. */
    readonly laptop: HostAccess;
    /** The upstream native manifest at the pinned version, verified by digest. */
    readonly manifest: pulumi.Input<string>;
}

/**
 * MetalLB at the pinned version, then, once its webhook really serves, the household's address pool
 * and an L2 advertisement limited to the laptop's LAN interface and the laptop node.
 */
export class MetalLbPool extends pulumi.ComponentResource {
    /** The pool's address range. */
    public readonly addresses: pulumi.Output<string>;
    /** The node that answers ARP for the pool. */
    public readonly speakerNode: pulumi.Output<string>;

    constructor(name: string, args: MetalLbPoolArgs, opts?: pulumi.ComponentResourceOptions) {
        super("k3s-over-usb:cluster:MetalLbPool", name, {}, opts);
        const { metallb } = args;
        const { provider } = args;
        const install = new k8s.yaml.v2.ConfigGroup(`${name}-metallb`, { yaml: args.manifest }, { parent: this, provider });
        const webhook = remoteStep(
            `${name}-webhook`,
            {
                host: args.laptop,
                step: "metallb-webhook",
                script: "hosts/laptop/steps/metallb-webhook.sh",
                env: { SAMPLE: stringify(webhookProbe(metallb)), READY_TIMEOUT: "300" },
                check: { none: "it only waits for the webhook before the pool is applied; the doctor's cluster proof tests the VIP" },
            },
            { parent: this, dependsOn: [install], customTimeouts: { create: "10m", update: "10m" } },
        );
        const pool = new k8s.apiextensions.CustomResource(`${name}-pool`, ipAddressPool(metallb), { parent: this, provider, dependsOn: [webhook] });
        new k8s.apiextensions.CustomResource(`${name}-l2`, l2Advertisement(metallb), { parent: this, provider, dependsOn: [pool] });
        this.addresses = pulumi.output(metallb.pool.addresses);
        this.speakerNode = pulumi.output(metallb.speakerNode);
        this.registerOutputs({ addresses: this.addresses, speakerNode: this.speakerNode });
    }
}
