import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { agentConfig, serverConfig } from "../../hosts/k3s/config";
import { rewriteKubeconfig } from "../../hosts/k3s/kubeconfig";
import { laptopLinkFiles } from "../../hosts/laptop/files";
import { agentUninstall, deviceinfoLine, nftDropin, nmDnsDropin, phoneResolvConf, usb0Hook } from "../../hosts/pmos/files";
import { parseHousehold } from "../../household/model";
import { additiveK3sFlags, managedK3sFlags } from "../../household/rules";
import { k3sKubeconfig } from "../components/mocks";
import { homelabHousehold } from "../fixtures";
import { run } from "../run";

const household = parseHousehold(homelabHousehold(), "test");
const one6t = household.phones[0]!;
const files = laptopLinkFiles(household.laptop, one6t);

function tmpdir(): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), "k3ou-test-"));
}

describe("files rendered for the laptop", () => {
    it("names the cable by hub port with a .link file", () => {
        expect(files.linkFile.path).toBe("/etc/systemd/network/10-k3s-over-usb-one6t.link");
        expect(files.linkFile.content).toBe(
            [
                "# Managed by k3s-over-usb (pulumi up); local edits are overwritten.",
                "# The USB cable of one6t (OnePlus 6T): named by hub port, whatever MAC the gadget shows.",
                "",
                "[Match]",
                "Path=pci-0000:00:14.0-usb-0:5.2:1.0",
                "",
                "[Link]",
                "Name=usb-one6t",
                "",
            ].join("\n"),
        );
    });

    it("gives the laptop end its /30 with networkd, no bridge, link-local kept", () => {
        expect(files.netplan.path).toBe("/etc/netplan/60-k3s-over-usb-one6t.yaml");
        expect(files.netplan.content).toBe(
            [
                "# Managed by k3s-over-usb (pulumi up); local edits are overwritten.",
                "# Laptop end of one6t's routed /30: no bridge (br_netfilter drops pod traffic).",
                "network:",
                "  version: 2",
                "  ethernets:",
                "    usb-one6t:",
                "      renderer: networkd",
                "      dhcp4: false",
                "      dhcp6: false",
                "      link-local:",
                "        - ipv6",
                "      addresses:",
                "        - 10.0.1.1/30",
                "      optional: true",
                "",
            ].join("\n"),
        );
    });

    it("is accepted by the real netplan generate, which writes the expected networkd unit", () => {
        const root = tmpdir();
        fs.mkdirSync(path.join(root, "etc/netplan"), { recursive: true });
        fs.writeFileSync(path.join(root, "etc/netplan/60-k3s-over-usb-one6t.yaml"), files.netplan.content, { mode: 0o600 });
        run("netplan", ["generate", "--root-dir", root]);
        const unit = fs.readFileSync(path.join(root, "run/systemd/network/10-netplan-usb-one6t.network"), "utf8");
        expect(unit).toContain("[Match]\nName=usb-one6t\n");
        expect(unit).toContain("Address=10.0.1.1/30\n");
        expect(unit).toContain("LinkLocalAddressing=ipv6\n");
        expect(unit).not.toMatch(/Bridge=/);
    });

    it("masquerades only the phone's /30 out of the LAN interface, atomically", () => {
        expect(files.nat.content).toBe(
            [
                "#!/usr/sbin/nft -f",
                "# Managed by k3s-over-usb (pulumi up); local edits are overwritten.",
                "# one6t reaches the LAN and beyond through the laptop; phone-to-phone traffic is not NATed.",
                "table ip k3ou_nat_one6t",
                "delete table ip k3ou_nat_one6t",
                "table ip k3ou_nat_one6t {",
                "\tchain postrouting {",
                "\t\ttype nat hook postrouting priority srcnat; policy accept;",
                '\t\tip saddr 10.0.1.0/30 oifname "wan0" masquerade',
                "\t}",
                "}",
                "",
            ].join("\n"),
        );
    });

    it("loads the NAT file twice with the real nft (in a throwaway network namespace) and keeps one rule", () => {
        const dir = tmpdir();
        const f = path.join(dir, "nat.nft");
        fs.writeFileSync(f, files.nat.content);
        const out = run("unshare", ["--net", "sh", "-c", `nft -f ${f} && nft -f ${f} && nft list table ip k3ou_nat_one6t`]);
        expect(out.match(/masquerade/g)).toHaveLength(1);
        expect(out).toContain('ip saddr 10.0.1.0/30 oifname "wan0" masquerade');
    });

    it("orders the NAT unit before k3s and after the network, under a name k3s's uninstall does not mistake for its own", () => {
        expect(files.natUnit.name).toBe("k3ou-nat-one6t.service");
        expect(files.natUnit.content).toContain("\nBefore=k3s.service\n");
        expect(files.natUnit.content).toContain("\nAfter=network-online.target\n");
        expect(files.natUnit.content).toContain("\nExecStart=/usr/sbin/nft -f /etc/k3s-over-usb/nat-one6t.nft\n");
    });

    it("turns on forwarding and off reverse-path filtering for the link", () => {
        expect(files.sysctl.content.split("\n").filter((l) => !l.startsWith("#"))).toEqual([
            "net.ipv4.ip_forward = 1",
            "net.ipv4.conf.all.rp_filter = 0",
            "net.ipv4.conf.default.rp_filter = 0",
            "",
        ]);
    });
});

