import * as pulumi from "@pulumi/pulumi";
import type { Household, Phone } from "../household/model";
import type { Access } from "./access";
import { BatteryCap } from "./battery-cap";
import { K3sAgent } from "./k3s-agent";
import { K3sServer } from "./k3s-server";
import { MetalLbPool } from "./metallb-pool";
import { PmosNode } from "./pmos-node";
import { UsbLink } from "./usb-link";

// The whole graph from a household: links and NAT, then the server, then each phone's node, battery
// cap and agent, then MetalLB. index.ts and every lab test build it here, so the wiring they test is
// the wiring users run.

export interface GraphArgs {
    readonly household: Household;
    readonly access: Access;
    /** The kubeconfig's cluster, user and context name: k3s-over-usb-<stack>. */
    readonly contextName: string;
    /** MetalLB's manifest, checked against its pin and version; needed when the household has MetalLB. */
    readonly metallbManifest?: pulumi.Input<string>;
    /** false: the hosts' own steps only (links, nodes, battery caps), no k3s and no MetalLB. Default true. */
    readonly k3s?: boolean;
    /** Only these phones' resources (what a targeted update touches); the server still knows them all. */
    readonly only?: ReadonlyArray<string>;
    /**
     * The k3s version the cluster ran before this up (household/k3s-version.ts k3sChange decided it
     * may change to household.k3s.version). When it differs, the phones' agents roll: the server
     * first, then k3s.upgrade.maxUnavailable phones at a time, in the household's order.
     */
    readonly upgradeFrom?: string;
}

export interface PhoneGraph {
    readonly phone: Phone;
    readonly link: UsbLink;
    readonly node: PmosNode;
    readonly battery: BatteryCap;
    readonly agent?: K3sAgent;
}

export interface Graph {
    readonly server?: K3sServer;
    readonly phones: ReadonlyArray<PhoneGraph>;
    readonly metallb?: MetalLbPool;
}

/** What preview and up print before a roll: the order the engine will follow. */
export function rollOrder(household: Household, phones: ReadonlyArray<Phone>, from: string): string {
    const step = household.k3s.upgrade.maxUnavailable;
    const names = phones.length > 0 ? phones.map((p) => p.name).join(", ") : "(no phones)";
    return `k3s ${from} -> ${household.k3s.version}: the server ${household.laptop.name} first, then the phones in this order, ${step} at a time (cordon, drain, upgrade, Ready, uncordon): ${names}`;
}

/** Older programs kept the Kubernetes provider inside MetalLbPool "metallb": its state moves, nothing is replaced. */
const metallbName = "metallb";
const providerAliases: pulumi.Input<pulumi.Alias>[] = [{ name: `${metallbName}-k8s`, parent: pulumi.createUrn(metallbName, "k3s-over-usb:cluster:MetalLbPool") }];

export function householdGraph(args: GraphArgs): Graph {
    const { household, access } = args;
    const { laptop } = household;
    const withK3s = args.k3s ?? true;
    const phones = household.phones.filter((p) => args.only === undefined || args.only.includes(p.name));

    const links = phones.map((phone) => new UsbLink(phone.name, { laptop, phone, access }));

    // NAT for every phone must exist before k3s starts, or pods on the phones hang in ContainerCreating.
    const server = withK3s ? new K3sServer(laptop.name, { household, access, contextName: args.contextName, providerAliases }, { dependsOn: links }) : undefined;

    const from = args.upgradeFrom;
    const rolling = server !== undefined && from !== undefined && from !== household.k3s.version;
    const step = household.k3s.upgrade.maxUnavailable;
    if (rolling) {
        void pulumi.log.info(rollOrder(household, phones, from));
    }

    const built: PhoneGraph[] = [];
    phones.forEach((phone, i) => {
        const link = links[i]!;
        const node = new PmosNode(phone.name, { phone, dns: laptop.lan.dns, access }, { dependsOn: [link] });
        // One step at a time per phone: each rebuilds the boot image or restarts services.
        const battery = new BatteryCap(phone.name, { phone, access }, { dependsOn: [node] });
        if (server === undefined) {
            built.push({ phone, link, node, battery });
            return;
        }
        // In a roll, each phone's drain waits until the phone maxUnavailable places before it is
        // Ready and uncordoned: at most maxUnavailable phones are out at once, and a failure stops
        // the roll with the phones after it untouched. Otherwise every phone joins at once.
        const before = rolling && i >= step ? [built[i - step]!.agent!.rolled] : [];
        const agent = new K3sAgent(
            phone.name,
            { household, phone, access, token: server.token, cleanupKey: server.cleanupKey, server, rollAfter: before },
            // The server is the agent's forget, drain and install steps' dependency, not the whole
            // component's: its files are copied to the phone while the server installs.
            { dependsOn: [link, node, battery] },
        );
        built.push({ phone, link, node, battery, agent });
    });

    if (server === undefined || household.metallb === null) {
        return { ...(server ? { server } : {}), phones: built };
    }
    if (args.metallbManifest === undefined) {
        throw new Error("householdGraph: the household has MetalLB, so its manifest is needed (GraphArgs.metallbManifest)");
    }
    const metallb = new MetalLbPool(
        metallbName,
        { metallb: household.metallb, provider: server.provider(), laptop: access.laptop(), manifest: args.metallbManifest },
        { dependsOn: [server, ...built.map((p) => p.agent!)] },
    );
    return { server, phones: built, metallb };
}
