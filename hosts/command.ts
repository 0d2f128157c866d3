import type { Escalation } from "../household/model";

// The command line every remote step and every check runs as: values as single-quoted env
// assignments after the privilege switch, the script as one argument. Pure: no Pulumi here, so the
// doctor loads fast.

/** POSIX single quoting: safe for any byte string. */
export function shellQuote(value: string): string {
    return `'${value.replace(/'/g, `'\\''`)}'`;
}

const envName = /^[A-Z_][A-Z0-9_]*$/;

/** The exact command line a step runs as; pure, so tests can read it. */
export function renderCommand(
    host: { readonly name: string; readonly escalation: Escalation; readonly init: string },
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
