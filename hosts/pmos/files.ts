import { escalationLine } from "../command";
import { managedBy, renderIni, renderShellAssignments } from "../render";
import { bootDtbPath } from "./devices";
import type { Phone } from "../../household/model";

// Files a postmarketOS phone receives. Boot-time work goes through one script per concern and a thin
// init hook, so OpenRC (local.d) and systemd phones run the same script.

export interface BootHook {
    readonly script: { readonly path: string; readonly content: string };
    readonly openrc: { readonly path: string; readonly content: string };
    readonly systemd: { readonly path: string; readonly name: string; readonly content: string };
}

function bootHook(name: string, description: string, body: ReadonlyArray<string>, before: ReadonlyArray<string>): BootHook {
    const scriptPath = `/etc/k3s-over-usb/${name}.sh`;
    // Not "k3s*.service": k3s's uninstall script keeps the k3s binary while any unit of that name remains.
    const unitName = `k3ou-${name}.service`;
    return {
        script: { path: scriptPath, content: ["#!/bin/sh", `# ${managedBy}`, `# ${description}`, "set -eu", ...body, ""].join("\n") },
        openrc: { path: `/etc/local.d/k3s-over-usb-${name}.start`, content: ["#!/bin/sh", `# ${managedBy}`, `exec /bin/sh ${scriptPath}`, ""].join("\n") },
        systemd: {
            path: `/etc/systemd/system/${unitName}`,
            name: unitName,
            content: renderIni(
                [managedBy],
                [
                    ["Unit", [["Description", `k3s-over-usb: ${description}`], ...before.map((b): [string, string] => ["Before", b])]],
                    [
                        "Service",
                        [
                            ["Type", "oneshot"],
                            ["RemainAfterExit", "yes"],
                            ["ExecStart", `/bin/sh ${scriptPath}`],
                        ],
                    ],
                    ["Install", [["WantedBy", "multi-user.target"]]],
                ],
            ),
        },
    };
}

/** The gadget host MAC, pinned through deviceinfo (v25.06+); there is no knob for the phone's own MAC. */
export function deviceinfoLine(phone: Phone): string {
    return renderShellAssignments([["deviceinfo_usb_network_host_addr", phone.gadgetHostMac]]).trimEnd();
}

export function usb0Hook(phone: Phone): BootHook {
    const addr = `${phone.link.phoneAddress}/${phone.link.prefix}`;
    return bootHook(
        "usb0",
        `usb0 holds ${addr} with the default route via the laptop (${phone.link.laptopAddress})`,
        [
            "# The initramfs gives usb0 172.16.42.1 at every boot, as on every fresh phone; the /30 replaces it.",
            "ip link set usb0 up",
            "ip -4 addr flush dev usb0",
            `ip addr add ${addr} dev usb0`,
            `ip route replace default via ${phone.link.laptopAddress} dev usb0`,
        ],
        ["k3s-agent.service"],
    );
}

export function radiosHook(): BootHook {
    return bootHook(
        "radios",
        "wifi, modem and bluetooth stay off: node traffic runs over the USB cable only",
        [
            "if command -v nmcli >/dev/null 2>&1; then",
            "\tnmcli radio wifi off || true",
            "\tnmcli radio wwan off || true",
            "fi",
            "if command -v rfkill >/dev/null 2>&1; then",
            "\trfkill block bluetooth || true",
            "\trfkill block wlan || true",
            "\trfkill block wwan || true",
            "fi",
        ],
        [],
    );
}

/** Rules appended to pmOS's own inet filter table; a separate table could not rescue a packet its forward chain drops. */
export const nftDropin = {
    path: "/etc/nftables.d/70_k3s-over-usb.nft",
    content: [
        "#!/usr/sbin/nft -f",
        `# ${managedBy}`,
        "# pmOS's forward chain (policy drop) passes only usb* and wlan*: pods arrive on cni0 and flannel.1.",
        "table inet filter {",
        "\tchain input {",
        '\t\tiifname { "cni0", "flannel.1" } accept comment "k3s-over-usb: pod/overlay to node"',
        "\t}",
        "\tchain forward {",
        '\t\tiifname { "cni0", "flannel.1" } accept comment "k3s-over-usb: pod egress and overlay"',
        '\t\toifname { "cni0", "flannel.1" } accept comment "k3s-over-usb: to pods"',
        "\t}",
        "}",
        "",
    ].join("\n"),
} as const;