describe("files rendered for a phone", () => {
    it("pins the gadget host MAC the supported way", () => {
        expect(deviceinfoLine(one6t)).toBe('deviceinfo_usb_network_host_addr="16:26:d6:df:e9:bb"');
    });

    it("holds the /30 on usb0 at every boot, on OpenRC and systemd alike", () => {
        const hook = usb0Hook(one6t);
        expect(hook.script.content.split("\n").filter((l) => !l.startsWith("#"))).toEqual([
            "set -eu",
            "ip link set usb0 up",
            "ip -4 addr flush dev usb0",
            "ip addr add 10.0.1.2/30 dev usb0",
            "ip route replace default via 10.0.1.1 dev usb0",
            "",
        ]);
        expect(hook.openrc.path).toBe("/etc/local.d/k3s-over-usb-usb0.start");
        expect(hook.openrc.content).toContain("exec /bin/sh /etc/k3s-over-usb/usb0.sh\n");
        expect(hook.systemd.content).toContain("\nExecStart=/bin/sh /etc/k3s-over-usb/usb0.sh\n");
        expect(hook.systemd.content).toContain("\nBefore=k3s-agent.service\n");
        run("busybox", ["sh", "-n", "-c", hook.script.content]);
    });

    it("adds pod rules to pmOS's forward chain and keeps its drop policy (real nft, throwaway namespace)", () => {
        const dir = tmpdir();
        fs.mkdirSync(path.join(dir, "nftables.d"));
        // Alpine's base ruleset and pmOS's 51_usb_inet.nft, as postmarketos.md quotes them.
        fs.writeFileSync(
            path.join(dir, "nftables.nft"),
            [
                "flush ruleset",
                "table inet filter {",
                "\tchain input { type filter hook input priority 0; policy drop; iifname lo accept; ct state { established, related } accept; }",
                "\tchain forward { type filter hook forward priority 0; policy drop; }",
                "\tchain output { type filter hook output priority 0; policy accept; }",
                "}",
                `include "${dir}/nftables.d/*.nft"`,
                "",
            ].join("\n"),
        );
        fs.writeFileSync(
            path.join(dir, "nftables.d/51_usb_inet.nft"),
            [
                "table inet filter {",
                "\tchain input {",
                '\t\tiifname "usb*" accept',
                "\t}",
                "\tchain forward {",
                '\t\tiifname "usb*" accept',
                "\t\tct state { established, related } counter accept",
                "\t}",
                "}",
                "",
            ].join("\n"),
        );
        fs.writeFileSync(path.join(dir, "nftables.d/70_k3s-over-usb.nft"), nftDropin.content);
        const out = run("unshare", ["--net", "sh", "-c", `nft -f ${dir}/nftables.nft && nft list chain inet filter forward`]);
        expect(out).toContain("policy drop;");
        expect(out).toContain('iifname { "cni0", "flannel.1" } accept comment "k3s-over-usb: pod egress and overlay"');
        expect(out).toContain('oifname { "cni0", "flannel.1" } accept comment "k3s-over-usb: to pods"');
        expect(out.indexOf('iifname "usb*" accept')).toBeLessThan(out.indexOf("k3s-over-usb: pod egress"));
    });
});

describe("the phone's agent uninstall script", () => {
    it.each(["root", "sudo", "doas", "auto"] as const)("becomes root as the phone's escalation says (%s), and passes shellcheck", (escalation) => {
        const { path: where, content } = agentUninstall({ ...one6t, escalation });
        expect(where).toBe("/etc/k3s-over-usb/uninstall-agent.sh");
        const line = content.split("\n").find((l) => /^(if command -v doas|esc=)/.test(l));
        expect(line).toBe(
            { root: "esc=''", sudo: "esc='sudo -n'", doas: "esc='doas -n'", auto: "if command -v doas >/dev/null 2>&1; then esc='doas -n'; else esc='sudo -n'; fi" }[escalation],
        );
        run("shellcheck", ["--shell=sh", "--severity=style", "-"], { input: content });
    });
});

