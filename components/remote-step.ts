import * as fs from "fs";
import * as path from "path";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { renderCommand } from "../hosts/command";
import type { Escalation } from "../household/model";
import type { Checks, CheckSpec } from "./drift";

export { renderCommand, shellQuote } from "../hosts/command";

// Every remote step is a POSIX sh file under hosts/, run as root on one host. Values reach it as
// single-quoted environment assignments on `env`, after the privilege switch (doas does not pass
// the caller's environment everywhere, and sshd AcceptEnv is not assumed); secrets reach it on stdin.

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
    /** Non-secret values; they appear in the command line and in state. */
    readonly env?: Readonly<Record<string, pulumi.Input<string>>>;
    /** Secret input, piped to the script. */
    readonly stdin?: pulumi.Input<string>;
    /** Script and values that undo the step when the resource is deleted. */
    readonly onDelete?: { readonly script: string; readonly env?: Readonly<Record<string, pulumi.Input<string>>> };
    /** Inputs whose change must re-run the step from scratch (replace). */
    readonly triggers?: pulumi.Input<unknown>[];
    /** Treat stdout as a secret and keep it out of the logs. */
    readonly secretStdout?: boolean;
    /** The invariants this step establishes, checked by the doctor and before every up (drift.ts). */
    readonly check: CheckSpec;
}

const root = path.join(__dirname, "..");
const scriptCache = new Map<string, string>();

/** The text sent to the host: the shared prelude, then the step. */
export function stepScript(relative: string): string {
    let text = scriptCache.get(relative);
    if (text === undefined) {
        text = `${fs.readFileSync(path.join(root, "hosts/steps/lib.sh"), "utf8")}\n${fs.readFileSync(path.join(root, relative), "utf8")}`;
        scriptCache.set(relative, text);
    }
    return text;
}

function renderLater(host: HostAccess, step: string, script: string, env: Readonly<Record<string, pulumi.Input<string>>>): pulumi.Output<string> {
    return pulumi.output(env).apply((values) => renderCommand(host, step, stepScript(script), values as Record<string, string>));
}

function plainEnv(name: string, env: Readonly<Record<string, pulumi.Input<string>>>): Record<string, string> {
    for (const [k, v] of Object.entries(env)) {
        if (typeof v !== "string") {
            throw new Error(`remote step ${name}: ${k} is not a plain string, so its check needs its own env (StepArgs.check.env)`);
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
    const cmd = new command.remote.Command(
        name,
        {
            connection: args.host.connection,
            create: renderLater(args.host, args.step, args.script, env),
            delete: args.onDelete ? renderLater(args.host, `${args.step}-delete`, args.onDelete.script, args.onDelete.env ?? {}) : undefined,
            stdin: args.stdin,
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
                env: checked.env ?? plainEnv(name, args.env ?? {}),
            },
            cmd.urn,
        );
    }
    return cmd;
}
