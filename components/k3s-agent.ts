import * as pulumi from "@pulumi/pulumi";
import { agentConfig, installScriptUrl } from "../hosts/k3s/config";
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
}

/**
 * A pinned k3s agent on a phone, joining the API server at the phone's own laptop end. Waits until the
 * node is Ready. Delete drains and deletes the node (and its node password) on the server, then
 * uninstalls on the phone, so a reflashed phone rejoins under the same name. A phone whose host key
 * changed (reflashed) has its old node forgotten before the agent joins again.
 */
export class K3sAgent extends pulumi.ComponentResource {
    /** The node's name in the cluster. */
    public readonly nodeName: pulumi.Output<string>;
    /** The node's InternalIP: the phone's end of its /30. */
    public readonly nodeIp: pulumi.Output<string>;

    constructor(name: string, args: K3sAgentArgs, opts?: pulumi.ComponentResourceOptions) {
        super("k3s-over-usb:k3s:K3sAgent", name, {}, opts);
        const { household, phone, access } = args;
        const { k3s } = household;
        const laptop = access.laptop();

        const forget = remoteStep(
            `${name}-forget-previous`,
            { host: laptop, step: `forget ${phone.name}`, script: "hosts/laptop/steps/node-remove.sh", env: { NODE: phone.name }, triggers: [phone.ssh.hostKey] },
            { parent: this },
        );

        const host = access.phone(phone);
        const stage = stageK3s(name, k3s, "arm64", host, phone.ssh.user, phone.ssh.hostKey, this);
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
                    SOURCE: k3s.source.kind,
                    SCRIPT_URL: installScriptUrl(k3s.version),
                    READY_TIMEOUT: "300",
                    ...stage.env,
                },
                stdin: args.token,
                onDelete: { script: "hosts/steps/k3s-uninstall.sh", env: { ROLE: "agent" } },
            },
            { parent: this, dependsOn: [forget, ...stage.resources], customTimeouts: { create: "15m", update: "15m" } },
        );

        // The host key in env re-runs the wait when the phone was reflashed and rejoined.
        const ready = remoteStep(
            `${name}-ready`,
            {
                host: laptop,
                step: `node-ready ${phone.name}`,
                script: "hosts/laptop/steps/node-ready.sh",
                env: { NODE: phone.name, READY_TIMEOUT: "300", PHONE_HOST_KEY: phone.ssh.hostKey },
                onDelete: { script: "hosts/laptop/steps/node-remove.sh", env: { NODE: phone.name } },
            },
            { parent: this, dependsOn: [install], customTimeouts: { create: "10m", update: "10m" } },
        );
        this.nodeName = pulumi.output(ready.id).apply(() => phone.name);
        this.nodeIp = pulumi.output(ready.id).apply(() => phone.link.phoneAddress);
        this.registerOutputs({ nodeName: this.nodeName, nodeIp: this.nodeIp });
    }
}
