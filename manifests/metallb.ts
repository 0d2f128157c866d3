import type { MetalLb } from "../household/model";

// MetalLB's custom resources for the household, as plain objects: the component applies them, and
// tests validate them against the CRD schemas shipped in the upstream manifest.

export const metallbNamespace = "metallb-system";

export function ipAddressPool(m: MetalLb) {
    return {
        apiVersion: "metallb.io/v1beta1",
        kind: "IPAddressPool",
        metadata: { name: m.pool.name, namespace: metallbNamespace },
        spec: { addresses: [m.pool.addresses] },
    } as const;
}

/** Only the laptop can answer ARP on the LAN: a phone that won the L2 election would leave the VIP dead. */
export function l2Advertisement(m: MetalLb) {
    return {
        apiVersion: "metallb.io/v1beta1",
        kind: "L2Advertisement",
        metadata: { name: m.l2.name, namespace: metallbNamespace },
        spec: {
            ipAddressPools: [m.pool.name],
            interfaces: [m.l2.interface],
            nodeSelectors: [{ matchLabels: { "kubernetes.io/hostname": m.speakerNode } }],
        },
    } as const;
}

/**
 * The household's own pool, only ever dry-run, to learn when the validating webhook serves. Under the
 * pool's own name: once the pool exists, a probe under another name with the same addresses would be
 * refused as overlapping it, and the wait would never end (each time the step runs again).
 */
export function webhookProbe(m: MetalLb) {
    return ipAddressPool(m);
}