describe("a phone's resolvers", () => {
    it("are the LAN's, one nameserver line each, and NetworkManager is told to leave the file alone", () => {
        const conf = phoneResolvConf(household.laptop.lan.dns);
        expect(household.laptop.lan.dns).toEqual(["1.1.1.1", "8.8.8.8"]);
        expect(conf.path).toBe("/etc/resolv.conf");
        expect(conf.content).toBe("# Managed by k3s-over-usb (pulumi up); local edits are overwritten.\nnameserver 1.1.1.1\nnameserver 8.8.8.8\n");
        expect(nmDnsDropin.path).toMatch(/^\/etc\/NetworkManager\/conf\.d\/[^/]+\.conf$/);
        expect(nmDnsDropin.content.split("\n").slice(1)).toEqual(["[main]", "dns=none", ""]);
    });
});

describe("k3s configuration", () => {
    it("writes only flags the household rules refuse as extra flags, or lists an extra flag adds to", () => {
        const keys = (yaml: string) => Object.keys(parse(yaml) as Record<string, unknown>);
        const written = new Set([...keys(serverConfig(household)), ...household.phones.flatMap((p) => keys(agentConfig(household, p)))]);
        const known = new Set<string>([...managedK3sFlags, ...additiveK3sFlags]);
        expect([...written].filter((k) => !known.has(k))).toEqual([]);
        // Every managed flag but those that only fight what is written (token, data-dir, node-external-ip) is written.
        expect(managedK3sFlags.filter((f) => !written.has(f))).toEqual(["node-external-ip", "token", "data-dir"]);
        expect(additiveK3sFlags.filter((f) => !written.has(f))).toEqual([]);
    });

    it("renders the server's config.yaml from the household", () => {
        expect(serverConfig(household)).toBe(
            [
                "# Managed by k3s-over-usb (pulumi up); local edits are overwritten.",
                "# The k3s server on the laptop.",
                "node-name: k3master",
                "node-ip: 192.168.100.52",
                "flannel-backend: vxlan",
                "flannel-iface: wan0",
                "cluster-cidr: 10.42.0.0/16",
                "service-cidr: 10.43.0.0/16",
                "disable:",
                "  - servicelb",
                "tls-san:",
                "  - 192.168.100.52",
                "  - k3master",
                "  - 10.0.1.1",
                "  - 10.0.2.1",
                "  - 10.0.3.1",
                "token-file: /etc/rancher/k3s/k3s-over-usb.token",
                'write-kubeconfig-mode: "0600"',
                "",
            ].join("\n"),
        );
    });

    it("renders each agent's config.yaml joining its own laptop end", () => {
        expect(agentConfig(household, household.phones[1]!)).toBe(
            [
                "# Managed by k3s-over-usb (pulumi up); local edits are overwritten.",
                "# The k3s agent on one62.",
                "server: https://10.0.2.1:6443",
                "token-file: /etc/rancher/k3s/k3s-over-usb.token",
                "node-name: one62",
                "node-ip: 10.0.2.2",
                "flannel-iface: usb0",
                "node-taint:",
                "  - node-role/phone=true:NoSchedule",
                "",
            ].join("\n"),
        );
    });

    it("merges extra flags as k3s reads repeated flags", () => {
        const h = homelabHousehold();
        h.k3s.server.extraFlags = ["--disable=traefik", "--disable=metrics-server", "--kube-apiserver-arg=audit-log-maxage=3", "--secrets-encryption"];
        const text = serverConfig(parseHousehold(h, "test"));
        expect(text).toContain("disable:\n  - servicelb\n  - traefik\n  - metrics-server\n");
        expect(text).toContain("kube-apiserver-arg: audit-log-maxage=3\n");
        expect(text).toContain("secrets-encryption: true\n");
    });

    it("rewrites the kubeconfig's server and names with a YAML parser", () => {
        const out = rewriteKubeconfig(k3sKubeconfig, "https://192.168.100.52:6443", "k3s-over-usb-homelab");
        expect(out).toContain("server: https://192.168.100.52:6443");
        expect(out).toContain("certificate-authority-data: Q0E=");
        expect(out).toContain("current-context: k3s-over-usb-homelab");
        expect(out).not.toMatch(/\bdefault\b/);
    });
});
