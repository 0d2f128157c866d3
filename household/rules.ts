import * as addr from "./address";
import type { Issue } from "./issues";
import { defaultClusterCidr, defaultServiceCidr, hubPortPattern } from "./schema";
import { deviceProfiles } from "./devices";

// Rules that relate fields to each other. They read the raw config defensively, so that they still
// report what they can when other parts of the config are malformed: the user sees every problem at
// once. A rule whose inputs do not parse stays silent: the shape check parses every address with the
// same functions (address.ts) and reports those. Defaulted values take part in every rule.

type Raw = Record<string, unknown>;

function obj(v: unknown): Raw {
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Raw) : {};
}
function str(v: unknown): string | undefined {
    return typeof v === "string" ? v : undefined;
}
function list(v: unknown): unknown[] {
    return Array.isArray(v) ? v : [];
}

/**
 * k3s settings that the program derives from the household; a flag may not override them. The
 * rendered config.yaml (hosts/k3s/config.ts) can hold no other key than these and the additive ones
 * below: its type is built from both lists, and test/hosts/files.test.ts compares them with what is
 * rendered. token, data-dir and node-external-ip are never written but would fight what is.
 */
export const managedK3sFlags = [
    "node-name",
    "node-ip",
    "node-external-ip",
    "token",
    "token-file",
    "server",
    "flannel-iface",
    "flannel-backend",
    "cluster-cidr",
    "service-cidr",
    "tls-san",
    "data-dir",
    "write-kubeconfig-mode",
] as const;
export type ManagedK3sFlag = (typeof managedK3sFlags)[number];

/** Lists the program starts (servicelb disabled, the phones' taint) and an extra flag adds to. */
export const additiveK3sFlags = ["disable", "node-taint"] as const;
export type AdditiveK3sFlag = (typeof additiveK3sFlags)[number];


/** The laptop end of a phone link is named after the phone; Linux caps names at 15 bytes. */
export function linkInterfaceName(phone: string): string {
    return `usb-${phone}`;
}

