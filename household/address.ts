// IPv4 and MAC arithmetic for address planning. Plain functions over numbers (parsing by Node's own
// net.isIPv4), so validation can reason about /30 links, the LAN, and the cluster's CIDRs exactly.

import { isIPv4 } from "net";

export interface Cidr {
    /** Network address as an unsigned 32-bit number. */
    readonly network: number;
    readonly prefix: number;
}

/** Parses dotted-quad IPv4 (Node's own parser: each part 0-255, no leading zeros); undefined when malformed. */
export function parseIpv4(text: string): number | undefined {
    if (!isIPv4(text)) {
        return undefined;
    }
    return text
        .split(".")
        .map(Number)
        .reduce((acc, o) => acc * 256 + o, 0);
}

export function formatIpv4(value: number): string {
    return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

export function prefixSize(prefix: number): number {
    return 2 ** (32 - prefix);
}

/** Parses "a.b.c.d/p"; `strict` demands that a.b.c.d is the network address itself. */
export function parseCidr(text: string, strict = true): Cidr | undefined {
    const [addr, len, ...rest] = text.split("/");
    if (addr === undefined || len === undefined || rest.length > 0 || !/^\d{1,2}$/.test(len)) {
        return undefined;
    }
    const ip = parseIpv4(addr);
    const prefix = Number(len);
    if (ip === undefined || prefix > 32) {
        return undefined;
    }
    const size = prefixSize(prefix);
    const network = ip - (ip % size);
    if (strict && network !== ip) {
        return undefined;
    }
    return { network, prefix };
}

export function formatCidr(c: Cidr): string {
    return `${formatIpv4(c.network)}/${c.prefix}`;
}

export function lastAddress(c: Cidr): number {
    return c.network + prefixSize(c.prefix) - 1;
}

export function cidrContains(c: Cidr, ip: number): boolean {
    return ip >= c.network && ip <= lastAddress(c);
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
    return a.network <= lastAddress(b) && b.network <= lastAddress(a);
}

/** The two usable host addresses of a /30: network+1 and network+2. */
export function usablePair(c: Cidr): [number, number] {
    return [c.network + 1, c.network + 2];
}

const macPattern = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export function isMac(text: string): boolean {
    return macPattern.test(text);
}

/** Bit 0 of the first octet: group (multicast) address, never valid for one interface. */
export function isMulticastMac(mac: string): boolean {
    return (parseInt(mac.slice(0, 2), 16) & 1) === 1;
}

/** Bit 1 of the first octet: locally administered, i.e. not a vendor's burned-in address. */
export function isLocallyAdministeredMac(mac: string): boolean {
    return (parseInt(mac.slice(0, 2), 16) & 2) === 2;
}

/** A range "a.b.c.d-e.f.g.h" as [first, last]; undefined when malformed or reversed. */
export function parseRange(text: string): [number, number] | undefined {
    const parts = text.split("-");
    if (parts.length !== 2) {
        return undefined;
    }
    const first = parseIpv4(parts[0]!.trim());
    const last = parseIpv4(parts[1]!.trim());
    if (first === undefined || last === undefined || first > last) {
        return undefined;
    }
    return [first, last];
}
