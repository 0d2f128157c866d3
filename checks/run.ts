import type { Client } from "ssh2";
import { renderCommand } from "../hosts/command";
import { hostEndpoints, hostPrivilege, type HostPrivilege } from "../hosts/endpoints";
import { hostValues } from "../hosts/scripts";
import type { Household } from "../household/model";
import { connect, exec, HostKeyMismatch } from "../ops/ssh";
import { hostScript, parseReport, type CheckResult, type PlannedCheck } from "./plan";

// Runs every host's checks at once: one SSH connection to the laptop, and one per phone tunnelled
// through it; each host runs one script as root. Pure reading: nothing on any host changes.

export interface HostRun {
    readonly host: string;
    readonly results: CheckResult[];
    /** Milliseconds from the start until this host's report was in. */
    readonly ms: number;
}

export interface RunOptions {
    /** Per connection; a phone that does not answer within it is reported unreachable. */
    readonly timeoutMs?: number;
    /** An open connection to the laptop to use (and leave open), instead of opening one. */
    readonly laptop?: Client;
    /** Set to the laptop's connection error when it cannot be reached. */
    readonly laptopError?: unknown;
}

function unreachable(host: string, err: unknown, isLaptop: boolean): CheckResult {
    const message = err instanceof Error ? err.message : String(err);
    const fix =
        err instanceof HostKeyMismatch
            ? isLaptop
                ? "the laptop's host key changed: put the new key in laptop.ssh.hostKey if you expected it"
                : `${host} was reflashed or replaced: put its new host key in the config and run pulumi up (README: a reflashed phone)`
            : isLaptop
              ? "check that the laptop is on and reachable over SSH from here"
              : `check ${host}'s cable and that it is booted; a reflashed phone is back at ${hostValues.K3OU_PMOS_USB_ADDRESS}: put its new host key in the config and run pulumi up`;
    return { key: "-", host, subject: host, column: "reach", status: "fail", detail: message, fix };
}

/**
 * The command line and stdin that run a host's checks as root. The script travels on stdin into a
 * temporary file: a laptop with thirty phones has more checks than one argument may hold (128 KiB),
 * and a check reading stdin must not eat the rest of the script.
 */
export function checkCommand(access: HostPrivilege, checks: readonly PlannedCheck[]): { command: string; stdin: string } {
    const wrapper = 'f=$(mktemp) || exit 1; cat > "$f"; sh "$f" </dev/null; rc=$?; rm -f "$f"; exit "$rc"';
    return { command: renderCommand(access, "doctor", wrapper, {}), stdin: hostScript(checks, access.init) };
}

async function runOn(client: Client, household: Household, host: string, checks: PlannedCheck[]): Promise<CheckResult[]> {
    const { command, stdin } = checkCommand(hostPrivilege(household, host), checks);
    const r = await exec(client, command, stdin);
    const results = parseReport(r.stdout, checks);
    if (r.code !== 0 || results.length === 0) {
        results.push({ key: "-", host, subject: host, column: "reach", status: "fail", detail: `the checks exited ${r.code}: ${r.stderr.trim().split("\n").slice(-3).join(" / ")}`, fix: "read the message; the SSH user needs passwordless sudo/doas" });
    }
    return results;
}

