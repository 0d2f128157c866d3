import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { CheckResult, PlannedCheck } from "../checks/plan";
import { writePrivateFile } from "../ops/private-file";

// `pulumi up` runs the program twice: a preview, then the update. The drift check runs in the
// preview, and its results are carried to the update of the same `pulumi up`, so each host is
// checked once per up (one SSH session, not two) and the update repairs exactly what the preview
// showed. The carry is a file in a private folder of this user's, named after the `pulumi` CLI
// process (its pid and start time), read once and removed by the update. A `pulumi preview` leaves a
// file no update reads; the next carry removes it once its CLI has ended. Where no CLI process can be
// found (no /proc, the Automation API), or the file is missing, old or for another plan, the update
// checks the hosts itself, as every pass did before.

/** How long a preview's results serve its update (the CLI's confirmation prompt may sit in between). */
export const carryMaxAgeMs = 10 * 60 * 1000;

interface ProcStat {
    readonly comm: string;
    readonly ppid: number;
    readonly started: string;
}

/** /proc/<pid>/stat's command name, parent and start time (clock ticks since boot); undefined if gone. */
export function procStat(pid: number, procRoot = "/proc"): ProcStat | undefined {
    let text: string;
    try {
        text = fs.readFileSync(path.join(procRoot, String(pid), "stat"), "utf8");
    } catch {
        return undefined;
    }
    // "pid (comm) state ppid ... starttime(22nd) ...": comm may hold spaces and parentheses.
    const open = text.indexOf("(");
    const close = text.lastIndexOf(")");
    if (open < 0 || close < open) {
        return undefined;
    }
    const rest = text.slice(close + 2).split(" ");
    const ppid = Number(rest[1]);
    const started = rest[19];
    if (!Number.isInteger(ppid) || started === undefined) {
        return undefined;
    }
    return { comm: text.slice(open + 1, close), ppid, started };
}

/** The `pulumi` CLI process this program runs under (program <- language host <- CLI), if any. */
export function cliProcess(procRoot = "/proc", pid = process.pid): { pid: number; started: string } | undefined {
    let current = procStat(pid, procRoot)?.ppid;
    for (let depth = 0; depth < 6 && current !== undefined && current > 1; depth++) {
        const stat = procStat(current, procRoot);
        if (stat === undefined) {
            return undefined;
        }
        if (stat.comm === "pulumi") {
            return { pid: current, started: stat.started };
        }
        current = stat.ppid;
    }
    return undefined;
}

/** What the carry must match: every check, its values, and its script's text. */
export function planDigest(plan: readonly PlannedCheck[], scriptText: (script: string) => string): string {
    const hash = createHash("sha256");
    for (const check of plan) {
        hash.update(JSON.stringify(check));
        hash.update(createHash("sha256").update(scriptText(check.script)).digest("hex"));
    }
    return hash.digest("hex");
}

interface CarryFile {
    readonly digest: string;
    readonly at: number;
    readonly results: CheckResult[];
}

export interface DriftCarryOptions {
    /** The stack's fully qualified name: carries of two stacks never mix. */
    readonly stack: string;
    readonly procRoot?: string;
    /** Parent of the private folder; default os.tmpdir(). */
    readonly dir?: string;
    readonly now?: () => number;
    readonly pid?: number;
}

export class DriftCarry {
    private constructor(
        private readonly folder: string,
        private readonly file: string,
        private readonly procRoot: string,
        private readonly now: () => number,
    ) {}

    /** The carry of this program's CLI process, or undefined when there is none to be had safely. */
    static open(opts: DriftCarryOptions): DriftCarry | undefined {
        const procRoot = opts.procRoot ?? "/proc";
        const cli = cliProcess(procRoot, opts.pid ?? process.pid);
        if (cli === undefined || typeof process.getuid !== "function") {
            return undefined;
        }
        const uid = process.getuid();
        const folder = path.join(opts.dir ?? os.tmpdir(), `k3s-over-usb-drift-${uid}`);
        try {
            fs.mkdirSync(folder, { mode: 0o700 });
        } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
                return undefined;
            }
        }
        // Only a folder of this user's that nobody else can write: never follow a planted link.
        const st = fs.lstatSync(folder);
        if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
            return undefined;
        }
        const stack = createHash("sha256").update(opts.stack).digest("hex").slice(0, 16);
        return new DriftCarry(folder, path.join(folder, `${stack}-${cli.pid}-${cli.started}.json`), procRoot, opts.now ?? Date.now);
    }

    /** The preview's results, for the update: left for the update of the same CLI process. */
    keep(digest: string, results: CheckResult[]): void {
        this.sweep();
        const body: CarryFile = { digest, at: this.now(), results };
        try {
            writePrivateFile(this.file, JSON.stringify(body));
        } catch {
            // no carry: the update checks the hosts itself
        }
    }

    /** The update: the preview's results if they are for this very plan and recent; the file is removed either way. */
    take(digest: string): CheckResult[] | undefined {
        let body: CarryFile;
        try {
            body = JSON.parse(fs.readFileSync(this.file, "utf8")) as CarryFile;
        } catch {
            return undefined;
        } finally {
            fs.rmSync(this.file, { force: true });
        }
        const age = this.now() - body.at;
        if (body.digest !== digest || !(age >= 0 && age <= carryMaxAgeMs) || !Array.isArray(body.results)) {
            return undefined;
        }
        return body.results;
    }

    /** Removes carries whose CLI process has ended (a `pulumi preview`, an up stopped at its prompt). */
    private sweep(): void {
        for (const name of fs.readdirSync(this.folder)) {
            const m = /^[0-9a-f]{16}-(\d+)-(\d+)\.json(\.\d+\.tmp)?$/.exec(name);
            if (m === null) {
                continue;
            }
            const stat = procStat(Number(m[1]), this.procRoot);
            if (stat === undefined || stat.started !== m[2]) {
                fs.rmSync(path.join(this.folder, name), { force: true });
            }
        }
    }
}
