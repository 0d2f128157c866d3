import { describe, expect, it } from "vitest";
import { HouseholdError, formatIssue } from "../../household/issues";
import { parseHousehold } from "../../household/model";
import { deviceProfiles } from "../../household/devices";
import { homelabHousehold } from "../fixtures";
import { rows } from "./rows";

function problems(h: unknown): string[] {
    try {
        parseHousehold(h, "Pulumi.test.yaml");
    } catch (e) {
        if (e instanceof HouseholdError) {
            return e.issues.map(formatIssue);
        }
        throw e;
    }
    return [];
}

describe("household validation", () => {
    it("accepts the homelab household of Pulumi.homelab.yaml", () => {
        expect(problems(homelabHousehold())).toEqual([]);
    });

    it.each(rows)("rule $rule: reports exactly its problem, with path, value and fix", ({ mutate, expected }) => {
        const h = homelabHousehold();
        mutate(h);
        expect(problems(h)).toEqual(expected);
    });

    it("reports every problem at once, shape and cross-field alike, sorted by path", () => {
        const h = homelabHousehold();
        h.k3s.version = "stable";
        h.phones[1].link = { subnet: "10.0.1.0/30" };
        h.phones[2].gadgetHostMac = "17:26:d6:df:e9:bb";
        h.metallb.pool.addresses = "192.168.100.1-192.168.100.9";
        const found = problems(h);
        expect(found.map((l) => l.split(":")[0])).toEqual(["k3s.version", "metallb.pool.addresses", "phones[1].link.subnet", "phones[2].gadgetHostMac"]);
    });

    it("the table covers at least thirty bad households, each rule once", () => {
        expect(rows.length).toBeGreaterThanOrEqual(30);
        expect(new Set(rows.map((r) => r.rule)).size).toBe(rows.length);
    });

    it("a host key pasted with its comment is accepted, and the model keeps TYPE BASE64 only", () => {
        const h = homelabHousehold();
        const key = h.phones[0].ssh.hostKey as string;
        h.phones[0].ssh.hostKey = `  ${key}   root@one6t (pasted from the .pub file)\n`;
        expect(problems(h)).toEqual([]);
        expect(parseHousehold(h, "test").phones[0]!.ssh.hostKey).toBe(key);
    });

    it("several problems of every kind in one household are all reported in one run", () => {
        const h = homelabHousehold();
        h.phones[0].link.phone = "10.0.1.300";
        h.phones[1].link = { subnet: "10.0.2.0/30", phone: "10.0.2.1" };
        h.phones[2].ssh.hostKey = "ssh-ed25519 AAAA";
        h.laptop.ssh.port = 70000;
        h.laptop.lan.gateway = "192.168.100.52";
        h.metallb.pool.addresses = "192.168.100.250-192.168.100.255";
        expect(problems(h).map((l) => /\[([a-z][\w-]*)\]; value/.exec(l)![1])).toEqual(["gateway-is-laptop", "port", "pool-network-broadcast", "ipv4", "link-pair", "host-key"]);
    });

    it("a phone of an armhf profile needs, and gets, k3s's armhf binary", () => {
        // A 32-bit profile as a contributor would add it under hosts/pmos/devices/.
        const enchilada = deviceProfiles.get("oneplus-enchilada")!;
        (deviceProfiles as Map<string, typeof enchilada>).set("test-armhf", { ...enchilada, name: "test-armhf", arch: "armhf" });
        try {
            const h = homelabHousehold();
            h.phones[2].device = "test-armhf";
            const pins = { installScript: "1".repeat(64), binaries: { amd64: "2".repeat(64), arm64: "3".repeat(64), armhf: "4".repeat(64) } };
            h.k3s.source = { kind: "local", installScript: "/srv/k3s/install.sh", binaries: { amd64: "/srv/k3s/k3s", arm64: "/srv/k3s/k3s-arm64" }, sha256: pins };
            expect(problems(h)).toEqual([
                "k3s.source.binaries.armhf: is required: one61 runs armhf agents [missing-binary]; value (missing); fix: point it at k3s-armhf from the same release",
            ]);
            h.k3s.source.binaries.armhf = "/srv/k3s/k3s-armhf";
            const model = parseHousehold(h, "test");
            expect(model.phones.map((p) => p.device.arch)).toEqual(["arm64", "arm64", "armhf"]);
        } finally {
            (deviceProfiles as Map<string, unknown>).delete("test-armhf");
        }
    });

    it("says nothing was changed on any host, and names the config source", () => {
        const h = homelabHousehold();
        h.phones[0].device = "oneplus-dumpling";
        expect(() => parseHousehold(h, "Pulumi.homelab.yaml, k3s-over-usb:household")).toThrow(
            /^Pulumi\.homelab\.yaml, k3s-over-usb:household: the household config has 1 problem; nothing was changed on any host:\n {2}- phones\[0\]\.device: /,
        );
    });

    it("derives the model: links, their interface names, defaults", () => {
        const h = homelabHousehold();
        delete h.phones[0].link.laptop;
        delete h.phones[0].link.phone;
        const model = parseHousehold(h, "test");
        expect(model.phones.map((p) => [p.name, p.link.laptopInterface, p.link.laptopAddress, p.link.phoneAddress, p.device.dtb])).toEqual([
            ["one6t", "usb-one6t", "10.0.1.1", "10.0.1.2", "qcom/sdm845-oneplus-fajita"],
            ["one62", "usb-one62", "10.0.2.1", "10.0.2.2", "qcom/sdm845-oneplus-enchilada"],
            ["one61", "usb-one61", "10.0.3.1", "10.0.3.2", "qcom/sdm845-oneplus-enchilada"],
        ]);
        expect(model.phones[0]!.escalation).toBe("doas");
        expect(model.phones[0]!.firewall).toBe("keep");
        expect(model.k3s.server).toEqual({ flannelIface: "wan0", nodeIp: "192.168.100.52", extraFlags: [] });
        expect(model.metallb?.speakerNode).toBe("k3master");
    });
});
