import * as pulumi from "@pulumi/pulumi";
import { agentConfig } from "../hosts/k3s/config";
import { agentUninstall, cleanupAuthorizedLine, cleanupKeyPath } from "../hosts/pmos/files";
import { serverUrlFor, type Household, type Phone } from "../household/model";
import type { Access } from "./access";
import { stageK3s } from "./k3s-stage";
import { remoteStep } from "./remote-step";

export interface K3sAgentArgs {
    readonly household: Household;
    /** The phone the agent runs on. */
    readonly phone: Phone;
    /** Connections to the hosts. */
    readonly access: Access;
    /** The server's join token; secret. */
    readonly token: pulumi.Input<string>;
    /** Public half of the laptop's cleanup key (K3sServer.cleanupKey). */
    readonly cleanupKey: pulumi.Input<string>;
    /**
     * The server the agent joins: its forget, drain and install steps wait for it. The staging of
     * k3s's files on the phone does not, so the copies run while the server installs.
     */
    readonly server?: pulumi.Resource;
    /**
     * In an upgrade's roll, what this phone's drain waits for: the agents before it in the roll
     * (their `rolled` steps). Empty when nothing is rolling, so a first up joins every phone at once.
     */
    readonly rollAfter?: ReadonlyArray<pulumi.Resource>;
}

/**
 * A pinned k3s agent on a phone, joining the API server at the phone's own laptop end. Waits until the
 * node is Ready. Delete drains and deletes the node (and its node password) on the server, then the
 * laptop uninstalls the agent on the phone with a key the phone accepts for that command only, so the
 * delete also succeeds when the operator cannot reach the phone, and when the phone is gone or was
 * reflashed. A phone whose host key changed (reflashed) has its old node forgotten before it rejoins.
 * A new k3s version is rolled in: the node is cordoned and drained first, and uncordoned once it is
 * Ready on the new version (the roll's order is the graph's: K3sAgentArgs.rollAfter).
 */
export class K3sAgent extends pulumi.ComponentResource {
    /** The node's name in the cluster. */
    public readonly nodeName: pulumi.Output<string>;
    /** The node's InternalIP: the phone's end of its /30. */
    public readonly nodeIp: pulumi.Output<string>;
    /** The step that ends this phone's part of an upgrade (Ready, uncordoned): what the next phone in a roll waits for. */
    public readonly rolled: pulumi.Resource;

    constructor(name: string, args: K3sAgentArgs, opts?: pulumi.ComponentResourceOptions) {
        super("k3s-over-usb:k3s:K3sAgent", name, {}, opts);
        const { household, phone, access } = args;
        const { k3s } = household;
        const laptop = access.laptop();

        const forget = remoteStep(
            `${name}-forget-previous`,
            {
                host: laptop,
                step: `forget ${phone.name}`,
                script: "hosts/laptop/steps/node-remove.sh",
                env: { NODE: phone.name },
                // Runs when the host key changes (a replace); an update (a new program text) must not
                // delete a running node, so it is told apart.
                triggers: [phone.ssh.hostKey],
                distinctUpdate: true,
                check: { none: "it only clears a reflashed phone's old node before the join" },
            },
            { parent: this, dependsOn: args.server === undefined ? [] : [args.server] },
        );

        // Before an upgrade (the step's update, when VERSION changes): cordon and drain, on the server.
        const drain = remoteStep(
            `${name}-drain`,
            {
                host: laptop,
                step: `drain ${phone.name}`,
                script: "hosts/laptop/steps/node-drain.sh",
                env: { NODE: phone.name, VERSION: k3s.version, DRAIN_TIMEOUT: String(k3s.upgrade.drainTimeout) },
                distinctUpdate: true,
                check: { none: "it only empties the node before an upgrade; the ready step's check sees a node left cordoned" },
            },
            { parent: this, dependsOn: [forget, ...(args.rollAfter ?? [])], customTimeouts: { update: `${k3s.upgrade.drainTimeout + 120}s` } },
        );

        const host = access.phone(phone);
        const uninstall = agentUninstall(phone);
        const stage = stageK3s(name, k3s, phone.device.arch, host, phone.ssh.user, phone.ssh.hostKey, this);
        const install = remoteStep(
            `${name}-install`,
            {
                host,
                step: "k3s-agent",
                script: "hosts/steps/k3s-install.sh",
                env: {
                    ROLE: "agent",
                    VERSION: k3s.version,
                    CONFIG: agentConfig(household, phone),
                    SERVER_URL: serverUrlFor(phone),
                    READY_TIMEOUT: "300",
                    ...stage.env,
                },
                stdin: args.token,
                check: { script: "hosts/steps/k3s-install.check.sh" },
            },
            { parent: this, dependsOn: [drain, ...(args.server === undefined ? [] : [args.server]), ...stage.resources], customTimeouts: { create: "15m", update: "15m" } },
        );

        const cleanupAccess = remoteStep(
            `${name}-cleanup-access`,
            {
                host,
                step: "cleanup-access",
                script: "hosts/pmos/steps/cleanup-access.sh",
                env: {
                    SSH_USER: phone.ssh.user,
                    AUTHORIZED_LINE: pulumi.output(args.cleanupKey).apply((key) => cleanupAuthorizedLine(key, household.laptop.name)),
                    UNINSTALL_PATH: uninstall.path,
                    UNINSTALL: uninstall.content,
                },
                check: {
                    script: "hosts/pmos/steps/cleanup-access.check.sh",
                    env: { SSH_USER: phone.ssh.user, UNINSTALL_PATH: uninstall.path, UNINSTALL: uninstall.content, LAPTOP: household.laptop.name },
                },
            },
            { parent: this, dependsOn: [install] },
        );

        // The host key in env re-runs the wait when the phone was reflashed and rejoined; the version,
        // when it was upgraded (the step then uncordons what the drain cordoned).
        const ready = remoteStep(
            `${name}-ready`,
            {
                host: laptop,
                step: `node-ready ${phone.name}`,
                script: "hosts/laptop/steps/node-ready.sh",
                env: { NODE: phone.name, READY_TIMEOUT: "300", PHONE_HOST_KEY: phone.ssh.hostKey, VERSION: k3s.version },
                onDelete: {
                    script: "hosts/laptop/steps/node-remove.sh",
                    env: { NODE: phone.name, PHONE_ADDR: phone.ssh.address, PHONE_USER: phone.ssh.user, PHONE_HOST_KEY: phone.ssh.hostKey, KEY_PATH: cleanupKeyPath },
                },
                check: { script: "hosts/laptop/steps/node-ready.check.sh", env: { NODE: phone.name }, subject: phone.name },
            },
            { parent: this, dependsOn: [install, cleanupAccess], customTimeouts: { create: "10m", update: "10m" } },
        );
        this.rolled = ready;
        this.nodeName = pulumi.output(ready.id).apply(() => phone.name);
        this.nodeIp = pulumi.output(ready.id).apply(() => phone.link.phoneAddress);
        this.registerOutputs({ nodeName: this.nodeName, nodeIp: this.nodeIp });
    }
}
