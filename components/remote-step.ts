import * as fs from "fs";
import * as path from "path";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { Escalation } from "../household/model";

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

/** POSIX single quoting: safe for any byte string. */
export function shellQuote(value: string): string {
    return `'${value.replace(/'/g, `'\\''`)}'`;
}

const envName = /^[A-Z_][A-Z0-9_]*$/;

/** The exact command line a step runs as; pure, so tests can read it. */
export function renderCommand(
    host: Pick<HostAccess, "name" | "escalation" | "init">,
    step: string,
    script: string,
    env: Readonly<Record<string, string>>,
): string {
    const assignments = Object.entries({ K3OU_HOST: host.name, K3OU_STEP: step, K3OU_INIT: host.init, ...env }).map(([k, v]) => {
        if (!envName.test(k)) {
            throw new Error(`remote step ${step}: ${k} is not a valid variable name`);
        }
        return `${k}=${shellQuote(v)}`;
    });
    const run = ["env", ...assignments, "sh", "-c", shellQuote(script), shellQuote(`k3s-over-usb-${step}`)].join(" ");
    switch (host.escalation) {
        case "root":
            return `exec ${run}`;
        case "sudo":
            return `exec sudo -n ${run}`;
        case "doas":
            return `exec doas -n ${run}`;
        case "auto": {
            // Decided on the host: pmOS up to v25.12 ships doas, v26.06 ships sudo-rs.
            const pick = [
                "if command -v doas >/dev/null 2>&1; then exec doas -n \"$@\";",
                "elif command -v sudo >/dev/null 2>&1; then exec sudo -n \"$@\";",
                `else echo "k3s-over-usb: ${host.name}: ${step}: FAILED: neither doas nor sudo is installed" >&2; exit 1; fi`,
            ].join(" ");
            return `exec sh -c ${shellQuote(pick)} k3s-over-usb-escalate ${run}`;
        }
    }
}

function renderLater(host: HostAccess, step: string, script: string, env: Readonly<Record<string, pulumi.Input<string>>>): pulumi.Output<string> {
    return pulumi.output(env).apply((values) => renderCommand(host, step, stepScript(script), values as Record<string, string>));
}

/** Registers one remote step as a command:remote:Command. */
export function remoteStep(name: string, args: StepArgs, opts: pulumi.CustomResourceOptions): command.remote.Command {
    const secretOutputs = args.secretStdout ? ["stdout", "stderr"] : [];
    return new command.remote.Command(
        name,
        {
            connection: args.host.connection,
            create: renderLater(args.host, args.step, args.script, args.env ?? {}),
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
}
