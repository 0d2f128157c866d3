import { spawnSync } from "child_process";
import * as pulumi from "@pulumi/pulumi";
import { renderCommand } from "../../hosts/command";
import { labPrivateKey, labScript, labStatus, type LabStatus } from "../../lab/household";
import type { Household, Phone } from "../../household/model";
import { run, type Endpoint } from "../../ops/ssh";

// Looking at the lab's hosts the way an operator would: over SSH as root (sudo on the laptop,
// doas/sudo on the phones), phones through the laptop.

export class LabHosts {
    private status: LabStatus;

    constructor(private readonly household: Household) {
        this.status = labStatus();
    }

    refresh(): void {
        this.status = labStatus();
    }

    get privateKey(): pulumi.Output<string> {
        return pulumi.secret(labPrivateKey(this.status));
    }

    laptopEndpoint(): Endpoint {
        const l = this.status.laptop;
        return { host: l.address, user: l.user, privateKey: labPrivateKey(this.status), hostKey: l.hostKey };
    }

    phoneEndpoint(phone: Phone): Endpoint {
        const p = this.status.phones.find((x) => x.name === phone.name)!;
        return { host: phone.link.phoneAddress, user: p.user, privateKey: labPrivateKey(this.status), hostKey: p.hostKey, proxy: this.laptopEndpoint() };
    }

    /** Runs a POSIX sh script as root on the laptop; returns stdout, throws on failure. */
    async onLaptop(script: string): Promise<string> {
        const cmd = renderCommand({ name: this.household.laptop.name, escalation: "sudo", init: "auto" }, "inspect", script, {});
        const r = await run(this.laptopEndpoint(), cmd);
        if (r.code !== 0) {
            throw new Error(`laptop: ${script}: exit ${r.code}\n${r.stderr}`);
        }
        return r.stdout;
    }

    async onPhone(phone: Phone, script: string): Promise<string> {
        const cmd = renderCommand({ name: phone.name, escalation: "auto", init: "auto" }, "inspect", script, {});
        const r = await run(this.phoneEndpoint(phone), cmd);
        if (r.code !== 0) {
            throw new Error(`${phone.name}: ${script}: exit ${r.code}\n${r.stderr}`);
        }
        return r.stdout;
    }
}

/**
 * lab/lab.sh SUBCOMMAND ARGS, failing the test on error. The tests run inside the operator's network
 * namespace; the lab is driven from the machine's own, which tools/test.sh names in K3OU_ROOT_NETNS
 * (/proc/PID/ns/net). Its mount namespace too: `ip netns exec` mounted a sysfs of its own, without
 * the cgroup hierarchies the lab puts every host process into.
 */
export function lab(...args: string[]): string {
    const rootNetns = process.env["K3OU_ROOT_NETNS"];
    const r = rootNetns
        ? spawnSync("nsenter", [`--net=${rootNetns}`, `--mount=${rootNetns.replace(/\/net$/, "/mnt")}`, "bash", labScript, ...args], { encoding: "utf8" })
        : spawnSync("bash", [labScript, ...args], { encoding: "utf8" });
    if (r.status !== 0) {
        throw new Error(`lab ${args.join(" ")} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
    }
    return r.stdout;
}
