import * as pulumi from "@pulumi/pulumi";
import { Access } from "./components/access";
import { Checks, type Repairs } from "./components/drift";
import { BatteryCap } from "./components/battery-cap";
import { K3sAgent } from "./components/k3s-agent";
import { K3sServer } from "./components/k3s-server";
import { checkLocalK3s } from "./components/k3s-stage";
import { MetalLbPool } from "./components/metallb-pool";
import { PmosNode } from "./components/pmos-node";
import { UsbLink } from "./components/usb-link";
import { attribute, runChecks } from "./doctor/run";
import { parseHousehold } from "./household/model";
import { checkMetallbVersion, fetchManifest, loadManifestOffline } from "./manifests/source";

// Reads the household from the stack's config, validates all of it before anything is registered,
// and wires the components into one graph: links and NAT, then the server, then each phone's node,
// battery cap and agent, then MetalLB.

const stack = pulumi.getStack();
const config = new pulumi.Config();
const householdWhere = `Pulumi.${stack}.yaml, k3s-over-usb:household`;
const household = parseHousehold(config.requireObject<unknown>("household"), householdWhere);
checkLocalK3s(household.k3s, [household.laptop.arch, ...household.phones.map((p) => p.device.arch)], householdWhere);
// MetalLB's manifest is checked here, before any resource is registered, whenever it can be had
// offline (vendored, local or cached copies); one that must be fetched is checked when it arrives.
const metallbWhere = `Pulumi.${stack}.yaml, k3s-over-usb:household: metallb`;
const metallbManifest = household.metallb === null ? undefined : loadManifestOffline(household.metallb.manifest, `${metallbWhere}.manifest`, process.cwd());
if (household.metallb !== null && metallbManifest !== undefined) {
    checkMetallbVersion(metallbManifest, household.metallb.version, metallbWhere);
}
const privateKey = config.requireSecret("sshPrivateKey");
const stepChecks = new Checks(true);
const access = new Access(household, privateKey, stepChecks);
const { laptop } = household;

const links = household.phones.map((phone) => new UsbLink(phone.name, { laptop, phone, access }));

// NAT for every phone must exist before k3s starts, or pods on the phones hang in ContainerCreating.
const server = new K3sServer(laptop.name, { household, access, contextName: `k3s-over-usb-${stack}` }, { dependsOn: links });

const phones = household.phones.map((phone, i) => {
    const link = links[i]!;
    const node = new PmosNode(phone.name, { phone, access }, { dependsOn: [link] });
    // One step at a time per phone: each rebuilds the boot image or restarts services.
    const battery = new BatteryCap(phone.name, { phone, access }, { dependsOn: [node] });
    const agent = new K3sAgent(phone.name, { household, phone, access, token: server.token, cleanupKey: server.cleanupKey }, { dependsOn: [link, node, battery, server] });
    return { phone, link, battery, agent };
});

const metallb =
    household.metallb === null
        ? undefined
        : new MetalLbPool(
              "metallb",
              {
                  metallb: household.metallb,
                  kubeconfig: server.kubeconfig,
                  laptop: access.laptop(),
                  clusterIdentifier: `k3s-over-usb-${laptop.name}`,
                  manifest:
                      metallbManifest ??
                      pulumi.output(
                          // No local copy (checked above): only the URL can serve it.
                          fetchManifest(household.metallb.manifest as { url: string; sha256: string }, `${metallbWhere}.manifest`).then((text) => {
                              checkMetallbVersion(text, household.metallb!.version, metallbWhere);
                              return text;
                          }),
                      ),
              },
              { dependsOn: [server, ...phones.map((p) => p.agent)] },
          );

// Drift: every step's check runs before the engine decides what to do, so a host that drifted since
// the last up has its steps run again (components/drift.ts). Off with k3s-over-usb:driftCheck false.
const self = new pulumi.StackReference(`${pulumi.getOrganization()}/${pulumi.getProject()}/${stack}`);
const previous = self.getOutput("repairs") as pulumi.Output<Repairs | undefined>;
const driftCheck = config.getBoolean("driftCheck") ?? true;
export const repairs = stepChecks.probe(previous, async (plan) => {
    if (!driftCheck) {
        return [];
    }
    const key = await new Promise<string>((resolve) => privateKey.apply(resolve));
    return attribute(await runChecks(household, key, plan), plan);
});
export const checks = stepChecks.planOutput();

export const kubeconfig = server.kubeconfig;
export const apiServer = server.apiServer;
export const nodes = [
    { name: laptop.name, role: "server", address: laptop.lan.address, version: server.version },
    ...phones.map(({ phone, link, agent }) => ({
        name: agent.nodeName,
        role: "agent",
        address: agent.nodeIp,
        laptopInterface: link.laptopInterface,
        laptopEnd: phone.link.laptopAddress,
    })),
];
export const pool = metallb ? { addresses: metallb.addresses, speakerNode: metallb.speakerNode, interface: household.metallb!.l2.interface } : null;
export const battery = Object.fromEntries(phones.map(({ phone, battery }) => [phone.name, battery.state]));
