import * as pulumi from "@pulumi/pulumi";
import { nftDropin, nmDnsDropin, phoneResolvConf, phoneSysctl, radiosHook } from "../hosts/pmos/files";
import type { Phone } from "../household/model";
import type { Access } from "./access";
import { remoteStep } from "./remote-step";

export interface PmosNodeArgs {
    /** The phone to prepare. */
    readonly phone: Phone;
    /** The LAN's resolvers (`laptop.lan.dns`), the phone's own from now on. */
    readonly dns: ReadonlyArray<string>;
    /** Connections to the hosts. */
    readonly access: Access;
}

/**
 * A postmarketOS phone made fit to be a k3s node: hostname first and persistent, radios off across
 * reboots, the pmOS firewall passing pod traffic (kept, unless firewall: flush), forwarding sysctls,
 * the LAN's resolvers, cgroup v2. OpenRC or systemd, doas or sudo: detected on the phone.
 */
export class PmosNode extends pulumi.ComponentResource {
    /** The node's hostname, as k3s will register it. */
    public readonly hostname: pulumi.Output<string>;

    constructor(name: string, args: PmosNodeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("k3s-over-usb:node:PmosNode", name, {}, opts);
        const { phone, dns, access } = args;
        const radios = radiosHook();
        const env = {
            NODE_NAME: phone.name,
            FIREWALL: phone.firewall,
            NFT_DROPIN_PATH: nftDropin.path,
            NFT_DROPIN: nftDropin.content,
            SYSCTL_PATH: phoneSysctl.path,
            SYSCTL: phoneSysctl.content,
            RESOLV_CONF: phoneResolvConf(dns).content,
            NM_DNS_DROPIN_PATH: nmDnsDropin.path,
            NM_DNS_DROPIN: nmDnsDropin.content,
            RADIOS_SCRIPT_PATH: radios.script.path,
            RADIOS_SCRIPT: radios.script.content,
            RADIOS_OPENRC_HOOK_PATH: radios.openrc.path,
            RADIOS_OPENRC_HOOK: radios.openrc.content,
            RADIOS_UNIT_PATH: radios.systemd.path,
            RADIOS_UNIT: radios.systemd.content,
            RADIOS_UNIT_NAME: radios.systemd.name,
        };
        const node = remoteStep(
            `${name}-node`,
            {
                host: access.phone(phone),
                step: "pmos-node",
                script: "hosts/pmos/steps/node.sh",
                env,
                onDelete: { script: "hosts/pmos/steps/node-delete.sh", env },
                check: { script: "hosts/pmos/steps/node.check.sh" },
            },
            { parent: this },
        );
        this.hostname = pulumi.output(node.id).apply(() => phone.name);
        this.registerOutputs({ hostname: this.hostname });
    }
}
