import { utils as sshUtils } from "ssh2";
import { z } from "zod";
import { parseCidr, parseIpv4, parseRange } from "./address";

/** k3s's own defaults, which the household keeps unless it says otherwise. */
export const defaultClusterCidr = "10.42.0.0/16";
export const defaultServiceCidr = "10.43.0.0/16";

// The shape of the household as the stack config spells it. Shape only: rules that relate fields to
// each other (overlaps, pairs, ranges) live in rules.ts, and both report through issues.ts.
//
// Messages are "rule|fix": issues.ts splits them so every problem names its rule and its remedy.

const dnsLabel = z
    .string()
    .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, {
        error: "dns-label|use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
    });

// Addresses are parsed (address.ts, on Node's net.isIPv4), never matched by pattern alone: a value
// that does not parse is reported here, so no later rule has to skip it.
const ipv4 = z.string().refine((t) => parseIpv4(t) !== undefined, {
    error: "ipv4|write a dotted-quad IPv4 address such as 192.168.100.52 (each part 0-255, no leading zeros)",
});
const cidr = z.string().refine((t) => parseCidr(t, false) !== undefined, { error: "cidr|write an IPv4 network such as 10.0.1.0/30" });
const mac = z
    .string()
    .transform((s) => s.toLowerCase())
    .pipe(z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, { error: "mac|write six hex pairs separated by ':', e.g. 02:50:4d:06:00:01" }));
const hostKeyTypes = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"];

/** A public host key that ssh2 itself parses, of a type the connection accepts, its type word matching its blob. */
function isHostKey(text: string): boolean {
    const key = sshUtils.parseKey(text);
    return !(key instanceof Error) && !key.isPrivateKey() && hostKeyTypes.includes(key.type) && text.startsWith(`${key.type} `);
}

// Pasted as ssh-keyscan or a .pub file prints it: "TYPE BASE64", a comment after it is dropped.
const hostKey = z
    .string()
    .transform((s) => s.trim().split(/\s+/).slice(0, 2).join(" "))
    .pipe(
        z.string().refine(isHostKey, {
            error: "host-key|paste the host's public key as 'TYPE BASE64' (ssh-keyscan HOST or /etc/ssh/ssh_host_ed25519_key.pub prints it; a comment after it is fine)",
        }),
    );
const portFix = "port|write a TCP port from 1 to 65535 (sshd listens on 22 unless told otherwise)";
const port = z.number().int({ error: portFix }).min(1, { error: portFix }).max(65535, { error: portFix });
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, { error: "sha256|write the 64 lowercase hex digits of the file's SHA-256" });

// ID_PATH as udev's path_id builtin prints it: the controller, "usb-0" (the bus number is always 0),
// the port chain through hubs, then configuration.interface.
export const hubPortPattern = /^(pci-[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]|platform-[A-Za-z0-9_.]+)-usb-0:[1-9][0-9]*(\.[1-9][0-9]*)*:[0-9]+\.[0-9]+$/;
const hubPort = z.string().regex(hubPortPattern, {
    error: "hub-port|copy ID_PATH from `udevadm info -q property -p /sys/class/net/IFACE`, e.g. pci-0000:00:14.0-usb-0:5.2:1.0",
});
export const usbControllerPattern = /^(pci-[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]|platform-[A-Za-z0-9_.]+)$/;

const sshTarget = z.strictObject({
    /** The address the operator's machine dials. */
    address: z.string().min(1),
    /** Default 22. */
    port: port.default(22),
    user: z.string().regex(/^[a-z_][a-z0-9_-]*$/, { error: "user|write a Unix user name" }),
    hostKey,
});

/** SHA-256 pins of a k3s release's files: the install script, and per architecture the binary and images. */
const archPins = z.strictObject({ amd64: sha256.optional(), arm64: sha256.optional(), armhf: sha256.optional() });
const k3sPins = z.strictObject({ installScript: sha256.optional(), binaries: archPins.default({}), images: archPins.default({}) });

const fileSource = z.union([
    z.strictObject({ url: z.url({ protocol: /^https$/ }), sha256 }),
    z.strictObject({ path: z.string().min(1), sha256: sha256.optional() }),
]);

const laptopSchema = z.strictObject({
    name: dnsLabel,
    ssh: sshTarget,
    /** Default sudo; "root" when the SSH user is root. */
    escalation: z.enum(["sudo", "root"]).default("sudo"),
    lan: z.strictObject({
        interface: z.string().min(1),
        mac,
        /** Address with prefix, e.g. 192.168.100.52/24. */
        address: z.string().refine((t) => parseCidr(t, false) !== undefined, {
            error: "cidr|write the address with its prefix, e.g. 192.168.100.52/24",
        }),
        gateway: ipv4,
        dns: z.array(ipv4).min(1).default(["1.1.1.1"]),
    }),
    /** udev ID_PATH of the USB host controller the hub hangs off, e.g. pci-0000:00:14.0. */
    usbController: z.string().regex(usbControllerPattern, {
        error: "usb-controller|write the controller part of ID_PATH, e.g. pci-0000:00:14.0",
    }),
});

