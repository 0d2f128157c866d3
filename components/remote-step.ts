import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { renderCommand, stepCommand, stepInput } from "../hosts/command";
import { stepScript } from "../hosts/scripts";
import type { Escalation } from "../household/model";
import type { Checks, CheckSpec } from "./drift";


// Every remote step is a POSIX sh file under hosts/, run as root on one host. The command line holds
// the privilege switch and the host's and step's names; the step's values (as exported single-quoted
// assignments), the shared prelude, the script and any secret reach it on stdin (hosts/command.ts
// renderStep), so neither values nor secrets are on a command line, and sshd AcceptEnv is not assumed.

export type Connection = command.types.input.remote.ConnectionArgs;

/** Everything needed to run a step on one host. */
export interface HostAccess {
    /** The host's name in the household, used in every message. */
    readonly name: string;
    readonly connection: pulumi.Input<Connection>;
    readonly escalation: Escalation;
    /** "openrc", "systemd", or "auto" to detect on the host. */
    readonly init: string;
    /** Where steps register their checks (and get their repair generation); none in some tests. */
    readonly checks?: Checks;
}

export interface StepArgs {
    readonly host: HostAccess;
    /** The step's name in messages, e.g. "usb-link". */
    readonly step: string;
    /** Script path relative to the repository root, e.g. hosts/pmos/steps/link.sh. */
    readonly script: string;
    /** Non-secret values; they travel on stdin and appear in state. */
    readonly env?: Readonly<Record<string, pulumi.Input<string>>>;
    /** Secret input, the script's stdin (the step's whole stdin is then secret in state). */
    readonly stdin?: pulumi.Input<string>;
    /** Script and values that undo the step when the resource is deleted. */
    readonly onDelete?: { readonly script: string; readonly env?: Readonly<Record<string, pulumi.Input<string>>> };
    /** Inputs whose change must re-run the step from scratch (replace). */
    readonly triggers?: pulumi.Input<unknown>[];
    /**
     * The step's update (its values changed) runs with K3OU_ACTION=update, so the script can tell it
     * from the first run; without this an update runs the script exactly as a create does.
     */
    readonly distinctUpdate?: boolean;
    /** Treat stdout as a secret and keep it out of the logs. */
    readonly secretStdout?: boolean;
    /** The invariants this step establishes, checked by the doctor and before every up (drift.ts). */
    readonly check: CheckSpec;
}

/** An undo runs rarely and must work with nothing staged: the script rides on its command line; stdin (the create's program) is not for it. */
function renderDelete(host: HostAccess, step: string, script: string, env: Readonly<Record<string, pulumi.Input<string>>>): pulumi.Output<string> {
    return pulumi.output(env).apply((values) => `${renderCommand(host, step, stepScript(script), values as Record<string, string>)} </dev/null`);
}

function plainEnv(name: string, env: Readonly<Record<string, pulumi.Input<string>>>, component: pulumi.Resource | undefined): Record<string, string> {
    for (const [k, v] of Object.entries(env)) {
        if (typeof v !== "string") {
            const message = `remote step ${name}: ${k} is not a plain string, so its check needs its own env (StepArgs.check.env)`;
            throw component ? new pulumi.ResourceError(message, component) : new Error(message);
        }
    }
    return env as Record<string, string>;
}

/** Registers one remote step as a command:remote:Command, and its check. */
export function remoteStep(name: string, args: StepArgs, opts: pulumi.CustomResourceOptions): command.remote.Command {
    const secretOutputs = args.secretStdout ? ["stdout", "stderr"] : [];
    const checks = args.host.checks;
    const checked = "script" in args.check ? args.check : undefined;
    const marker = checked ? checks?.marker(name) : undefined;
    const env = marker ? { ...(args.env ?? {}), K3OU_REPAIR: marker } : (args.env ?? {});
    // The command line names host and step only; values, script and secret travel on stdin. A change
    // of any of them changes stdin, which makes the engine run the step again.
    const stdin = pulumi
        .all([pulumi.output(env), args.stdin === undefined ? undefined : pulumi.output(args.stdin)])
        .apply(([values, secret]) => stepInput(args.step, stepScript(args.script), values as Record<string, string>, secret));
    const cmd = new command.remote.Command(
        name,
        {
            connection: args.host.connection,
            create: stepCommand(args.host, args.step),
            update: args.distinctUpdate ? stepCommand(args.host, args.step, "update") : undefined,
            delete: args.onDelete ? renderDelete(args.host, `${args.step}-delete`, args.onDelete.script, args.onDelete.env ?? {}) : undefined,
            stdin,
            triggers: args.triggers,
            // sshd on a phone need not accept PULUMI_COMMAND_* variables; nothing here reads them.
            addPreviousOutputInEnv: false,
            logging: args.secretStdout ? "stderr" : "stdoutAndStderr",
        },
        {
            ...opts,
            // A host singleton (a file, a service) must be removed before its replacement is made.
            deleteBeforeReplace: args.onDelete !== undefined ? true : opts.deleteBeforeReplace,
            additionalSecretOutputs: [...(opts.additionalSecretOutputs ?? []), ...secretOutputs],
        },
    );
    if (checked && checks) {
        checks.add(
            {
                key: name,
                step: args.step,
                host: args.host.name,
                subject: checked.subject ?? args.host.name,
                ...(checked.cable !== undefined ? { cable: checked.cable } : {}),
                script: checked.script,
                env: checked.env ?? plainEnv(name, args.env ?? {}, opts.parent),
            },
            cmd.urn,
        );
    }
    return cmd;
}
