import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { serverConfig } from "../hosts/k3s/config";
import { rewriteKubeconfig } from "../hosts/k3s/kubeconfig";
import { cleanupKeyPath } from "../hosts/pmos/files";
import type { Household } from "../household/model";
import type { Access } from "./access";
import { stageK3s } from "./k3s-stage";
import { remoteStep } from "./remote-step";

export interface K3sServerArgs {
    /** The household; the server runs on its laptop. */
    readonly household: Household;
    /** Connections to the hosts. */
    readonly access: Access;
    /** Name of the kubeconfig's cluster, user and context; default "k3s-over-usb". */
    readonly contextName?: string;
    /** Where the Kubernetes provider was before it lived here (an older program kept it in MetalLbPool). */
    readonly providerAliases?: pulumi.Input<pulumi.Alias>[];
}

/**
 * The pinned k3s server on the laptop, configured from a rendered /etc/rancher/k3s/config.yaml, with a
 * join token generated here and handed over on stdin into a root-only file. Waits until the API
 * answers and exports the admin kubeconfig (secret) pointed at the laptop's LAN address.
 */
export class K3sServer extends pulumi.ComponentResource {
    /** The join token agents use; secret. */
    public readonly token: pulumi.Output<string>;
    /** Admin kubeconfig for the operator; secret. */
    public readonly kubeconfig: pulumi.Output<string>;
    /** https://<laptop LAN address>:6443 */
    public readonly apiServer: pulumi.Output<string>;
    /** The installed k3s version. */
    public readonly version: pulumi.Output<string>;
    /** Public half of the laptop's cleanup key, which phones accept for the agent uninstall only. */
    public readonly cleanupKey: pulumi.Output<string>;
    private readonly providerName: string;
    private readonly providerAliases: pulumi.Input<pulumi.Alias>[];
    private readonly clusterIdentifier: string;
    private kubernetesProvider?: k8s.Provider;

    constructor(name: string, args: K3sServerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("k3s-over-usb:k3s:K3sServer", name, {}, opts);
        const { household, access } = args;
        const { laptop, k3s } = household;
        const contextName = args.contextName ?? "k3s-over-usb";
        this.providerName = `${name}-k8s`;
        this.providerAliases = args.providerAliases ?? [];
        this.clusterIdentifier = `k3s-over-usb-${laptop.name}`;

        // Letters and digits only: the token passes through YAML, files and shells untouched. Never
        // "K10..."-shaped: k3s would try to parse it as a full token.
        const tokenResource = new random.RandomPassword(`${name}-token`, { length: 48, special: false }, { parent: this, additionalSecretOutputs: ["result"] });
        this.token = pulumi.secret(tokenResource.result);

        const host = access.laptop();
        const stage = stageK3s(name, k3s, laptop.arch, host, laptop.ssh.user, laptop.ssh.hostKey, this);
        const env = {
            ROLE: "server",
            VERSION: k3s.version,
            CONFIG: serverConfig(household),
            READY_TIMEOUT: "300",
            ...stage.env,
        };
        const install = remoteStep(
            `${name}-install`,
            {
                host,
                step: "k3s-server",
                script: "hosts/steps/k3s-install.sh",
                env,
                stdin: this.token,
                onDelete: { script: "hosts/steps/k3s-uninstall.sh", env: { ROLE: "server" } },
                check: { script: "hosts/steps/k3s-install.check.sh" },
            },
            { parent: this, dependsOn: stage.resources, customTimeouts: { create: "15m", update: "15m" } },
        );

        const installGeneration = host.checks?.marker(`${name}-install`);
        const cleanup = remoteStep(
            `${name}-cleanup-key`,
            {
                host,
                step: "cleanup-key",
                script: "hosts/laptop/steps/cleanup-key.sh",
                env: { KEY_PATH: cleanupKeyPath, COMMENT: `k3s-over-usb-cleanup@${laptop.name}` },
                onDelete: { script: "hosts/laptop/steps/cleanup-key-delete.sh", env: { KEY_PATH: cleanupKeyPath } },
                check: { script: "hosts/laptop/steps/cleanup-key.check.sh" },
            },
            { parent: this, dependsOn: [install] },
        );
        this.cleanupKey = cleanup.stdout;

        const read = remoteStep(
            `${name}-kubeconfig`,
            {
                host,
                step: "kubeconfig",
                script: "hosts/laptop/steps/kubeconfig.sh",
                env: { READY_TIMEOUT: "300" },
                secretStdout: true,
                // Read again when the server may have a new CA: a new install (a replace) or a repair
                // (its generation), not a new version or config, which keep the CA. So the kubeconfig,
                // and the provider built on it, stay known in the preview of an upgrade, and preview
                // shows the in-cluster resources as they are.
                triggers: [install.id, ...(installGeneration ? [installGeneration] : [])],
                // An API that does not answer (a laptop just rebooted) is this step's to repair: it waits.
                check: { script: "hosts/laptop/steps/node-ready.check.sh", env: { NODE: laptop.name, SERVER: "1" } },
            },
            { parent: this, dependsOn: [install], customTimeouts: { create: "10m", update: "10m" } },
        );
        this.apiServer = pulumi.output(`https://${laptop.lan.address}:6443`);
        this.kubeconfig = pulumi.secret(read.stdout.apply((text) => rewriteKubeconfig(text, `https://${laptop.lan.address}:6443`, contextName)));
        this.version = pulumi.output(install.id).apply(() => k3s.version);
        this.registerOutputs({ token: this.token, kubeconfig: this.kubeconfig, apiServer: this.apiServer, version: this.version, cleanupKey: this.cleanupKey });
    }

    /**
     * The cluster's Kubernetes provider (server-side apply), made on first use and shared by every
     * in-cluster component. Its cluster identifier stays the same for the life of the cluster, so a
     * rewritten kubeconfig (a reinstalled server, a new CA) replaces nothing in the cluster.
     */
    provider(): k8s.Provider {
        this.kubernetesProvider ??= new k8s.Provider(
            this.providerName,
            { kubeconfig: this.kubeconfig, clusterIdentifier: this.clusterIdentifier, enableServerSideApply: true, deleteUnreachable: true },
            { parent: this, aliases: this.providerAliases },
        );
        return this.kubernetesProvider;
    }
}
