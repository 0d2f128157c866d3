import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as addr from "../../household/address";

const ip = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const cidr = fc.tuple(ip, fc.integer({ min: 0, max: 32 })).map(([a, p]) => ({ network: a - (a % addr.prefixSize(p)), prefix: p }));

describe("address planning", () => {
    it("formats and parses IPv4 as inverses", () => {
        fc.assert(fc.property(ip, (a) => addr.parseIpv4(addr.formatIpv4(a)) === a));
    });

    it("rejects malformed addresses", () => {
        for (const bad of ["256.1.1.1", "1.2.3", "01.2.3.4", "1.2.3.4.5", "a.b.c.d", ""]) {
            expect(addr.parseIpv4(bad)).toBeUndefined();
        }
    });

    it("a CIDR contains exactly its 2^(32-p) addresses", () => {
        fc.assert(
            fc.property(cidr, ip, (c, a) => addr.cidrContains(c, a) === (a >= c.network && a < c.network + addr.prefixSize(c.prefix))),
        );
    });

    it("overlap is symmetric and means a shared address", () => {
        fc.assert(
            fc.property(cidr, cidr, (a, b) => {
                const shared = Math.max(a.network, b.network) <= Math.min(addr.lastAddress(a), addr.lastAddress(b));
                return addr.cidrsOverlap(a, b) === addr.cidrsOverlap(b, a) && addr.cidrsOverlap(a, b) === shared;
            }),
        );
    });

    it("a /30's usable pair sits strictly between network and broadcast", () => {
        fc.assert(
            fc.property(ip, (a) => {
                const c = { network: a - (a % 4), prefix: 30 };
                const [first, second] = addr.usablePair(c);
                return first === c.network + 1 && second === addr.lastAddress(c) - 1;
            }),
        );
        expect(addr.usablePair(addr.parseCidr("10.0.1.0/30")!).map(addr.formatIpv4)).toEqual(["10.0.1.1", "10.0.1.2"]);
    });

    it("strict CIDR parsing demands the network address", () => {
        expect(addr.parseCidr("10.0.1.1/30")).toBeUndefined();
        expect(addr.parseCidr("10.0.1.1/30", false)).toEqual({ network: addr.parseIpv4("10.0.1.0"), prefix: 30 });
    });

    it("reads the MAC bits that matter", () => {
        expect(addr.isLocallyAdministeredMac("16:26:d6:df:e9:bb")).toBe(true);
        expect(addr.isLocallyAdministeredMac("9c:69:d3:4a:f4:a9")).toBe(false);
        expect(addr.isMulticastMac("01:00:5e:00:00:01")).toBe(true);
        expect(addr.isMulticastMac("02:50:4d:06:00:01")).toBe(false);
    });
});
