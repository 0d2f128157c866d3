import { managedBy, renderIni, renderYaml } from "../render";
import type { Household, Laptop, Phone } from "../../household/model";

// Files the laptop receives for one phone's link. Every file is owned by exactly one phone, so links
// are added and removed independently and in parallel without fighting over a shared file.

export interface LaptopLinkFiles {
    readonly linkFile: { readonly path: string; readonly content: string };
    readonly netplan: { readonly path: string; readonly content: string };
    readonly sysctl: { readonly path: string; readonly content: string };
    readonly nat: { readonly path: string; readonly content: string; readonly table: string };
    readonly natUnit: { readonly path: string; readonly name: string; readonly content: string };
}

/** nft identifiers take no '-', DNS labels take no '_': the mapping cannot collide. */
export function natTableName(phone: Phone): string {
    return `k3ou_nat_${phone.name.replace(/-/g, "_")}`;
}

export function laptopLinkFiles(laptop: Laptop, phone: Phone): LaptopLinkFiles {
    const iface = phone.link.laptopInterface;
    // Not "k3s*.service": k3s's uninstall script keeps the k3s binary while any unit of that name
    // remains, and this unit outlives the server on destroy (the server depends on it).
    const unitName = `k3ou-nat-${phone.name}.service`;
    const natPath = `/etc/k3s-over-usb/nat-${phone.name}.nft`;
    const table = natTableName(phone);
    return {
        // A .link file matches ID_PATH after path_id has run; a udev rule numbered below 80 would
        // never see ID_PATH (it is imported in 80-net-setup-link.rules).
        linkFile: {
            path: `/etc/systemd/network/10-k3s-over-usb-${phone.name}.link`,
            content: renderIni(
                [managedBy, `The USB cable of ${phone.name} (${phone.device.model}): named by hub port, whatever MAC the gadget shows.`],
                [
                    ["Match", [["Path", phone.hubPort]]],
                    ["Link", [["Name", iface]]],
                ],
            ),
        },
        netplan: {
            path: `/etc/netplan/60-k3s-over-usb-${phone.name}.yaml`,
            content: renderYaml([managedBy, `Laptop end of ${phone.name}'s routed /30: no bridge (br_netfilter drops pod traffic).`], {
                network: {
                    version: 2,
                    ethernets: {
                        [iface]: {
                            // Per device, so Ubuntu's global NetworkManager renderer stays for the rest.
                            renderer: "networkd",
                            dhcp4: false,
                            dhcp6: false,
                            // IPv6 link-local stays on: it is how a fresh or reflashed phone is reached.
                            "link-local": ["ipv6"],
                            addresses: [`${phone.link.laptopAddress}/${phone.link.prefix}`],
                            // An unplugged phone must not hold up the laptop's boot.
                            optional: true,
                        },
                    },
                },
            }),
        },
        sysctl: {
            path: `/etc/sysctl.d/60-k3s-over-usb-${phone.name}.conf`,
            content: [
                `# ${managedBy}`,
                `# ${phone.name}'s traffic is routed, not bridged, through the laptop.`,
                "net.ipv4.ip_forward = 1",
                "net.ipv4.conf.all.rp_filter = 0",
                // default, not the link's own key: the link may not exist yet (phone unplugged), and
                // "default" is what it inherits when it appears.
                "net.ipv4.conf.default.rp_filter = 0",
                "",
            ].join("\n"),
        },
        nat: {
            path: natPath,
            table,
            // "table; delete table; table {...}" replaces the table atomically whether or not it exists.
            content: [
                "#!/usr/sbin/nft -f",
                `# ${managedBy}`,
                `# ${phone.name} reaches the LAN and beyond through the laptop; phone-to-phone traffic is not NATed.`,
                `table ip ${table}`,
                `delete table ip ${table}`,
                `table ip ${table} {`,
                "\tchain postrouting {",
                "\t\ttype nat hook postrouting priority srcnat; policy accept;",
                `\t\tip saddr ${phone.link.subnet} oifname "${laptop.lan.interface}" masquerade`,
                "\t}",
                "}",
                "",
            ].join("\n"),
        },
        natUnit: {
            path: `/etc/systemd/system/${unitName}`,
            name: unitName,
            // Pods on a phone hang in ContainerCreating when NAT comes after k3s: order it before.
            content: renderIni(
                [managedBy],
                [
                    [
                        "Unit",
                        [
                            ["Description", `k3s-over-usb: NAT for ${phone.name} out of ${laptop.lan.interface}`],
                            ["After", "network-online.target"],
                            ["Wants", "network-online.target"],
                            ["Before", "k3s.service"],
                        ],
                    ],
                    [
                        "Service",
                        [
                            ["Type", "oneshot"],
                            ["RemainAfterExit", "yes"],
                            ["ExecStart", `/usr/sbin/nft -f ${natPath}`],
                            ["ExecStop", `/usr/sbin/nft delete table ip ${table}`],
                        ],
                    ],
                    ["Install", [["WantedBy", "multi-user.target"]]],
                ],
            ),
        },
    };
}

/** Addresses every client may use to reach the API server: the LAN side and each link's laptop end. */
export function serverTlsSans(household: Household): string[] {
    return [household.laptop.lan.address, household.laptop.name, ...household.phones.map((p) => p.link.laptopAddress)];
}