/** Runs `checks` on their hosts; a host that cannot be reached gets one "reach" failure. */
export async function runChecks(household: Household, privateKey: string, checks: readonly PlannedCheck[], opts: RunOptions = {}): Promise<HostRun[]> {
    const started = Date.now();
    const ends = hostEndpoints(household, privateKey);
    const byHost = new Map<string, PlannedCheck[]>();
    for (const c of checks) {
        byHost.set(c.host, [...(byHost.get(c.host) ?? []), c]);
    }
    const laptopName = household.laptop.name;
    const hosts = [laptopName, ...household.phones.map((p) => p.name)].filter((h) => byHost.has(h));
    const timeout = opts.timeoutMs ?? 10_000;
    let laptop: Client | undefined = opts.laptop;
    let laptopError: unknown = opts.laptopError;
    if (laptop === undefined && laptopError === undefined) {
        try {
            laptop = await connect(ends.get(laptopName)!, timeout);
        } catch (err) {
            laptopError = err;
        }
    }
    // A phone whose cable the laptop reports down is not waited for: its connection could only time out.
    const cableOf = new Map(checks.filter((c) => c.cable !== undefined).map((c) => [c.key, c.cable!]));
    let laptopDone: (results: CheckResult[]) => void = () => undefined;
    const laptopResults = new Promise<CheckResult[]>((resolve) => (laptopDone = resolve));
    const cableDown = (phone: string): Promise<CheckResult> =>
        laptopResults.then((rs) => {
            const down = rs.find((r) => r.status === "fail" && (r.column === "link" || r.column === "address") && cableOf.get(r.key) === phone);
            return down ?? new Promise<CheckResult>(() => undefined);
        });
    try {
        return await Promise.all(
            hosts.map(async (host): Promise<HostRun> => {
                const isLaptop = host === laptopName;
                if (laptop === undefined) {
                    return { host, results: [unreachable(host, isLaptop ? laptopError : new Error(`${host}: not checked: the laptop, its jump host, is unreachable`), isLaptop)], ms: Date.now() - started };
                }
                if (isLaptop) {
                    let results: CheckResult[] = [];
                    try {
                        results = await runOn(laptop, household, host, byHost.get(host)!);
                        return { host, results, ms: Date.now() - started };
                    } catch (err) {
                        return { host, results: [unreachable(host, err, true)], ms: Date.now() - started };
                    } finally {
                        laptopDone(results);
                    }
                }
                let client: Client;
                try {
                    const connecting = connect(ends.get(host)!, timeout, laptop);
                    const first = await Promise.race([connecting.then((c) => ({ client: c })), cableDown(host).then((down) => ({ down }))]);
                    if ("down" in first) {
                        connecting.then(
                            (c) => c.end(),
                            () => undefined,
                        );
                        return { host, results: [unreachable(host, new Error(`not reachable: ${first.down.detail}`), false)], ms: Date.now() - started };
                    }
                    client = first.client;
                } catch (err) {
                    return { host, results: [unreachable(host, err, false)], ms: Date.now() - started };
                }
                try {
                    return { host, results: await runOn(client, household, host, byHost.get(host)!), ms: Date.now() - started };
                } catch (err) {
                    return { host, results: [unreachable(host, err, false)], ms: Date.now() - started };
                } finally {
                    client.end();
                }
            }),
        );
    } finally {
        if (opts.laptop === undefined) {
            laptop?.end();
        }
    }
}

/**
 * Failures that follow from another are shown as such, not counted twice: a phone unreachable because
 * its cable's laptop end failed, and a node NotReady on a host with another failure.
 */
export function attribute(runs: readonly HostRun[], checks: readonly PlannedCheck[]): CheckResult[] {
    const all = runs.flatMap((r) => r.results);
    const failing = all.filter((r) => r.status === "fail");
    const cableOf = new Map(checks.filter((c) => c.cable !== undefined).map((c) => [c.key, c.cable!]));
    const out: CheckResult[] = [];
    for (const r of all) {
        if (r.status !== "fail") {
            out.push(r);
            continue;
        }
        if (r.column === "reach") {
            const cause = failing.find((f) => f.column !== "reach" && cableOf.get(f.key) === r.subject);
            if (cause) {
                out.push({ ...r, status: "skip", detail: `not checked: ${cause.detail} (on ${cause.host})`, fix: "" });
                continue;
            }
        }
        if (r.column === "node") {
            // Its own host, its cable, or the server it is read on (the API down).
            const cause = failing.find(
                (f) => f !== r && f.column !== "node" && (f.subject === r.subject || cableOf.get(f.key) === r.subject || (f.subject === r.host && f.column === "k3s")),
            );
            if (cause) {
                out.push({ ...r, status: "skip", detail: `${r.detail}: follows from ${cause.subject} ${cause.column}`, fix: "" });
                continue;
            }
        }
        out.push(r);
    }
    return out;
}
