import * as fs from "fs";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Access } from "../../components/access";
import { householdGraph } from "../../components/graph";
import { managedBy } from "../../hosts/render";
import { labHousehold, labStatus } from "../../lab/household";
import { parseHousehold, type Household, type Phone } from "../../household/model";
import { converge, replay, teardown, type Executed } from "./harness";
import { LabHosts, lab } from "./hosts";

// Issue 3's proof: every remote step of UsbLink, PmosNode and BatteryCap runs for real, over SSH
// through the laptop, in the graph's order, against a fresh day-zero lab; the assertions look at
// the hosts themselves (addresses, routes, rulesets, device-tree bytes, pings), not at what was sent.

let household: Household;
let hosts: LabHosts;
let executed: Executed[];

/** The program's own graph, the hosts' steps only (no k3s, no MetalLB). */
function build(h: Household, access: Access): void {
    householdGraph({ household: h, access, contextName: "k3s-over-usb-lab", k3s: false });
}

const liveCap = "od -An -tx1 /sys/firmware/devicetree/base/battery/voltage-max-design-microvolt";

async function expectConvergedNetwork(): Promise<void> {
    const links = await hosts.onLaptop("ip -o -4 addr show");
    for (const phone of household.phones) {
        expect(links, phone.name).toMatch(new RegExp(`\\b${phone.link.laptopInterface}\\s+inet ${phone.link.laptopAddress}/30 `));
        const props = await hosts.onLaptop(`udevadm info -q property -p /sys/class/net/${phone.link.laptopInterface}`);
        expect(props).toContain(`ID_PATH=${phone.hubPort}\n`);
        expect((await hosts.onPhone(phone, "hostname; cat /etc/hostname")).split("\n").slice(0, 2)).toEqual([phone.name, phone.name]);
        expect(await hosts.onPhone(phone, "ip -o -4 addr show dev usb0 | awk '{print $4}'")).toBe(`${phone.link.phoneAddress}/30\n`);
        expect(await hosts.onPhone(phone, "ip route show default")).toMatch(new RegExp(`^default via ${phone.link.laptopAddress} dev usb0`));
    }
}

beforeAll(async () => {
    household = parseHousehold(labHousehold(labStatus()), "lab stack");
    hosts = new LabHosts(household);
    const access = new Access(household, hosts.privateKey);
    executed = await converge(() => build(household, access));
}, 600_000);

afterAll(() => {
    hosts = undefined as unknown as LabHosts;
});

