import * as addr from "./address";
import { HouseholdError, issuesFromZod } from "./issues";
import { checkRules, linkInterfaceName } from "./rules";
import { householdSchema, type HouseholdConfig } from "./schema";
import { deviceProfiles, type DeviceProfile } from "./devices";

// The validated household: plain typed data that components are driven by. Everything derivable
// (link interface names, addresses, the k3s server URL each phone uses) is derived here, once.

/** How a step becomes root; "auto" picks doas or sudo on the host itself. */
export type Escalation = "sudo" | "doas" | "root" | "auto";

/** k3s's release architectures: the laptop's amd64, the phones' from their device profile. */
export type Arch = "amd64" | "arm64" | "armhf";

export interface SshEndpoint {
    readonly address: string;
    readonly port: number;
    readonly user: string;
    readonly hostKey: string;
}

export interface Laptop {
    readonly name: string;
    readonly arch: "amd64";
    readonly ssh: SshEndpoint;
    readonly escalation: Escalation;
    readonly lan: {
        readonly interface: string;
        readonly mac: string;
        readonly address: string;
        readonly prefix: number;
        readonly subnet: string;
        readonly gateway: string;
        readonly dns: ReadonlyArray<string>;
    };
    readonly usbController: string;
}

export interface Phone {
    readonly name: string;
    readonly device: DeviceProfile;
    readonly hubPort: string;
    readonly link: {
        readonly subnet: string;
        readonly prefix: 30;
        readonly laptopAddress: string;
        readonly phoneAddress: string;
        /** The laptop end's stable name, by hub port. */
        readonly laptopInterface: string;
        /** The phone end: the USB gadget's network function. */
        readonly phoneInterface: "usb0";
    };
    readonly gadgetHostMac: string;
    readonly batteryCapMicrovolts: number | null;
    readonly escalation: Escalation;
    readonly init: "auto" | "openrc" | "systemd";
    readonly firewall: "keep" | "flush";
    /** Reached through the laptop, at the phone's end of its link. */
    readonly ssh: SshEndpoint;
}

export type FileSource = { readonly url: string; readonly sha256: string } | { readonly path: string; readonly sha256?: string | undefined };

export interface K3s {
    readonly version: string;
    readonly clusterCidr: string;
    readonly serviceCidr: string;
    readonly server: { readonly flannelIface: string; readonly nodeIp: string; readonly extraFlags: ReadonlyArray<string> };
    readonly agent: { readonly extraFlags: ReadonlyArray<string>; readonly taint: string | null };
    readonly upgrade: { readonly maxUnavailable: number; readonly drainTimeout: number; readonly allowDowngrade: boolean };
    readonly source:
        | { readonly kind: "official"; readonly sha256: K3sPins }
        | {
              readonly kind: "local";
              readonly installScript: string;
              readonly binaries: { readonly [A in Arch]?: string };
              /** Air-gap images, imported by k3s at every start from /var/lib/rancher/k3s/agent/images. */
              readonly images?: { readonly [A in Arch]?: string } | undefined;
              readonly sha256: K3sPins;
          };
}

/** SHA-256 pins of k3s's files, checked on each host before anything is installed. */
export interface K3sPins {
    readonly installScript: string;
    /** Required for every architecture in use on the air-gap path; optional on the official one. */
    readonly binaries: { readonly [A in Arch]?: string };
    readonly images: { readonly [A in Arch]?: string };
}

export interface MetalLb {
    readonly version: string;
    readonly manifest: FileSource;
    readonly pool: { readonly name: string; readonly addresses: string };
    readonly l2: { readonly name: string; readonly interface: string };
    readonly speakerNode: string;
}

export interface Household {
    readonly laptop: Laptop;
    readonly phones: ReadonlyArray<Phone>;
    readonly k3s: K3s;
    readonly metallb: MetalLb | null;
}

/**
 * Validates a raw household (as read from stack config) as a whole and returns the model.
 * Throws HouseholdError listing every problem; `source` names where the config came from.
 */
export function parseHousehold(raw: unknown, source: string): Household {
    const parsed = householdSchema.safeParse(raw);
    const issues = [...(parsed.success ? [] : issuesFromZod(parsed.error, raw)), ...checkRules(raw)].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    if (!parsed.success || issues.length > 0) {
        throw new HouseholdError(issues, source);
    }
    return buildModel(parsed.data);
}

function buildModel(c: HouseholdConfig): Household {
    const [lanIp, lanPrefix] = c.laptop.lan.address.split("/") as [string, string];
    const lanNet = addr.parseCidr(c.laptop.lan.address, false)!;
    const laptop: Laptop = {
        name: c.laptop.name,
        arch: "amd64",
        ssh: c.laptop.ssh,
        escalation: c.laptop.escalation,
        lan: {
            interface: c.laptop.lan.interface,
            mac: c.laptop.lan.mac,
            address: lanIp,
            prefix: Number(lanPrefix),
            subnet: addr.formatCidr(lanNet),
            gateway: c.laptop.lan.gateway,
            dns: c.laptop.lan.dns,
        },
        usbController: c.laptop.usbController,
    };
    const phones = c.phones.map((p): Phone => {
        const subnet = addr.parseCidr(p.link.subnet)!;
        const [first, second] = addr.usablePair(subnet);
        const laptopAddress = p.link.laptop ?? addr.formatIpv4(first);
        const phoneAddress = p.link.phone ?? (laptopAddress === addr.formatIpv4(second) ? addr.formatIpv4(first) : addr.formatIpv4(second));
        return {
            name: p.name,
            device: deviceProfiles.get(p.device)!,
            hubPort: p.hubPort,
            link: {
                subnet: p.link.subnet,
                prefix: 30,
                laptopAddress,
                phoneAddress,
                laptopInterface: linkInterfaceName(p.name),
                phoneInterface: "usb0",
            },
            gadgetHostMac: p.gadgetHostMac,
            batteryCapMicrovolts: p.batteryCapMicrovolts,
            escalation: p.escalation,
            init: p.init,
            firewall: p.firewall,
            ssh: { address: phoneAddress, port: p.ssh.port, user: p.ssh.user, hostKey: p.ssh.hostKey },
        };
    });
    const k3s: K3s = {
        version: c.k3s.version,
        clusterCidr: c.k3s.clusterCidr,
        serviceCidr: c.k3s.serviceCidr,
        server: {
            flannelIface: c.k3s.server.flannelIface ?? laptop.lan.interface,
            nodeIp: laptop.lan.address,
            extraFlags: c.k3s.server.extraFlags,
        },
        agent: { extraFlags: c.k3s.agent.extraFlags, taint: c.k3s.agent.taint },
        upgrade: c.k3s.upgrade,
        // The rules required the install script's pin (and the others the path needs).
        source: { ...c.k3s.source, sha256: { installScript: "", binaries: {}, images: {}, ...c.k3s.source.sha256 } },
    };
    const metallb: MetalLb | null =
        c.metallb === null
            ? null
            : {
                  version: c.metallb.version,
                  manifest: c.metallb.manifest,
                  pool: c.metallb.pool,
                  l2: { name: c.metallb.l2.name, interface: c.metallb.l2.interface ?? laptop.lan.interface },
                  speakerNode: c.metallb.speakerNode ?? laptop.name,
              };
    return { laptop, phones, k3s, metallb };
}

/** The API server address a phone's agent joins: its own laptop end, which it always routes to. */
export function serverUrlFor(phone: Phone): string {
    return `https://${phone.link.laptopAddress}:6443`;
}