const phoneSchema = z.strictObject({
    name: dnsLabel,
    device: z.string(),
    hubPort,
    link: z.strictObject({
        subnet: cidr,
        /** Default: the first usable address of the subnet. */
        laptop: ipv4.optional(),
        /** Default: the second usable address of the subnet. */
        phone: ipv4.optional(),
    }),
    /** MAC the laptop sees for this phone (deviceinfo_usb_network_host_addr). */
    gadgetHostMac: mac,
    /** Charge ceiling written into the device tree, in microvolts; null leaves the stock value. */
    batteryCapMicrovolts: z.number().int().nullable().default(null),
    /** Default auto: doas where installed (pmOS up to v25.12), else sudo (sudo-rs from v26.06). */
    escalation: z.enum(["auto", "doas", "sudo"]).default("auto"),
    /** Default auto: detected on the phone. */
    init: z.enum(["auto", "openrc", "systemd"]).default("auto"),
    /** Default keep: add k3s rules to the pmOS firewall; flush removes the firewall (the seed's choice). */
    firewall: z.enum(["keep", "flush"]).default("keep"),
    ssh: z.strictObject({
        user: z.string().regex(/^[a-z_][a-z0-9_-]*$/, { error: "user|write a Unix user name" }).default("user"),
        port: port.default(22),
        hostKey,
    }),
});

const k3sVersion = z.string().regex(/^v\d+\.\d+\.\d+\+k3s\d+$/, {
    error: "pinned-version|pin an exact k3s release such as v1.35.5+k3s1 (channels like 'stable' or 'latest' move under you)",
});

const maxUnavailableFix = "max-unavailable|write how many phones may be drained at once during an upgrade: a whole number from 1";
const drainTimeoutFix = "drain-timeout|write the seconds a phone's drain may take: a whole number from 10 to 3600";

const extraFlag = z.string().regex(/^--[a-z0-9][a-z0-9-]*(=.*)?$/, {
    error: "k3s-flag|write one flag per entry as --name=value, e.g. --disable=traefik",
});

const k3sSchema = z.strictObject({
    version: k3sVersion,
    clusterCidr: cidr.default(defaultClusterCidr),
    serviceCidr: cidr.default(defaultServiceCidr),
    server: z
        .strictObject({
            /** Interface flannel's VXLAN uses on the laptop; default the LAN interface. */
            flannelIface: z.string().optional(),
            extraFlags: z.array(extraFlag).default([]),
        })
        .default({ extraFlags: [] }),
    agent: z
        .strictObject({
            extraFlags: z.array(extraFlag).default([]),
            /** Taint for phone nodes, e.g. node-role/phone=true:NoSchedule; default none. */
            taint: z.string().regex(/^[a-z0-9./-]+=[A-Za-z0-9._-]*:(NoSchedule|PreferNoSchedule|NoExecute)$/).nullable().default(null),
        })
        .default({ extraFlags: [], taint: null }),
    /**
     * Where the install script and binaries come from; default the official release URLs. Either
     * way the files carry SHA-256 pins (`sha256`), checked on each host before anything is installed;
     * which pins are required is a rule (rules.ts), so a missing one is named with the hosts that need it.
     */
    source: z
        .discriminatedUnion("kind", [
            z.strictObject({ kind: z.literal("official"), sha256: k3sPins.optional() }),
            z.strictObject({
                kind: z.literal("local"),
                installScript: z.string().min(1),
                binaries: z.strictObject({ amd64: z.string().min(1).optional(), arm64: z.string().min(1).optional(), armhf: z.string().min(1).optional() }),
                /** k3s's air-gap images tarballs (k3s-airgap-images-<arch>.tar), per architecture; default none. */
                images: z.strictObject({ amd64: z.string().min(1).optional(), arm64: z.string().min(1).optional(), armhf: z.string().min(1).optional() }).optional(),
                sha256: k3sPins.optional(),
            }),
        ])
        .default({ kind: "official" }),
    /** How a change of version rolls across the cluster: the server first, then the phones. */
    upgrade: z
        .strictObject({
            /** Phones drained and upgraded at once. */
            maxUnavailable: z.number().int({ error: maxUnavailableFix }).min(1, { error: maxUnavailableFix }).default(1),
            /** Seconds a phone's drain may take before the roll stops, naming the pod that blocks it. */
            drainTimeout: z.number().int({ error: drainTimeoutFix }).min(10, { error: drainTimeoutFix }).max(3600, { error: drainTimeoutFix }).default(300),
            /** An older version than the cluster runs is refused unless this is true. */
            allowDowngrade: z.boolean().default(false),
        })
        .default({ maxUnavailable: 1, drainTimeout: 300, allowDowngrade: false }),
});

const metallbVersion = z.string().regex(/^v\d+\.\d+\.\d+$/, {
    error: "pinned-version|pin an exact MetalLB release such as v0.15.2",
});

const metallbSchema = z.strictObject({
    version: metallbVersion,
    manifest: fileSource,
    pool: z.strictObject({
        name: dnsLabel,
        /** First-last, e.g. 192.168.100.200-192.168.100.220. */
        addresses: z.string().refine((t) => parseRange(t) !== undefined, {
            error: "pool-range|write the pool as FIRST-LAST, e.g. 192.168.100.200-192.168.100.220 (first not above last)",
        }),
    }),
    l2: z.strictObject({
        name: dnsLabel,
        /** Default: the laptop's LAN interface. */
        interface: z.string().optional(),
    }),
    /** Default: the laptop, the only node on the LAN. */
    speakerNode: dnsLabel.optional(),
});

export const householdSchema = z.strictObject({
    laptop: laptopSchema,
    phones: z.array(phoneSchema).min(1, { error: "no-phones|describe at least one phone under phones:" }),
    k3s: k3sSchema,
    metallb: metallbSchema.nullable().default(null),
});

export type HouseholdConfig = z.infer<typeof householdSchema>;
export type PhoneConfig = z.infer<typeof phoneSchema>;
