import * as pulumi from "@pulumi/pulumi";
import { laptopLinkFiles } from "../hosts/laptop/files";
import { deviceinfoLine, usb0Hook } from "../hosts/pmos/files";
import type { Laptop, Phone } from "../household/model";
import type { Access } from "./access";
import { remoteStep } from "./remote-step";

export interface UsbLinkArgs {
    /** The laptop the cable plugs into. */
    readonly laptop: Laptop;
    /** The phone at the other end of the cable. */
    readonly phone: Phone;
    /** Connections to the hosts. */
    readonly access: Access;
}

/**
 * Everything about one USB cable: the laptop names the interface by hub port and routes and NATs the
 * phone's /30; the phone pins its gadget MAC and holds its end of the /30 across reboots. Day zero
 * (every fresh phone at 172.16.42.1 with the same hostname) is handled by finding the phone on its
 * own cable by IPv6 link-local, so phones need not be plugged in one at a time.
 */
export class UsbLink extends pulumi.ComponentResource {
    /** The laptop end's stable interface name. */
    public readonly laptopInterface: pulumi.Output<string>;
    /** The phone's end of the /30, where every later step reaches it. */
    public readonly phoneAddress: pulumi.Output<string>;
    /** Where the phone was found at first contact (its /30 address, or a scoped link-local one). */
    public readonly foundAt: pulumi.Output<string>;

    constructor(name: string, args: UsbLinkArgs, opts?: pulumi.ComponentResourceOptions) {
        super("k3s-over-usb:network:UsbLink", name, {}, opts);
        const { laptop, phone, access } = args;
        const files = laptopLinkFiles(laptop, phone);
        const laptopEnv = {
            LINK_FILE_PATH: files.linkFile.path,
            LINK_FILE: files.linkFile.content,
            NETPLAN_PATH: files.netplan.path,
            NETPLAN: files.netplan.content,
            SYSCTL_PATH: files.sysctl.path,
            SYSCTL: files.sysctl.content,
            NAT_PATH: files.nat.path,
            NAT: files.nat.content,
            NAT_TABLE: files.nat.table,
            NAT_UNIT_PATH: files.natUnit.path,
            NAT_UNIT: files.natUnit.content,
            NAT_UNIT_NAME: files.natUnit.name,
            HUB_PORT: phone.hubPort,
            IFACE: phone.link.laptopInterface,
            LAPTOP_ADDR: `${phone.link.laptopAddress}/${phone.link.prefix}`,
        };
        const laptopLink = remoteStep(
            `${name}-laptop-link`,
            {
                host: access.laptop(),
                step: `usb-link ${phone.name}`,
                script: "hosts/laptop/steps/link.sh",
                env: laptopEnv,
                onDelete: { script: "hosts/laptop/steps/link-delete.sh", env: laptopEnv },
                check: { script: "hosts/laptop/steps/link.check.sh", cable: phone.name },
            },
            { parent: this },
        );

        // Re-run whenever the phone's identity or link changes: a reflashed phone has a new host key
        // and is back at 172.16.42.1.
        const locate = remoteStep(
            `${name}-locate`,
            {
                host: access.laptop(),
                step: `locate ${phone.name}`,
                script: "hosts/laptop/steps/locate-phone.sh",
                env: { IFACE: phone.link.laptopInterface, PHONE_ADDR: phone.link.phoneAddress, PHONE: phone.name },
                triggers: [phone.ssh.hostKey, phone.link.subnet, phone.hubPort],
                check: { none: "it only finds the phone at first contact; the link checks cover the result" },
            },
            { parent: this, dependsOn: [laptopLink] },
        );
        this.foundAt = locate.stdout;

        const phoneAddr = `${phone.link.phoneAddress}/${phone.link.prefix}`;
        const adopt = remoteStep(
            `${name}-adopt`,
            {
                host: access.phone(phone, locate.stdout),
                step: "adopt",
                script: "hosts/pmos/steps/adopt.sh",
                env: { PHONE_ADDR: phoneAddr },
                check: { none: "day zero only; the phone side's link check covers the /30 it sets" },
            },
            { parent: this },
        );

        const usb0 = usb0Hook(phone);
        const phoneEnv = {
            DEVICEINFO_LINE: deviceinfoLine(phone),
            USB0_SCRIPT_PATH: usb0.script.path,
            USB0_SCRIPT: usb0.script.content,
            OPENRC_HOOK_PATH: usb0.openrc.path,
            OPENRC_HOOK: usb0.openrc.content,
            SYSTEMD_UNIT_PATH: usb0.systemd.path,
            SYSTEMD_UNIT: usb0.systemd.content,
            SYSTEMD_UNIT_NAME: usb0.systemd.name,
            PHONE_ADDR: phoneAddr,
            GATEWAY: phone.link.laptopAddress,
        };
        const phoneLink = remoteStep(
            `${name}-phone-link`,
            {
                host: access.phone(phone),
                step: "usb-link",
                script: "hosts/pmos/steps/link.sh",
                env: phoneEnv,
                onDelete: { script: "hosts/pmos/steps/link-delete.sh", env: phoneEnv },
                check: { script: "hosts/pmos/steps/link.check.sh" },
            },
            { parent: this, dependsOn: [adopt] },
        );

        this.laptopInterface = pulumi.output(phoneLink.id).apply(() => phone.link.laptopInterface);
        this.phoneAddress = pulumi.output(phoneLink.id).apply(() => phone.link.phoneAddress);
        this.registerOutputs({ laptopInterface: this.laptopInterface, phoneAddress: this.phoneAddress, foundAt: this.foundAt });
    }
}
