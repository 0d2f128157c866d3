import * as pulumi from "@pulumi/pulumi";
import { Access } from "./components/access";
import { Checks, driftCarryForStack, probeDrift, type Repairs } from "./components/drift";
import { householdGraph } from "./components/graph";
import { checkLocalK3s } from "./components/k3s-stage";
import { k3sChange } from "./household/k3s-version";
import { parseHousehold } from "./household/model";
import { checkMetallbVersion, fetchManifest, loadManifestOffline } from "./manifests/source";

// Reads the household from the stack's config, validates all of it before anything is registered,
// reads the k3s version the cluster ran at the last up (this stack's own output) to refuse a
// downgrade and roll an upgrade, builds the one graph (components/graph.ts), probes the hosts for
// drift, and returns what the operator and the doctor read as the stack's outputs.

/** k3sVersion from this stack's last outputs; older programs exported it as the server's entry in nodes. */
async function previousK3sVersion(self: pulumi.StackReference): Promise<string | undefined> {
    const version: unknown = await self.getOutputValue("k3sVersion");
    if (typeof version === "string") {
        return version;
    }
    const nodes: unknown = await self.getOutputValue("nodes");
    const server = Array.isArray(nodes) ? (nodes as Array<{ role?: unknown; version?: unknown }>).find((n) => n?.role === "server") : undefined;
    return typeof server?.version === "string" ? server.version : undefined;
}

async function main(): Promise<Record<string, unknown>> {
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
    // The version the cluster ran at the last up that finished: an up that fails leaves the stack's
    // outputs as they were, so a roll that stopped half way is a roll again on the next up.
    const self = new pulumi.StackReference(`${pulumi.getOrganization()}/${pulumi.getProject()}/${stack}`);
    const running = await previousK3sVersion(self);
    k3sChange(running, household.k3s.version, household.k3s.upgrade.allowDowngrade, householdWhere);
    const privateKey = config.requireSecret("sshPrivateKey");
    const stepChecks = new Checks(true);
    const access = new Access(household, privateKey, stepChecks);
    const { laptop } = household;

    const graph = householdGraph({
        household,
        access,
        contextName: `k3s-over-usb-${stack}`,
        upgradeFrom: running,
        metallbManifest:
            household.metallb === null
                ? undefined
                : (metallbManifest ??
                  pulumi.output(
                      // No local copy (checked above): only the URL can serve it.
                      fetchManifest(household.metallb.manifest as { url: string; sha256: string }, `${metallbWhere}.manifest`).then((text) => {
                          checkMetallbVersion(text, household.metallb!.version, metallbWhere);
                          return text;
                      }),
                  )),
    });
    const server = graph.server!;
    const { phones, metallb } = graph;

    // Drift: every step's check runs before the engine decides what to do, so a host that drifted since
    // the last up has its steps run again (components/drift.ts). Off with k3s-over-usb:driftCheck false.
    const repairs = probeDrift(stepChecks, {
        household,
        privateKey,
        previous: self.getOutput("repairs") as pulumi.Output<Repairs | undefined>,
        enabled: config.getBoolean("driftCheck") ?? true,
        // Checked once per `pulumi up`: in its preview, the results carried to its update.
        carry: driftCarryForStack(`${pulumi.getOrganization()}/${pulumi.getProject()}/${stack}`),
    });
    const checks = stepChecks.planOutput();

    const nodes = [
        { name: laptop.name, role: "server", address: laptop.lan.address, version: server.version },
        ...phones.map(({ phone, link, agent }) => ({
            name: agent!.nodeName,
            role: "agent",
            address: agent!.nodeIp,
            laptopInterface: link.laptopInterface,
            laptopEnd: phone.link.laptopAddress,
        })),
    ];
    const pool = metallb ? { addresses: metallb.addresses, speakerNode: metallb.speakerNode, interface: household.metallb!.l2.interface } : null;
    const battery = Object.fromEntries(phones.map(({ phone, battery }) => [phone.name, battery.state]));
    return { repairs, checks, kubeconfig: server.kubeconfig, apiServer: server.apiServer, k3sVersion: server.version, nodes, pool, battery };
}

export = main;