/**
 * The phone's resolvers: the household's LAN resolvers (`laptop.lan.dns`), reached through the
 * laptop's NAT. pmOS leaves /etc/resolv.conf to NetworkManager, which fills it from wifi or the modem;
 * with the radios off and usb0 set by our boot hook, nothing would, and the phone (and pods with
 * dnsPolicy Default on it) could resolve no name.
 */
export function phoneResolvConf(dns: ReadonlyArray<string>): { readonly path: string; readonly content: string } {
    return { path: "/etc/resolv.conf", content: [`# ${managedBy}`, ...dns.map((d) => `nameserver ${d}`), ""].join("\n") };
}

/** NetworkManager keeps its hands off /etc/resolv.conf (dns=none), so the file above stays as written. */
export const nmDnsDropin = {
    path: "/etc/NetworkManager/conf.d/50-k3s-over-usb-dns.conf",
    content: [`# ${managedBy}`, "[main]", "dns=none", ""].join("\n"),
} as const;

export const phoneSysctl = {
    path: "/etc/sysctl.d/60-k3s-over-usb.conf",
    content: [`# ${managedBy}`, "net.ipv4.ip_forward = 1", "net.ipv4.conf.all.rp_filter = 0", "net.ipv4.conf.default.rp_filter = 0", ""].join("\n"),
} as const;

export interface BatteryCapFiles {
    readonly dtb: string;
    readonly hook: { readonly path: string; readonly content: string };
}

/** boot-deploy runs hooks before it appends the DTB: kernel upgrades overwrite /boot/dtbs, the hook puts the cap back. */
export function batteryCapFiles(phone: Phone, microvolts: number): BatteryCapFiles {
    const dtb = bootDtbPath(phone.device);
    const { node, property } = phone.device.battery;
    return {
        dtb,
        hook: {
            path: "/etc/boot-deploy/hooks/50-k3s-over-usb-battery-cap",
            content: [
                "#!/bin/sh",
                `# ${managedBy}`,
                `# Charge ceiling ${microvolts} µV for ${phone.name}; boot-deploy runs this before it appends the DTB.`,
                "set -eu",
                `dtb=${dtb}`,
                '[ -f "$dtb" ] || exit 0',
                `cur=$(fdtget -t u "$dtb" ${node} ${property})`,
                `[ "$cur" = ${microvolts} ] || fdtput -t u "$dtb" ${node} ${property} ${microvolts}`,
                "",
            ].join("\n"),
        },
    };
}

/** Run as the phone's SSH user by the laptop's cleanup key (forced command): uninstall, then revoke itself. */
export function agentUninstall(phone: Phone): { readonly path: string; readonly content: string } {
    return {
        path: agentUninstallPath,
        content: [
            "#!/bin/sh",
            `# ${managedBy}`,
            "# The laptop runs this over SSH when the agent is deleted; the operator's machine may not reach the phone then.",
            "set -eu",
            `# ${phone.name} becomes root with: ${phone.escalation}.`,
            escalationLine(phone.escalation),
            "if [ -x /usr/local/bin/k3s-agent-uninstall.sh ]; then",
            "\t$esc /usr/local/bin/k3s-agent-uninstall.sh",
            "fi",
            "$esc rm -rf /etc/rancher/k3s",
            "sed -i '/k3s-over-usb-cleanup/d' \"$HOME/.ssh/authorized_keys\"",
            `$esc rm -f ${agentUninstallPath}`,
            "echo uninstalled",
            "",
        ].join("\n"),
    };
}

export const agentUninstallPath = "/etc/k3s-over-usb/uninstall-agent.sh";

/** The only thing the laptop's cleanup key may do on a phone. */
export function cleanupAuthorizedLine(publicKey: string, laptopName: string): string {
    return `restrict,command="/bin/sh ${agentUninstallPath}" ${publicKey.trim()} k3s-over-usb-cleanup@${laptopName}`;
}

export const cleanupKeyPath = "/etc/k3s-over-usb/cleanup/id_ed25519";