export function checkRules(raw: unknown): Issue[] {
    const issues: Issue[] = [];
    const add = (path: string, rule: string, value: unknown, problem: string, fix: string) =>
        issues.push({ path, rule, value, problem, fix });

    const root = obj(raw);
    const laptop = obj(root["laptop"]);
    const lan = obj(laptop["lan"]);
    const phones = list(root["phones"]).map(obj);
    const k3s = obj(root["k3s"]);
    const metallb = root["metallb"] === null ? undefined : obj(root["metallb"]);

    // Names: unique across the household (they become node names and hostnames).
    const seen = new Map<string, string>();
    const names: Array<[string, unknown]> = [["laptop.name", laptop["name"]], ...phones.map((p, i): [string, unknown] => [`phones[${i}].name`, p["name"]])];
    for (const [path, name] of names) {
        if (typeof name !== "string") {
            continue;
        }
        const first = seen.get(name);
        if (first !== undefined) {
            add(path, "duplicate-name", name, `repeats ${first}`, "give every host its own name: it becomes the hostname and the k3s node name");
        } else {
            seen.set(name, path);
        }
    }

    const lanIface = str(lan["interface"]);
    if (lanIface !== undefined && lanIface.length > 15) {
        add("laptop.lan.interface", "interface-name-length", lanIface, "is longer than Linux's 15-character limit", "use a name of at most 15 characters");
    }

    const lanAddr = str(lan["address"]);
    const lanNet = lanAddr === undefined ? undefined : addr.parseCidr(lanAddr, false);
    const laptopIp = lanAddr === undefined ? undefined : addr.parseIpv4(lanAddr.split("/")[0] ?? "");
    const gatewayText = str(lan["gateway"]);
    const gateway = gatewayText === undefined ? undefined : addr.parseIpv4(gatewayText);
    if (lanNet && gateway !== undefined && !addr.cidrContains(lanNet, gateway)) {
        add("laptop.lan.gateway", "gateway-outside-lan", gatewayText, `is not inside the LAN ${addr.formatCidr(lanNet)}`, "use the router's address on the laptop's LAN");
    }
    if (gateway !== undefined && laptopIp !== undefined && gateway === laptopIp) {
        add("laptop.lan.gateway", "gateway-is-laptop", gatewayText, "is the laptop's own address", "use the router's address; the laptop routes the phones, not the LAN");
    }
    const lanMac = str(lan["mac"])?.toLowerCase();
    if (lanMac && addr.isMac(lanMac) && addr.isMulticastMac(lanMac)) {
        add("laptop.lan.mac", "mac-multicast", lanMac, "is a multicast (group) address", "copy the dongle's own MAC from `ip link show`");
    }

    // The cluster's own networks must not collide with each other or with the LAN.
    const named: Array<{ path: string; label: string; cidr: addr.Cidr }> = [];
    if (lanNet) {
        named.push({ path: "laptop.lan.address", label: "the LAN", cidr: lanNet });
    }
    for (const [key, fallback, label] of [
        ["clusterCidr", defaultClusterCidr, "the cluster CIDR"],
        ["serviceCidr", defaultServiceCidr, "the service CIDR"],
    ] as const) {
        const text = str(k3s[key]) ?? fallback;
        const c = addr.parseCidr(text);
        if (c === undefined) {
            if (addr.parseCidr(text, false) === undefined) {
                continue; // not an IPv4 network at all: the shape check reports it
            }
            add(`k3s.${key}`, "cidr-network", text, "is not a network address with prefix", "write the network's first address, e.g. 10.42.0.0/16");
            continue;
        }
        for (const other of named) {
            if (addr.cidrsOverlap(c, other.cidr)) {
                add(`k3s.${key}`, "cidr-overlap", text, `overlaps ${other.label} (${other.path})`, "choose a range that overlaps nothing else in the household");
            }
        }
        named.push({ path: `k3s.${key}`, label, cidr: c });
    }

    // Phones: device, port, link, MAC, battery.
    const controller = str(laptop["usbController"]);
    const ports = new Map<string, string>();
    const macs = new Map<string, string>();
    const links: Array<{ path: string; name: string; cidr: addr.Cidr }> = [];
    phones.forEach((phone, i) => {
        const at = `phones[${i}]`;
        const name = str(phone["name"]);
        if (name !== undefined && linkInterfaceName(name).length > 15) {
            add(
                `${at}.name`,
                "interface-name-length",
                name,
                `makes the laptop interface ${linkInterfaceName(name)} longer than Linux's 15 characters`,
                "shorten the phone's name to at most 11 characters",
            );
        }

        const device = str(phone["device"]);
        const profile = device === undefined ? undefined : deviceProfiles.get(device);
        if (device !== undefined && profile === undefined) {
            add(
                `${at}.device`,
                "unknown-device",
                device,
                "is not a known device profile",
                `use one of ${[...deviceProfiles.keys()].join(", ")}, or add hosts/pmos/devices/${device}.json`,
            );
        }

        const port = str(phone["hubPort"]);
        if (port !== undefined) {
            const first = ports.get(port);
            if (first !== undefined) {
                add(`${at}.hubPort`, "duplicate-hub-port", port, `is also the port of ${first}`, "each phone has its own cable and port");
            }
            ports.set(port, at);
            if (controller !== undefined && hubPortPattern.test(port) && !port.startsWith(`${controller}-usb-`)) {
                add(`${at}.hubPort`, "hub-port-controller", port, `is not on the laptop's USB controller ${controller}`, "correct laptop.usbController or the port path");
            }
        }

        const mac = str(phone["gadgetHostMac"])?.toLowerCase();
        if (mac !== undefined && addr.isMac(mac)) {
            if (addr.isMulticastMac(mac)) {
                add(`${at}.gadgetHostMac`, "mac-multicast", mac, "is a multicast (group) address", "clear bit 0 of the first octet, e.g. 02:...");
            } else if (!addr.isLocallyAdministeredMac(mac)) {
                add(
                    `${at}.gadgetHostMac`,
                    "mac-not-local",
                    mac,
                    "is a vendor (universally administered) address, which a gadget must not claim",
                    "set bit 1 of the first octet (x2, x6, xa or xe), e.g. 02:50:4d:06:00:01",
                );
            }
            const first = macs.get(mac);
            if (first !== undefined) {
                add(`${at}.gadgetHostMac`, "duplicate-mac", mac, `is also ${first}`, "give each phone its own gadget MAC");
            }
            macs.set(mac, `${at}.gadgetHostMac`);
        }

        const link = obj(phone["link"]);
        const subnetText = str(link["subnet"]);
        const subnet = subnetText === undefined ? undefined : addr.parseCidr(subnetText, false);
        if (subnetText !== undefined && subnet !== undefined) {
            if (subnet.prefix !== 30) {
                add(`${at}.link.subnet`, "link-prefix", subnetText, "is not a /30", "give each phone a /30, e.g. 10.0.1.0/30");
            } else if (addr.formatCidr(subnet) !== subnetText) {
                add(`${at}.link.subnet`, "cidr-network", subnetText, "is not the network address of its /30", `write ${addr.formatCidr(subnet)}`);
            } else {
                for (const other of links) {
                    if (addr.cidrsOverlap(subnet, other.cidr)) {
                        add(`${at}.link.subnet`, "link-overlap", subnetText, `overlaps ${other.path} (${other.name})`, "give each phone its own /30");
                    }
                }
                for (const other of named) {
                    if (addr.cidrsOverlap(subnet, other.cidr)) {
                        add(`${at}.link.subnet`, "link-overlap", subnetText, `overlaps ${other.label} (${other.path})`, "choose a /30 outside the LAN and the cluster's ranges");
                    }
                }
                links.push({ path: `${at}.link.subnet`, name: name ?? `phone ${i}`, cidr: subnet });
                const [first, second] = addr.usablePair(subnet);
                for (const [key, want] of [
                    ["laptop", first],
                    ["phone", second],
                ] as const) {
                    const text = str(link[key]);
                    if (text === undefined) {
                        continue;
                    }
                    const ip = addr.parseIpv4(text);
                    if (ip !== undefined && ip !== first && ip !== second) {
                        add(
                            `${at}.link.${key}`,
                            "link-pair",
                            text,
                            `is not one of ${subnetText}'s usable pair ${addr.formatIpv4(first)} and ${addr.formatIpv4(second)}`,
                            `use ${addr.formatIpv4(want)} (or leave it out for that default)`,
                        );
                    }
                }
                // The ends as the model will have them, defaults included.
                const laptopGiven = str(link["laptop"]);
                const phoneGiven = str(link["phone"]);
                const laptopEnd = laptopGiven ?? addr.formatIpv4(first);
                const phoneEnd = phoneGiven ?? addr.formatIpv4(second);
                if (laptopEnd === phoneEnd) {
                    if (laptopGiven !== undefined && phoneGiven !== undefined) {
                        add(`${at}.link.phone`, "link-pair", phoneEnd, "is the same address as the laptop end", "the phone takes the other usable address of the /30");
                    } else {
                        const [path, other, otherDefault] = phoneGiven !== undefined ? ["phone", "laptop", "first"] : ["laptop", "phone", "second"];
                        add(
                            `${at}.link.${path}`,
                            "link-pair",
                            path === "phone" ? phoneEnd : laptopEnd,
                            `is the address the ${other} end defaults to (the /30's ${otherDefault} usable address)`,
                            `set link.${other} to ${laptopEnd === addr.formatIpv4(first) ? addr.formatIpv4(second) : addr.formatIpv4(first)} too, or leave both ends out`,
                        );
                    }
                }
            }
        }

        const cap = phone["batteryCapMicrovolts"];
        if (typeof cap === "number") {
            const min = profile?.battery.safeMinMicrovolts ?? 3_600_000;
            const max = profile?.battery.safeMaxMicrovolts ?? 4_400_000;
            if (cap < min || cap > max) {
                add(
                    `${at}.batteryCapMicrovolts`,
                    "battery-cap-range",
                    cap,
                    `is outside the safe range ${min}-${max} µV`,
                    "write microvolts, not volts or millivolts: 3800000 is 3.8 V (about 70 % charge); null keeps the stock value",
                );
            }
        }
    });

    // MetalLB: the pool lives on the LAN but must not hand out the laptop's or the router's address.
    if (metallb) {
        const pool = obj(metallb["pool"]);
        const rangeText = str(pool["addresses"]);
        const range = rangeText === undefined ? undefined : addr.parseRange(rangeText);
        if (range && lanNet) {
            const broadcast = addr.lastAddress(lanNet);
            for (const [ip, what] of [
                [lanNet.network, "network"],
                [broadcast, "broadcast"],
            ] as const) {
                if (ip >= range[0] && ip <= range[1]) {
                    add("metallb.pool.addresses", "pool-network-broadcast", rangeText, `contains the LAN's ${what} address ${addr.formatIpv4(ip)}`, "keep the pool between the LAN's first and last host addresses");
                }
            }
            if (!addr.cidrContains(lanNet, range[0]) || !addr.cidrContains(lanNet, range[1])) {
                add("metallb.pool.addresses", "pool-outside-lan", rangeText, `is not inside the LAN ${addr.formatCidr(lanNet)}`, "pick free addresses on the laptop's LAN (MetalLB L2 answers ARP there)");
            }
            if (laptopIp !== undefined && laptopIp >= range[0] && laptopIp <= range[1]) {
                add("metallb.pool.addresses", "pool-contains-laptop", rangeText, `contains the laptop's address ${addr.formatIpv4(laptopIp)}`, "start the pool above the laptop's address");
            }
            if (gateway !== undefined && gateway >= range[0] && gateway <= range[1]) {
                add("metallb.pool.addresses", "pool-contains-gateway", rangeText, `contains the gateway ${gatewayText}`, "keep the router's address out of the pool");
            }
        }
        const speaker = str(metallb["speakerNode"]);
        const laptopName = str(laptop["name"]);
        if (speaker !== undefined && laptopName !== undefined && speaker !== laptopName) {
            add(
                "metallb.speakerNode",
                "speaker-on-lan",
                speaker,
                "is not the laptop, the only node with a LAN interface",
                `use ${laptopName}: a phone that wins the L2 election cannot answer ARP on the LAN`,
            );
        }
        const l2Iface = str(obj(metallb["l2"])["interface"]);
        if (l2Iface !== undefined && lanIface !== undefined && l2Iface !== lanIface) {
            add("metallb.l2.interface", "l2-interface", l2Iface, `is not the laptop's LAN interface ${lanIface}`, `use ${lanIface} or leave it out`);
        }
    }

    // k3s: extra flags may not fight what the household already decides.
    for (const side of ["server", "agent"] as const) {
        list(obj(k3s[side])["extraFlags"]).forEach((flag, i) => {
            const name = str(flag)?.replace(/^--/, "").split("=")[0];
            if (name !== undefined && (managedK3sFlags as readonly string[]).includes(name)) {
                add(`k3s.${side}.extraFlags[${i}]`, "managed-flag", flag, "is set by the program from the household", `remove it; change the household field that derives ${name} instead`);
            }
        });
    }
    // k3s's files: each architecture in use needs its binary (air-gap path) and every file its pin.
    const source = obj(k3s["source"]);
    const local = str(source["kind"]) === "local";
    const pins = obj(source["sha256"]);
    const binaryPins = obj(pins["binaries"]);
    const imagePins = obj(pins["images"]);
    const version = str(k3s["version"]) ?? "the pinned version";
    const users = new Map<string, string>([["amd64", `${str(laptop["name"]) ?? "the laptop"} runs the amd64 server`]]);
    for (const arch of ["arm64", "armhf"] as const) {
        // Each phone runs the binary of its device profile's architecture.
        const which = phones.filter((p) => deviceProfiles.get(str(p["device"]) ?? "")?.arch === arch).map((p) => str(p["name"]) ?? "?");
        if (which.length > 0) {
            users.set(arch, `${which.join(", ")} run${which.length === 1 ? "s" : ""} ${arch} agents`);
        }
    }
    if (pins["installScript"] === undefined) {
        add(
            "k3s.source.sha256.installScript",
            "missing-pin",
            undefined,
            "is required: every host checks k3s's install script against it before running it",
            local ? `write the output of sha256sum ${str(source["installScript"]) ?? "<installScript>"}` : `download the install script of ${version} once and write its sha256sum`,
        );
    }
    const binaries = obj(source["binaries"]);
    const images = obj(source["images"]);
    for (const [arch, who] of users) {
        const asset = arch === "amd64" ? "k3s" : `k3s-${arch}`;
        if (local && binaries[arch] === undefined) {
            add(`k3s.source.binaries.${arch}`, "missing-binary", undefined, `is required: ${who}`, `point it at ${asset} from the same release`);
        }
        // The official path without a binary pin lets k3s's install script check the download
        // against the release's own sha256sum file; the air-gap path has nothing else to check with.
        if (local && binaryPins[arch] === undefined) {
            add(`k3s.source.sha256.binaries.${arch}`, "missing-pin", undefined, `is required: ${who}`, `write the output of sha256sum ${str(binaries[arch]) ?? asset}`);
        }
        if (local && images[arch] !== undefined && imagePins[arch] === undefined) {
            add(`k3s.source.sha256.images.${arch}`, "missing-pin", undefined, `is required: ${who}, and k3s.source.images.${arch} is given`, `write the output of sha256sum ${str(images[arch])}`);
        }
    }
    return issues;
}
