import { createHash } from "crypto";
import { shellQuote } from "../hosts/command";
import { checkPrelude, readScript } from "../hosts/scripts";

// What the doctor checks, and how a host's checks become one script. Every remote step registers its
// check beside itself (components/remote-step.ts); the program exports the list as the stack output
// `checks`, and checks it itself before each preview and up (components/drift.ts).

/** The table's columns, in order. */
export const columns = ["hostname", "link", "address", "route", "dns", "forward", "nat", "firewall", "radios", "battery", "k3s", "node"] as const;
export type Column = (typeof columns)[number];

/** One step's check, as the stack output `checks` holds it. */
export interface PlannedCheck {
    /** The step's resource name, unique in the stack (e.g. "one6t-node"). */
    readonly key: string;
    /** The step's name in messages (e.g. "pmos-node"). */
    readonly step: string;
    /** The host the check runs on. */
    readonly host: string;
    /** The host whose row the results belong in (a phone's node Ready is read on the laptop). */
    readonly subject: string;
    /** The phone whose cable a laptop-side check is about; its results explain that phone being unreachable. */
    readonly cable?: string;
    /** Check script, relative to the repository root. */
    readonly script: string;
    /** Values the script reads; long ones as "sha256:<hex>" (check-lib.sh's same_file). */
    readonly env: Readonly<Record<string, string>>;
    /** The step's URN, for `pulumi up --replace`. */
    readonly urn?: string;
}

export type Status = "ok" | "fail" | "warn" | "skip";

export interface CheckResult {
    readonly key: string;
    readonly host: string;
    readonly subject: string;
    /** "reach": the host could not be checked; "check": a check script itself failed. */
    readonly column: Column | "reach" | "check";
    readonly status: Status;
    readonly detail: string;
    /** "up", "reboot", or a command; empty when nothing is to be done. */
    readonly fix: string;
}

const longValue = 160;

/** Long or multi-line values (file contents) travel as their digest: the check compares files only. */
export function digestEnv(env: Readonly<Record<string, string>>): Record<string, string> {
    return Object.fromEntries(
        Object.entries(env).map(([k, v]) => [k, v.length > longValue || v.includes("\n") ? `sha256:${createHash("sha256").update(v).digest("hex")}` : v]),
    );
}

const envName = /^[A-Z_][A-Z0-9_]*$/;

/** How many of a host's checks run at once: a laptop with thirty phones has about seventy. */
export const checksAtOnce = 8;

/**
 * One POSIX sh script running every check of one host, each in its own subshell with its values as
 * shell variables. A check that dies reports itself as failed rather than hiding the others.
 * Checks only read, so they run side by side, `checksAtOnce` at a time, each into its own file;
 * the files are printed in the plan's order. (One after another, the laptop's checks of thirty
 * phones took about 10 s, each a few dozen short processes.) The one `kubectl get nodes` the node
 * checks share is read before they start, so they do not each run it.
 */
export function hostScript(checks: readonly PlannedCheck[], init: string): string {
    const parts = [checkPrelude(), `K3OU_INIT=${shellQuote(init)}`, 'k3ou_out=$(mktemp -d) || exit 1'];
    const scripts = checks.map((c) => readScript(c.script));
    if (scripts.some((text) => text.includes("node_status"))) {
        parts.push("( K3OU_CHECK_KEY=-; node_status - >/dev/null )");
    }
    checks.forEach((c, i) => {
        const assignments = Object.entries(c.env).map(([k, v]) => {
            if (!envName.test(k)) {
                throw new Error(`check ${c.key}: ${k} is not a valid variable name`);
            }
            return `${k}=${shellQuote(v)}`;
        });
        parts.push(
            [
                `K3OU_CHECK_KEY=${shellQuote(c.key)}`,
                `{ ( ${assignments.join(" ")}`,
                scripts[i]!,
                `) || report - fail ${shellQuote(`the check of ${c.step} stopped with an error`)} ${shellQuote(`run it by hand: ${c.script}`)}`,
                `} >"$k3ou_out/${i}" 2>"$k3ou_out/${i}.err" </dev/null &`,
            ].join("\n"),
        );
        if ((i + 1) % checksAtOnce === 0) {
            parts.push("wait");
        }
    });
    parts.push("wait");
    if (checks.length > 0) {
        parts.push(`k3ou_i=0; while [ "$k3ou_i" -lt ${checks.length} ]; do cat "$k3ou_out/$k3ou_i"; cat "$k3ou_out/$k3ou_i.err" >&2; k3ou_i=$((k3ou_i + 1)); done`);
    }
    parts.push('rm -rf "$k3ou_out"', "check_cleanup");
    return `${parts.join("\n")}\n`;
}

/** The K3OU-CHECK lines of a host's output, tied back to the checks that printed them. */
export function parseReport(stdout: string, checks: readonly PlannedCheck[]): CheckResult[] {
    const byKey = new Map(checks.map((c) => [c.key, c]));
    const results: CheckResult[] = [];
    for (const line of stdout.split("\n")) {
        const f = line.split("\t");
        if (f[0] !== "K3OU-CHECK" || f.length < 5) {
            continue;
        }
        const [, key = "", column = "", status = "", detail = "", fix = ""] = f;
        const check = byKey.get(key);
        if (check === undefined) {
            continue;
        }
        const col = (columns as readonly string[]).includes(column) ? (column as Column) : "check";
        const st: Status = status === "ok" || status === "warn" || status === "skip" ? status : "fail";
        results.push({ key, host: check.host, subject: check.subject, column: col, status: st, detail, fix });
    }
    return results;
}
