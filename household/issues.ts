import type { z } from "zod";

/** One problem in the household config: where, which rule, the offending value, and the remedy. */
export interface Issue {
    readonly path: string;
    readonly rule: string;
    readonly value: unknown;
    readonly problem: string;
    readonly fix: string;
}

export function formatPath(path: ReadonlyArray<PropertyKey>): string {
    return path
        .map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${String(p)}`))
        .join("");
}

function formatValue(value: unknown): string {
    if (value === undefined) {
        return "(missing)";
    }
    return typeof value === "string" ? value : JSON.stringify(value);
}

export function formatIssue(issue: Issue): string {
    return `${issue.path}: ${issue.problem} [${issue.rule}]; value ${formatValue(issue.value)}; fix: ${issue.fix}`;
}

/** Thrown before any resource is registered; its message lists every problem, one per line. */
export class HouseholdError extends Error {
    constructor(
        readonly issues: ReadonlyArray<Issue>,
        readonly source: string,
    ) {
        super(
            `${source}: the household config has ${issues.length} problem${issues.length === 1 ? "" : "s"}; nothing was changed on any host:\n` +
                issues.map((i) => `  - ${formatIssue(i)}`).join("\n"),
        );
        this.name = "HouseholdError";
    }
}

function valueAt(root: unknown, path: ReadonlyArray<PropertyKey>): unknown {
    let cur: unknown = root;
    for (const key of path) {
        if (cur === null || typeof cur !== "object") {
            return undefined;
        }
        cur = (cur as Record<PropertyKey, unknown>)[key];
    }
    return cur;
}

/** Turns zod's shape problems into Issues; schema messages are written "rule|fix". */
export function issuesFromZod(error: z.ZodError, root: unknown): Issue[] {
    return error.issues.flatMap((zi): Issue[] => {
        const value = valueAt(root, zi.path);
        const [rule, fix] = zi.message.includes("|") ? zi.message.split("|", 2) : [undefined, undefined];
        if (rule !== undefined && fix !== undefined) {
            return [{ path: formatPath(zi.path), rule, value, problem: describeRule(rule), fix }];
        }
        switch (zi.code) {
            case "unrecognized_keys":
                return zi.keys.map((key) => ({
                    path: formatPath([...zi.path, key]),
                    rule: "unknown-key",
                    value: valueAt(root, [...zi.path, key]),
                    problem: "is not a setting of this program",
                    fix: "remove it or correct its spelling (names are camelCase, e.g. hubPort)",
                }));
            case "invalid_type": {
                const expected = typeNames[zi.expected] ?? zi.expected;
                return [
                    {
                        path: formatPath(zi.path),
                        rule: value === undefined ? "required" : "type",
                        value,
                        problem: value === undefined ? "is required" : `must be ${expected}`,
                        fix: value === undefined ? `set ${formatPath(zi.path)}` : `write ${expected}`,
                    },
                ];
            }
            case "invalid_value":
                return [
                    {
                        path: formatPath(zi.path),
                        rule: "one-of",
                        value,
                        problem: `must be one of ${zi.values.map((v) => JSON.stringify(v)).join(", ")}`,
                        fix: `choose one of ${zi.values.map((v) => String(v)).join(", ")}`,
                    },
                ];
            case "invalid_union":
                return [
                    {
                        path: formatPath(zi.path),
                        rule: "one-of-shapes",
                        value,
                        problem: "matches none of the accepted forms",
                        fix: "see the README's configuration reference for the accepted forms",
                    },
                ];
            default:
                return [{ path: formatPath(zi.path), rule: zi.code, value, problem: zi.message, fix: "see the README's configuration reference" }];
        }
    });
}

const typeNames: Record<string, string> = {
    int: "a whole number",
    number: "a number",
    string: "a string",
    array: "a list",
    object: "a mapping",
    boolean: "true or false",
};

const ruleProblems: Record<string, string> = {
    "dns-label": "is not a DNS label",
    ipv4: "is not an IPv4 address",
    port: "is not a TCP port",
    cidr: "is not an IPv4 network",
    mac: "is not a MAC address",
    "host-key": "is not an SSH public host key",
    sha256: "is not a SHA-256 digest",
    "hub-port": "is not a udev ID_PATH of a USB port",
    "usb-controller": "is not a udev path of a USB controller",
    user: "is not a user name",
    "pinned-version": "is not a pinned version",
    "k3s-flag": "is not a k3s flag",
    "max-unavailable": "is not a number of phones",
    "drain-timeout": "is not a drain timeout",
    "pool-range": "is not an address range",
    "no-phones": "has no phones",
};

function describeRule(rule: string): string {
    return ruleProblems[rule] ?? `breaks rule ${rule}`;
}
