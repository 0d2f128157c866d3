import { createHash } from "crypto";
import type { Escalation } from "../household/model";

// The command line every remote step and every check runs as: values as single-quoted env
// assignments after the privilege switch, the script as one argument. Pure: no Pulumi here, so the
// doctor loads fast.

/** POSIX single quoting: safe for any byte string. */
export function shellQuote(value: string): string {
    return `'${value.replace(/'/g, `'\\''`)}'`;
}

const envName = /^[A-Z_][A-Z0-9_]*$/;

type Host = { readonly name: string; readonly escalation: Escalation; readonly init: string };

function checkNames(step: string, env: Readonly<Record<string, string>>): void {
    for (const k of Object.keys(env)) {
        if (!envName.test(k)) {
            throw new Error(`remote step ${step}: ${k} is not a valid variable name`);
        }
    }
}

/** The shell a step runs in, reading its program from stdin: the part of a step's command line that never changes. */
const readProgram = 'eval "$(cat)"';

/**
 * A step as a host receives it: a short command line that names only the host and the step (it is
 * what the engine prints first when a step fails, before the step's own FAILED line), and on stdin the
 * step's values, the script, and the secret (if any), which the script reads from its stdin. The
 * shell reads all of stdin before it runs anything, so no command in the script can eat the rest of it.
 */
export function renderStep(host: Host, step: string, script: string, env: Readonly<Record<string, string>>, secret?: string): { command: string; stdin: string } {
    return { command: stepCommand(host, step), stdin: stepInput(step, script, env, secret) };
}

/**
 * renderStep's command line: the same for every run of a step, whatever its values. A step that does
 * something else when it runs again (an update) than when it first runs gets a second line for its
 * update, which sets K3OU_ACTION=update.
 */
export function stepCommand(host: Host, step: string, action?: "update"): string {
    return renderCommand(host, step, readProgram, action === undefined ? {} : { K3OU_ACTION: action });
}

/** renderStep's stdin. */
export function stepInput(step: string, script: string, env: Readonly<Record<string, string>>, secret?: string): string {
    checkNames(step, env);
    const exports = Object.entries(env).map(([k, v]) => `export ${k}=${shellQuote(v)}\n`);
    const body = script.endsWith("\n") ? script : `${script}\n`;
    let input: string;
    if (secret === undefined) {
        input = "</dev/null";
    } else {
        // A delimiter the secret cannot hold as a line of its own: it would have to contain its own digest.
        const end = `K3OU_STDIN_${createHash("sha256").update(secret).digest("hex")}`;
        input = `<<'${end}'\n${secret.endsWith("\n") ? secret : `${secret}\n`}${end}`;
    }
    return `${exports.join("")}{\n${body}} ${input}\n`;
}

/** The command that runs another as root, per escalation: the one table steps, checks and phone-side scripts use. */
const asRoot: Readonly<Record<Exclude<Escalation, "auto">, string>> = { root: "", sudo: "sudo -n", doas: "doas -n" };

/**
 * A shell line that sets $esc to the prefix that makes one command root, for a script that runs as
 * the SSH user on its own (the phone's uninstall script); "auto" decides on the host as renderCommand does.
 */
export function escalationLine(escalation: Escalation): string {
    if (escalation === "auto") {
        return `if command -v doas >/dev/null 2>&1; then esc=${shellQuote(asRoot.doas)}; else esc=${shellQuote(asRoot.sudo)}; fi`;
    }
    return `esc=${shellQuote(asRoot[escalation])}`;
}

/** The exact command line a step runs as; pure, so tests can read it. */
export function renderCommand(
    host: Host,
    step: string,
    script: string,
    env: Readonly<Record<string, string>>,
): string {
    checkNames(step, env);
    const assignments = Object.entries({ K3OU_HOST: host.name, K3OU_STEP: step, K3OU_INIT: host.init, ...env }).map(([k, v]) => `${k}=${shellQuote(v)}`);
    const run = ["env", ...assignments, "sh", "-c", shellQuote(script), shellQuote(`k3s-over-usb-${step}`)].join(" ");
    switch (host.escalation) {
        case "root":
        case "sudo":
        case "doas":
            return ["exec", asRoot[host.escalation], run].filter((p) => p !== "").join(" ");
        case "auto": {
            // Decided on the host: pmOS up to v25.12 ships doas, v26.06 ships sudo-rs.
            const pick = [
                `if command -v doas >/dev/null 2>&1; then exec ${asRoot.doas} "$@";`,
                `elif command -v sudo >/dev/null 2>&1; then exec ${asRoot.sudo} "$@";`,
                `else echo "k3s-over-usb: ${host.name}: ${step}: FAILED: neither doas nor sudo is installed" >&2; exit 1; fi`,
            ].join(" ");
            return `exec sh -c ${shellQuote(pick)} k3s-over-usb-escalate ${run}`;
        }
    }
}