describe("the program's steps on a fresh day-zero lab", () => {
    it("ran every step of every phone, in dependency order", () => {
        const names = executed.map((e) => e.name);
        for (const p of household.phones) {
            const order = [`${p.name}-laptop-link`, `${p.name}-locate`, `${p.name}-adopt`, `${p.name}-phone-link`, `${p.name}-node`, `${p.name}-battery-cap`].map((n) =>
                names.indexOf(n),
            );
            expect(order.every((i) => i >= 0), p.name).toBe(true);
            expect([...order].sort((a, b) => a - b)).toEqual(order);
        }
        // Day zero: every phone was found by IPv6 link-local on its own cable.
        for (const p of household.phones) {
            expect(executed.find((e) => e.name === `${p.name}-locate`)!.result.stdout).toMatch(new RegExp(`^fe80:[0-9a-f:]+%${p.link.laptopInterface}\\n$`));
        }
    });

    it("each phone has its hostname, its /30 on usb0 and its default route; the laptop names each link by its port", async () => {
        await expectConvergedNetwork();
    });

    it("the pmOS forward chain accepts cni0/flannel.1 traffic and the host firewall is still on", async () => {
        for (const phone of household.phones) {
            const forward = await hosts.onPhone(phone, "nft list chain inet filter forward");
            expect(forward).toContain("policy drop;");
            expect(forward).toContain('iifname { "cni0", "flannel.1" } accept');
            expect(forward).toContain('oifname { "cni0", "flannel.1" } accept');
            expect(await hosts.onPhone(phone, "nft list chain inet filter input")).toContain("policy drop;");
            expect(await hosts.onPhone(phone, "rc-update show default")).toMatch(/\bnftables\b/);
        }
        // A pod stand-in behind cni0 on one phone reaches the laptop: the forward chain lets it out.
        const phone = household.phones[0]!;
        const podNet = "10.42.77";
        await hosts.onLaptop(`ip route replace ${podNet}.0/24 via ${phone.link.phoneAddress}`);
        try {
            const out = await hosts.onPhone(
                phone,
                [
                    "ip netns add k3ou-pod",
                    "ip link add cni0 type veth peer name eth0 netns k3ou-pod",
                    `ip addr add ${podNet}.1/24 dev cni0`,
                    "ip link set cni0 up",
                    `ip -n k3ou-pod addr add ${podNet}.2/24 dev eth0`,
                    "ip -n k3ou-pod link set eth0 up",
                    `ip -n k3ou-pod route add default via ${podNet}.1`,
                    `ip netns exec k3ou-pod ping -c 2 -W 2 ${phone.link.laptopAddress} >/dev/null && echo pod-reached-laptop`,
                ].join(" && "),
            );
            expect(out).toBe("pod-reached-laptop\n");
        } finally {
            await hosts.onPhone(phone, "ip link del cni0 2>/dev/null; ip netns del k3ou-pod 2>/dev/null; true");
            await hosts.onLaptop(`ip route del ${podNet}.0/24 2>/dev/null; true`);
        }
    });

    it("every node pings every other node's address: the (N+1)x(N+1) host matrix", async () => {
        const nodes: Array<{ name: string; address: string; run: (s: string) => Promise<string> }> = [
            { name: household.laptop.name, address: household.laptop.lan.address, run: (s) => hosts.onLaptop(s) },
            ...household.phones.map((p: Phone) => ({ name: p.name, address: p.link.phoneAddress, run: (s: string) => hosts.onPhone(p, s) })),
        ];
        const script = nodes.map((d) => `if ping -c 1 -W 2 ${d.address} >/dev/null 2>&1; then printf ok; else printf FAIL; fi; echo`).join("; ");
        const matrix: string[][] = [];
        for (const src of nodes) {
            matrix.push((await src.run(script)).trim().split("\n"));
        }
        console.log(
            [["", ...nodes.map((n) => n.name)].join("\t"), ...matrix.map((row, i) => [nodes[i]!.name, ...row].join("\t"))].join("\n"),
        );
        expect(matrix).toEqual(nodes.map(() => nodes.map(() => "ok")));
    });

    it("a VXLAN device between each phone and the laptop carries traffic (the path flannel will use)", async () => {
        for (const [i, phone] of household.phones.entries()) {
            const vni = 4000 + i;
            const inner = `172.31.${i}`;
            await hosts.onLaptop(
                `ip link add k3ou-vx${i} type vxlan id ${vni} dstport 8472 local ${phone.link.laptopAddress} remote ${phone.link.phoneAddress} dev ${phone.link.laptopInterface} && ip addr add ${inner}.1/30 dev k3ou-vx${i} && ip link set k3ou-vx${i} up`,
            );
            try {
                await hosts.onPhone(
                    phone,
                    `ip link add k3ou-vx type vxlan id ${vni} dstport 8472 local ${phone.link.phoneAddress} remote ${phone.link.laptopAddress} dev usb0 && ip addr add ${inner}.2/30 dev k3ou-vx && ip link set k3ou-vx up`,
                );
                expect(await hosts.onPhone(phone, `ping -c 2 -W 2 ${inner}.1 >/dev/null && echo vxlan-ok`)).toBe("vxlan-ok\n");
            } finally {
                await hosts.onPhone(phone, "ip link del k3ou-vx 2>/dev/null; true");
                await hosts.onLaptop(`ip link del k3ou-vx${i} 2>/dev/null; true`);
            }
        }
    });

    it("phones reach the LAN router through the laptop's NAT (the router has no route back to the links)", async () => {
        expect(lab("exec", "router", "--", "sh", "-c", "ip route show 10.0.0.0/8; ip route show default")).toBe("");
        for (const phone of household.phones) {
            expect(await hosts.onPhone(phone, `ping -c 1 -W 2 ${household.laptop.lan.gateway} >/dev/null && echo reached`)).toBe("reached\n");
        }
    });

    it("phones resolve names with the LAN's resolvers (laptop.lan.dns), asked through the laptop's NAT; NetworkManager leaves the file alone", async () => {
        const log = path.join(labStatus().stateDir, "router", "dns.log");
        const before = fs.readFileSync(log, "utf8").length;
        for (const phone of household.phones) {
            expect(await hosts.onPhone(phone, "cat /etc/resolv.conf"), phone.name).toBe(
                `# ${managedBy}\n${household.laptop.lan.dns.map((d) => `nameserver ${d}\n`).join("")}`,
            );
            expect(await hosts.onPhone(phone, "cat /etc/NetworkManager/conf.d/50-k3s-over-usb-dns.conf"), phone.name).toContain("[main]\ndns=none\n");
            expect(await hosts.onPhone(phone, "getent hosts registry.k3ou.lab"), phone.name).toMatch(new RegExp(`^${household.laptop.lan.gateway.replace(/\./g, "\\.")}\\s+registry\\.k3ou\\.lab\\n$`));
        }
        // The router saw each question come from the laptop's LAN address: the phones' own /30
        // addresses never reach the LAN.
        const asked = fs.readFileSync(log, "utf8").slice(before);
        expect(asked).toMatch(new RegExp(`query from ${household.laptop.lan.address.replace(/\./g, "\\.")}: registry\\.k3ou\\.lab`));
        expect(asked).not.toMatch(/query from 10\./);
    });

    it("the DTB that boots holds 3800000 µV and the flashed boot image carries it", async () => {
        const status = labStatus();
        for (const phone of household.phones) {
            const dtb = `/boot/dtbs/${phone.device.dtb}.dtb`;
            expect(await hosts.onPhone(phone, `fdtget -t u ${dtb} /battery voltage-max-design-microvolt`)).toBe("3800000\n");
            const capped = Buffer.from(await hosts.onPhone(phone, `base64 ${dtb} | tr -d '\\n'`), "base64");
            const partition = fs.readFileSync(path.join(status.stateDir, phone.name, "partitions", "boot_a"));
            expect(partition.includes(capped), `${phone.name}: boot partition holds the capped DTB`).toBe(true);
            expect(await hosts.onPhone(phone, liveCap)).toBe(" 00 43 23 80\n");
        }
    });

    it("every step, run a second time, changes nothing", async () => {
        const snapshot = async () => {
            const parts = [await hosts.onLaptop("ip -o addr; ip route; nft list ruleset; md5sum /etc/systemd/network/* /etc/netplan/* /etc/sysctl.d/* /etc/k3s-over-usb/*")];
            for (const p of household.phones) {
                parts.push(
                    await hosts.onPhone(
                        p,
                        "hostname; ip -o addr; ip route; nft list ruleset; md5sum /etc/deviceinfo /etc/hostname /etc/hosts /etc/rc.conf /etc/local.d/* /etc/nftables.d/* /etc/boot-deploy/hooks/* /boot/dtbs/qcom/* /boot/boot.img",
                    ),
                );
            }
            return parts;
        };
        const before = await snapshot();
        const again = await replay(executed);
        expect(await snapshot()).toEqual(before);
        for (const e of again) {
            expect(e.result.stderr, e.name).not.toMatch(/: (wrote|removed|renamed|pinned|loaded|enabled|rebuilt|NAT loaded|applied|mode fixed):/);
        }
    });

    it("hostname, the /30, the route, link names and radios survive lab:reboot of every host; the live tree holds 00 39 fb c0", async () => {
        lab("reboot", "k3master");
        for (const p of household.phones) {
            lab("reboot", p.name);
        }
        await expectConvergedNetwork();
        for (const phone of household.phones) {
            expect(await hosts.onPhone(phone, liveCap)).toBe(" 00 39 fb c0\n");
            expect(await hosts.onPhone(phone, "nmcli radio wifi; nmcli radio wwan")).toBe("disabled\ndisabled\n");
            expect(await hosts.onPhone(phone, "rfkill list bluetooth")).toMatch(/Soft blocked: yes/);
            // The pinned gadget MAC is what the laptop sees after the phone's reboot.
            expect(await hosts.onLaptop(`cat /sys/class/net/${phone.link.laptopInterface}/address`)).toBe(`${phone.gadgetHostMac}\n`);
            expect(await hosts.onPhone(phone, "nft list chain inet filter forward")).toContain('iifname { "cni0", "flannel.1" } accept');
        }
    });

    it("a kernel upgrade that ships a stock DTB keeps the cap", async () => {
        const phone = household.phones[0]!;
        lab("kernel-upgrade", phone.name);
        expect(await hosts.onPhone(phone, `fdtget -t u /boot/dtbs/${phone.device.dtb}.dtb /battery voltage-max-design-microvolt`)).toBe("3800000\n");
        lab("reboot", phone.name);
        expect(await hosts.onPhone(phone, liveCap)).toBe(" 00 39 fb c0\n");
    });

    it("a full /boot stops a cap change before anything is written, naming the phone; the phone boots its old image; once space is freed the next run converges", async () => {
        const phone = household.phones[1]!;
        const dtb = `/boot/dtbs/${phone.device.dtb}.dtb`;
        const step = executed.find((e) => e.name === `${phone.name}-battery-cap`)!;
        const partition = path.join(labStatus().stateDir, phone.name, "partitions", "boot_a");
        const bootFiles = `md5sum ${dtb} /boot/boot.img /boot/initramfs /boot/initramfs-extra /etc/boot-deploy/hooks/*; cat /var/lib/k3s-over-usb/battery-cap.boot-image`;
        const before = { files: await hosts.onPhone(phone, bootFiles), partition: fs.readFileSync(partition) };
        // The partition is a 256 MiB filesystem of its own, as pmbootstrap makes it.
        expect(await hosts.onPhone(phone, "df -Pk /boot | awk 'NR == 2 {print $2}'")).toBe("262144\n");
        await hosts.onPhone(phone, "dd if=/dev/zero of=/boot/filler bs=1M 2>/dev/null || true; sync");
        const raised = { ...step, stdin: step.stdin!.replaceAll("3800000", "3900000") };
        try {
            const [failed] = await replay([raised]).then(
                () => [undefined],
                (e: Error) => [e.message],
            );
            expect(failed).toMatch(new RegExp(`k3s-over-usb: ${phone.name}: battery-cap: FAILED: /boot is full: \\d+ KiB free, rebuilding the boot image needs about \\d+ KiB; nothing was changed`));
            expect(failed).toContain("fix: free space on the phone's /boot");
            expect(await hosts.onPhone(phone, bootFiles)).toBe(before.files);
            expect(fs.readFileSync(partition).equals(before.partition), "the boot partition was not flashed").toBe(true);
            expect(await hosts.onPhone(phone, "ls /boot/dtbs/qcom | grep -c k3ou-tmp || true")).toBe("0\n");
            lab("reboot", phone.name);
            expect(await hosts.onPhone(phone, liveCap)).toBe(" 00 39 fb c0\n");
        } finally {
            await hosts.onPhone(phone, "rm -f /boot/filler");
        }
        // Space freed: the same run converges, then the household's own value again.
        const [raisedAgain] = await replay([raised]);
        expect(raisedAgain!.result.stderr).toContain("rebuilt the boot image with 3900000");
        expect(await hosts.onPhone(phone, `fdtget -t u ${dtb} /battery voltage-max-design-microvolt`)).toBe("3900000\n");
        const [restored] = await replay([step]);
        expect(restored!.result.stderr).toContain("rebuilt the boot image with 3800000");
        const [noop] = await replay([step]);
        expect(noop!.result.stderr).not.toMatch(/: (wrote|rebuilt)/);
    });

    it("running every step's undo, newest first, returns the hosts to day zero", async () => {
        await teardown(executed);
        const laptop = () => lab("exec", "laptop", "--", "sh", "-c", "ls /etc/systemd/network /etc/netplan /etc/sysctl.d /etc/systemd/system 2>&1; nft list tables; ip -o -4 addr");
        expect(laptop()).not.toMatch(/k3s-over-usb|k3ou_nat|10\.0\.\d+\.1/);
        for (const phone of household.phones) {
            const state = () =>
                lab(
                    "exec",
                    phone.name,
                    "--",
                    "sh",
                    "-c",
                    `hostname; ip -o -4 addr show dev usb0 | awk '{print $4}'; ip route show default; cat /etc/deviceinfo; ls /etc/nftables.d /etc/local.d /etc/NetworkManager/conf.d 2>&1; wc -c </etc/resolv.conf; fdtget -t u /boot/dtbs/${phone.device.dtb}.dtb /battery voltage-max-design-microvolt`,
                );
            // usb0 switches back once the step's own session has closed.
            let out = state();
            for (let tries = 0; tries < 20 && !out.includes("172.16.42.1/16"); tries++) {
                await new Promise((r) => setTimeout(r, 500));
                out = state();
            }
            expect(out, phone.name).toContain(`${phone.device.defaultHostname}\n172.16.42.1/16\n`);
            expect(out, phone.name).not.toMatch(/default via|deviceinfo_usb_network_host_addr|k3s-over-usb/);
            expect(out.trim().split("\n").pop(), phone.name).toBe("4400000");
            // pmOS's own resolv.conf is empty; the undo gives it back as it was.
            expect(out.trim().split("\n").at(-2), phone.name).toBe("0");
        }
        // A name udev gave stays until the cable re-enumerates; after the phones reboot, every link
        // is back to the name an unconfigured USB NIC gets, and the live tree to the stock value.
        for (const phone of household.phones) {
            lab("reboot", phone.name);
        }
        const links = lab("exec", "laptop", "--", "ip", "-br", "link");
        for (const p of labStatus().phones) {
            expect(links).toContain(`${p.laptopIfaceDayZero}@`);
        }
        expect(links).not.toContain("usb-one");
        for (const phone of household.phones) {
            expect(lab("exec", phone.name, "--", "sh", "-c", liveCap)).toBe(" 00 43 23 80\n");
        }
    });
});
