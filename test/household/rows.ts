// One mutation of the homelab household per validation rule, with the exact lines the user reads.

export interface Row {
    readonly rule: string;
    readonly mutate: (h: Record<string, any>) => void;
    readonly expected: ReadonlyArray<string>;
}

const ipv4Fix = "write a dotted-quad IPv4 address such as 192.168.100.52 (each part 0-255, no leading zeros)";
const hostKeyFix = "paste the host's public key as 'TYPE BASE64' (ssh-keyscan HOST or /etc/ssh/ssh_host_ed25519_key.pub prints it; a comment after it is fine)";
const portFix = "write a TCP port from 1 to 65535 (sshd listens on 22 unless told otherwise)";
/** A real ed25519 public key blob (another host's), for keys that are well formed but wrong. */
const ed25519Blob = "AAAAC3NzaC1lZDI1NTE5AAAAIAs4Xxyu260KEKwrmtIx0smmyPVyQ2O63odIq534/kor";
/** A well-formed SHA-256 digest: the digit repeated. */
const pin = (digit: string): string => digit.repeat(64);

export const rows: ReadonlyArray<Row> = [
    {
        rule: "duplicate-name",
        mutate: (h) => {
            h.phones[2].name = "one62";
        },
        expected: [
            "phones[2].name: repeats phones[1].name [duplicate-name]; value one62; fix: give every host its own name: it becomes the hostname and the k3s node name",
        ],
    },
    {
        rule: "dns-label",
        mutate: (h) => {
            h.phones[0].name = "One_6T";
        },
        expected: [
            "phones[0].name: is not a DNS label [dns-label]; value One_6T; fix: use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
        ],
    },
    {
        rule: "interface-name-length",
        mutate: (h) => {
            h.phones[0].name = "oneplus6t-ab";
        },
        expected: [
            "phones[0].name: makes the laptop interface usb-oneplus6t-ab longer than Linux's 15 characters [interface-name-length]; value oneplus6t-ab; fix: shorten the phone's name to at most 11 characters",
        ],
    },
    {
        rule: "link-overlap-phone",
        mutate: (h) => {
            h.phones[1].link = { subnet: "10.0.1.0/30" };
        },
        expected: [
            "phones[1].link.subnet: overlaps phones[0].link.subnet (one6t) [link-overlap]; value 10.0.1.0/30; fix: give each phone its own /30",
        ],
    },
    {
        rule: "link-overlap-lan",
        mutate: (h) => {
            h.phones[0].link = { subnet: "192.168.100.4/30" };
        },
        expected: [
            "phones[0].link.subnet: overlaps the LAN (laptop.lan.address) [link-overlap]; value 192.168.100.4/30; fix: choose a /30 outside the LAN and the cluster's ranges",
        ],
    },
    {
        rule: "link-overlap-cluster",
        mutate: (h) => {
            h.phones[0].link = { subnet: "10.42.7.0/30" };
        },
        expected: [
            "phones[0].link.subnet: overlaps the cluster CIDR (k3s.clusterCidr) [link-overlap]; value 10.42.7.0/30; fix: choose a /30 outside the LAN and the cluster's ranges",
        ],
    },
    {
        rule: "link-overlap-service",
        mutate: (h) => {
            h.phones[0].link = { subnet: "10.43.0.8/30" };
        },
        expected: [
            "phones[0].link.subnet: overlaps the service CIDR (k3s.serviceCidr) [link-overlap]; value 10.43.0.8/30; fix: choose a /30 outside the LAN and the cluster's ranges",
        ],
    },
    {
        rule: "link-prefix",
        mutate: (h) => {
            h.phones[0].link = { subnet: "10.0.1.0/29" };
        },
        expected: [
            "phones[0].link.subnet: is not a /30 [link-prefix]; value 10.0.1.0/29; fix: give each phone a /30, e.g. 10.0.1.0/30",
        ],
    },
    {
        rule: "cidr-network",
        mutate: (h) => {
            h.phones[0].link = { subnet: "10.0.1.1/30" };
        },
        expected: [
            "phones[0].link.subnet: is not the network address of its /30 [cidr-network]; value 10.0.1.1/30; fix: write 10.0.1.0/30",
        ],
    },
    {
        rule: "link-pair",
        mutate: (h) => {
            h.phones[0].link.phone = "10.0.1.3";
        },
        expected: [
            "phones[0].link.phone: is not one of 10.0.1.0/30's usable pair 10.0.1.1 and 10.0.1.2 [link-pair]; value 10.0.1.3; fix: use 10.0.1.2 (or leave it out for that default)",
        ],
    },
    {
        rule: "link-pair-same",
        mutate: (h) => {
            h.phones[0].link.phone = "10.0.1.1";
        },
        expected: [
            "phones[0].link.phone: is the same address as the laptop end [link-pair]; value 10.0.1.1; fix: the phone takes the other usable address of the /30",
        ],
    },
    {
        rule: "pool-outside-lan",
        mutate: (h) => {
            h.metallb.pool.addresses = "192.168.101.200-192.168.101.220";
        },
        expected: [
            "metallb.pool.addresses: is not inside the LAN 192.168.100.0/24 [pool-outside-lan]; value 192.168.101.200-192.168.101.220; fix: pick free addresses on the laptop's LAN (MetalLB L2 answers ARP there)",
        ],
    },
    {
        rule: "pool-contains-laptop",
        mutate: (h) => {
            h.metallb.pool.addresses = "192.168.100.50-192.168.100.60";
        },
        expected: [
            "metallb.pool.addresses: contains the laptop's address 192.168.100.52 [pool-contains-laptop]; value 192.168.100.50-192.168.100.60; fix: start the pool above the laptop's address",
        ],
    },
    {
        rule: "pool-contains-gateway",
        mutate: (h) => {
            h.metallb.pool.addresses = "192.168.100.1-192.168.100.9";
        },
        expected: [
            "metallb.pool.addresses: contains the gateway 192.168.100.1 [pool-contains-gateway]; value 192.168.100.1-192.168.100.9; fix: keep the router's address out of the pool",
        ],
    },
    {
        rule: "battery-cap-range-low",
        mutate: (h) => {
            h.phones[1].batteryCapMicrovolts = 3500000;
        },
        expected: [
            "phones[1].batteryCapMicrovolts: is outside the safe range 3600000-4400000 µV [battery-cap-range]; value 3500000; fix: write microvolts, not volts or millivolts: 3800000 is 3.8 V (about 70 % charge); null keeps the stock value",
        ],
    },
    {
        rule: "battery-cap-range-high",
        mutate: (h) => {
            h.phones[1].batteryCapMicrovolts = 4450000;
        },
        expected: [
            "phones[1].batteryCapMicrovolts: is outside the safe range 3600000-4400000 µV [battery-cap-range]; value 4450000; fix: write microvolts, not volts or millivolts: 3800000 is 3.8 V (about 70 % charge); null keeps the stock value",
        ],
    },
    {
        rule: "battery-cap-volts",
        mutate: (h) => {
            h.phones[1].batteryCapMicrovolts = 4;
        },
        expected: [
            "phones[1].batteryCapMicrovolts: is outside the safe range 3600000-4400000 µV [battery-cap-range]; value 4; fix: write microvolts, not volts or millivolts: 3800000 is 3.8 V (about 70 % charge); null keeps the stock value",
        ],
    },
    {
        rule: "mac-multicast",
        mutate: (h) => {
            h.phones[0].gadgetHostMac = "17:26:d6:df:e9:bb";
        },
        expected: [
            "phones[0].gadgetHostMac: is a multicast (group) address [mac-multicast]; value 17:26:d6:df:e9:bb; fix: clear bit 0 of the first octet, e.g. 02:...",
        ],
    },
    {
        rule: "mac-not-local",
        mutate: (h) => {
            h.phones[0].gadgetHostMac = "14:26:d6:df:e9:bb";
        },
        expected: [
            "phones[0].gadgetHostMac: is a vendor (universally administered) address, which a gadget must not claim [mac-not-local]; value 14:26:d6:df:e9:bb; fix: set bit 1 of the first octet (x2, x6, xa or xe), e.g. 02:50:4d:06:00:01",
        ],
    },
    {
        rule: "lan-mac-multicast",
        mutate: (h) => {
            h.laptop.lan.mac = "01:00:5e:00:00:01";
        },
        expected: [
            "laptop.lan.mac: is a multicast (group) address [mac-multicast]; value 01:00:5e:00:00:01; fix: copy the dongle's own MAC from `ip link show`",
        ],
    },
    {
        rule: "mac-format",
        mutate: (h) => {
            h.phones[0].gadgetHostMac = "16-26-d6-df-e9-bb";
        },
        expected: [
            "phones[0].gadgetHostMac: is not a MAC address [mac]; value 16-26-d6-df-e9-bb; fix: write six hex pairs separated by ':', e.g. 02:50:4d:06:00:01",
        ],
    },
    {
        rule: "duplicate-mac",
        mutate: (h) => {
            h.phones[1].gadgetHostMac = "16:26:d6:df:e9:bb";
        },
        expected: [
            "phones[1].gadgetHostMac: is also phones[0].gadgetHostMac [duplicate-mac]; value 16:26:d6:df:e9:bb; fix: give each phone its own gadget MAC",
        ],
    },
    {
        rule: "hub-port",
        mutate: (h) => {
            h.phones[0].hubPort = "usb-5.2";
        },
        expected: [
            "phones[0].hubPort: is not a udev ID_PATH of a USB port [hub-port]; value usb-5.2; fix: copy ID_PATH from `udevadm info -q property -p /sys/class/net/IFACE`, e.g. pci-0000:00:14.0-usb-0:5.2:1.0",
        ],
    },
    {
        rule: "hub-port-controller",
        mutate: (h) => {
            h.phones[0].hubPort = "pci-0000:00:1d.0-usb-0:1.2:1.0";
        },
        expected: [
            "phones[0].hubPort: is not on the laptop's USB controller pci-0000:00:14.0 [hub-port-controller]; value pci-0000:00:1d.0-usb-0:1.2:1.0; fix: correct laptop.usbController or the port path",
        ],
    },
    {
        rule: "duplicate-hub-port",
        mutate: (h) => {
            h.phones[1].hubPort = "pci-0000:00:14.0-usb-0:5.2:1.0";
        },
        expected: [
            "phones[1].hubPort: is also the port of phones[0] [duplicate-hub-port]; value pci-0000:00:14.0-usb-0:5.2:1.0; fix: each phone has its own cable and port",
        ],
    },
    {
        rule: "unknown-device",
        mutate: (h) => {
            h.phones[0].device = "oneplus-dumpling";
        },
        expected: [
            "phones[0].device: is not a known device profile [unknown-device]; value oneplus-dumpling; fix: use one of oneplus-enchilada, oneplus-fajita, or add hosts/pmos/devices/oneplus-dumpling.json",
        ],
    },
    {
        rule: "k3s-unpinned",
        mutate: (h) => {
            h.k3s.version = "stable";
        },
        expected: [
            "k3s.version: is not a pinned version [pinned-version]; value stable; fix: pin an exact k3s release such as v1.35.5+k3s1 (channels like 'stable' or 'latest' move under you)",
        ],
    },
    {
        rule: "metallb-unpinned",
        mutate: (h) => {
            h.metallb.version = "latest";
        },
        expected: [
            "metallb.version: is not a pinned version [pinned-version]; value latest; fix: pin an exact MetalLB release such as v0.15.2",
        ],
    },
    {
        rule: "cidr-overlap",
        mutate: (h) => {
            h.k3s.serviceCidr = "10.42.128.0/17";
        },
        expected: [
            "k3s.serviceCidr: overlaps the cluster CIDR (k3s.clusterCidr) [cidr-overlap]; value 10.42.128.0/17; fix: choose a range that overlaps nothing else in the household",
        ],
    },
    {
        rule: "gateway-outside-lan",
        mutate: (h) => {
            h.laptop.lan.gateway = "192.168.1.1";
        },
        expected: [
            "laptop.lan.gateway: is not inside the LAN 192.168.100.0/24 [gateway-outside-lan]; value 192.168.1.1; fix: use the router's address on the laptop's LAN",
        ],
    },
    {
        rule: "speaker-on-lan",
        mutate: (h) => {
            h.metallb.speakerNode = "one6t";
        },
        expected: [
            "metallb.speakerNode: is not the laptop, the only node with a LAN interface [speaker-on-lan]; value one6t; fix: use k3master: a phone that wins the L2 election cannot answer ARP on the LAN",
        ],
    },
    {
        rule: "l2-interface",
        mutate: (h) => {
            h.metallb.l2.interface = "usb-one6t";
        },
        expected: [
            "metallb.l2.interface: is not the laptop's LAN interface wan0 [l2-interface]; value usb-one6t; fix: use wan0 or leave it out",
        ],
    },
    {
        rule: "managed-flag",
        mutate: (h) => {
            h.k3s.server.extraFlags = ["--node-ip=10.0.0.1"];
        },
        expected: [
            "k3s.server.extraFlags[0]: is set by the program from the household [managed-flag]; value --node-ip=10.0.0.1; fix: remove it; change the household field that derives node-ip instead",
        ],
    },
    {
        rule: "k3s-flag",
        mutate: (h) => {
            h.k3s.agent.extraFlags = ["node-label=x"];
        },
        expected: [
            "k3s.agent.extraFlags[0]: is not a k3s flag [k3s-flag]; value node-label=x; fix: write one flag per entry as --name=value, e.g. --disable=traefik",
        ],
    },
    {
        rule: "host-key",
        mutate: (h) => {
            h.phones[2].ssh.hostKey = "AAAAC3NzaC1lZDI1NTE5AAAAIFh3";
        },
        expected: [
            `phones[2].ssh.hostKey: is not an SSH public host key [host-key]; value AAAAC3NzaC1lZDI1NTE5AAAAIFh3; fix: ${hostKeyFix}`,
        ],
    },
    {
        rule: "unknown-key",
        mutate: (h) => {
            h.phones[0].hubport = h.phones[0].hubPort;
        },
        expected: [
            "phones[0].hubport: is not a setting of this program [unknown-key]; value pci-0000:00:14.0-usb-0:5.2:1.0; fix: remove it or correct its spelling (names are camelCase, e.g. hubPort)",
        ],
    },
    {
        rule: "required",
        mutate: (h) => {
            delete h.laptop.ssh;
        },
        expected: [
            "laptop.ssh: is required [required]; value (missing); fix: set laptop.ssh",
        ],
    },
    {
        rule: "missing-binary",
        mutate: (h) => {
            h.k3s.source = { kind: "local", installScript: "/srv/k3s/install.sh", binaries: { amd64: "/srv/k3s/k3s" }, sha256: { installScript: pin("1"), binaries: { amd64: pin("2"), arm64: pin("3") } } };
        },
        expected: [
            "k3s.source.binaries.arm64: is required: one6t, one62, one61 run arm64 agents [missing-binary]; value (missing); fix: point it at k3s-arm64 from the same release",
        ],
    },
    {
        rule: "missing-pin-install-script",
        mutate: (h) => {
            delete h.k3s.source.sha256.installScript;
        },
        expected: [
            "k3s.source.sha256.installScript: is required: every host checks k3s's install script against it before running it [missing-pin]; value (missing); fix: download the install script of v1.35.5+k3s1 once and write its sha256sum",
        ],
    },
    {
        rule: "missing-pin-default-source",
        mutate: (h) => {
            delete h.k3s.source;
        },
        expected: [
            "k3s.source.sha256.installScript: is required: every host checks k3s's install script against it before running it [missing-pin]; value (missing); fix: download the install script of v1.35.5+k3s1 once and write its sha256sum",
        ],
    },
    {
        rule: "missing-pin-air-gap",
        mutate: (h) => {
            h.k3s.source = {
                kind: "local",
                installScript: "/srv/k3s/install.sh",
                binaries: { amd64: "/srv/k3s/k3s", arm64: "/srv/k3s/k3s-arm64" },
                images: { arm64: "/srv/k3s/images-arm64.tar" },
                sha256: { installScript: pin("1"), binaries: { amd64: pin("2") } },
            };
        },
        expected: [
            "k3s.source.sha256.binaries.arm64: is required: one6t, one62, one61 run arm64 agents [missing-pin]; value (missing); fix: write the output of sha256sum /srv/k3s/k3s-arm64",
            "k3s.source.sha256.images.arm64: is required: one6t, one62, one61 run arm64 agents, and k3s.source.images.arm64 is given [missing-pin]; value (missing); fix: write the output of sha256sum /srv/k3s/images-arm64.tar",
        ],
    },
    {
        rule: "sha256-uppercase",
        mutate: (h) => {
            h.k3s.source.sha256.binaries.arm64 = "267D18DA7B3C837D82283F0588FB9031A8A6FF3C0DAC772C260C40852CE515F6";
        },
        expected: [
            "k3s.source.sha256.binaries.arm64: is not a SHA-256 digest [sha256]; value 267D18DA7B3C837D82283F0588FB9031A8A6FF3C0DAC772C260C40852CE515F6; fix: write the 64 lowercase hex digits of the file's SHA-256",
        ],
    },
    {
        rule: "ipv4-octet-range",
        mutate: (h) => {
            h.phones[0].link.phone = "10.0.1.300";
        },
        expected: [`phones[0].link.phone: is not an IPv4 address [ipv4]; value 10.0.1.300; fix: ${ipv4Fix}`],
    },
    {
        rule: "ipv4-leading-zero",
        mutate: (h) => {
            h.phones[0].link.laptop = "10.0.1.01";
        },
        expected: [`phones[0].link.laptop: is not an IPv4 address [ipv4]; value 10.0.1.01; fix: ${ipv4Fix}`],
    },
    {
        rule: "link-pair-defaulted-laptop",
        mutate: (h) => {
            h.phones[0].link = { subnet: "10.0.1.0/30", phone: "10.0.1.1" };
        },
        expected: [
            "phones[0].link.phone: is the address the laptop end defaults to (the /30's first usable address) [link-pair]; value 10.0.1.1; fix: set link.laptop to 10.0.1.2 too, or leave both ends out",
        ],
    },
    {
        rule: "link-pair-defaulted-phone",
        mutate: (h) => {
            h.phones[0].link = { subnet: "10.0.1.0/30", laptop: "10.0.1.2" };
        },
        expected: [
            "phones[0].link.laptop: is the address the phone end defaults to (the /30's second usable address) [link-pair]; value 10.0.1.2; fix: set link.phone to 10.0.1.1 too, or leave both ends out",
        ],
    },
    {
        rule: "dns-ipv4",
        mutate: (h) => {
            h.laptop.lan.dns = ["1.1.1.1", "999.1.1.1"];
        },
        expected: [`laptop.lan.dns[1]: is not an IPv4 address [ipv4]; value 999.1.1.1; fix: ${ipv4Fix}`],
    },
    {
        rule: "gateway-ipv4",
        mutate: (h) => {
            h.laptop.lan.gateway = "192.168.100.256";
        },
        expected: [`laptop.lan.gateway: is not an IPv4 address [ipv4]; value 192.168.100.256; fix: ${ipv4Fix}`],
    },
    {
        rule: "gateway-is-laptop",
        mutate: (h) => {
            h.laptop.lan.gateway = "192.168.100.52";
        },
        expected: ["laptop.lan.gateway: is the laptop's own address [gateway-is-laptop]; value 192.168.100.52; fix: use the router's address; the laptop routes the phones, not the LAN"],
    },
    {
        rule: "lan-address-prefix",
        mutate: (h) => {
            h.laptop.lan.address = "192.168.100.52/33";
        },
        expected: ["laptop.lan.address: is not an IPv4 network [cidr]; value 192.168.100.52/33; fix: write the address with its prefix, e.g. 192.168.100.52/24"],
    },
    {
        rule: "cluster-cidr-prefix",
        mutate: (h) => {
            h.k3s.clusterCidr = "10.42.0.0/40";
        },
        expected: ["k3s.clusterCidr: is not an IPv4 network [cidr]; value 10.42.0.0/40; fix: write an IPv4 network such as 10.0.1.0/30"],
    },
    {
        rule: "host-key-truncated",
        mutate: (h) => {
            h.phones[0].ssh.hostKey = "ssh-ed25519 AAAA";
        },
        expected: [`phones[0].ssh.hostKey: is not an SSH public host key [host-key]; value ssh-ed25519 AAAA; fix: ${hostKeyFix}`],
    },
    {
        rule: "host-key-made-up",
        mutate: (h) => {
            h.phones[0].ssh.hostKey = "ssh-ed25519 QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=";
        },
        expected: [`phones[0].ssh.hostKey: is not an SSH public host key [host-key]; value ssh-ed25519 QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=; fix: ${hostKeyFix}`],
    },
    {
        rule: "host-key-type-mismatch",
        mutate: (h) => {
            h.laptop.ssh.hostKey = `ssh-rsa ${ed25519Blob}`;
        },
        expected: [`laptop.ssh.hostKey: is not an SSH public host key [host-key]; value ssh-rsa ${ed25519Blob}; fix: ${hostKeyFix}`],
    },
    {
        rule: "port-zero",
        mutate: (h) => {
            h.laptop.ssh.port = 0;
        },
        expected: [`laptop.ssh.port: is not a TCP port [port]; value 0; fix: ${portFix}`],
    },
    {
        rule: "port-above-65535",
        mutate: (h) => {
            h.phones[0].ssh.port = 70000;
        },
        expected: [`phones[0].ssh.port: is not a TCP port [port]; value 70000; fix: ${portFix}`],
    },
    {
        rule: "port-fraction",
        mutate: (h) => {
            h.phones[1].ssh.port = 22.5;
        },
        expected: [`phones[1].ssh.port: is not a TCP port [port]; value 22.5; fix: ${portFix}`],
    },
    {
        rule: "pool-network-address",
        mutate: (h) => {
            h.metallb.pool.addresses = "192.168.100.0-192.168.100.0";
        },
        expected: [
            "metallb.pool.addresses: contains the LAN's network address 192.168.100.0 [pool-network-broadcast]; value 192.168.100.0-192.168.100.0; fix: keep the pool between the LAN's first and last host addresses",
        ],
    },
    {
        rule: "pool-broadcast-address",
        mutate: (h) => {
            h.metallb.pool.addresses = "192.168.100.250-192.168.100.255";
        },
        expected: [
            "metallb.pool.addresses: contains the LAN's broadcast address 192.168.100.255 [pool-network-broadcast]; value 192.168.100.250-192.168.100.255; fix: keep the pool between the LAN's first and last host addresses",
        ],
    },
    {
        rule: "pool-reversed",
        mutate: (h) => {
            h.metallb.pool.addresses = "192.168.100.220-192.168.100.200";
        },
        expected: [
            "metallb.pool.addresses: is not an address range [pool-range]; value 192.168.100.220-192.168.100.200; fix: write the pool as FIRST-LAST, e.g. 192.168.100.200-192.168.100.220 (first not above last)",
        ],
    },
    {
        rule: "pool-octet-range",
        mutate: (h) => {
            h.metallb.pool.addresses = "192.168.100.200-192.168.100.300";
        },
        expected: [
            "metallb.pool.addresses: is not an address range [pool-range]; value 192.168.100.200-192.168.100.300; fix: write the pool as FIRST-LAST, e.g. 192.168.100.200-192.168.100.220 (first not above last)",
        ],
    },
    {
        rule: "duplicate-mac-case",
        mutate: (h) => {
            h.phones[1].gadgetHostMac = h.phones[0].gadgetHostMac.toUpperCase();
        },
        expected: ["phones[1].gadgetHostMac: is also phones[0].gadgetHostMac [duplicate-mac]; value 16:26:d6:df:e9:bb; fix: give each phone its own gadget MAC"],
    },
];
