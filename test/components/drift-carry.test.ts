import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CheckResult, PlannedCheck } from "../../checks/plan";
import { carryMaxAgeMs, cliProcess, DriftCarry, planDigest, procStat } from "../../components/drift-carry";

// A fake /proc: node (program, pid 300) <- pulumi-language-nodejs (200) <- pulumi (100) <- bash (50).
let root: string;
let proc: string;

function fakeProcess(pid: number, comm: string, ppid: number, started: number): void {
    fs.mkdirSync(path.join(proc, String(pid)), { recursive: true });
    // Fields after comm: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
    // stime cutime cstime priority nice threads itrealvalue starttime ...
    const rest = ["S", ppid, 1, 1, 0, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 20, 0, 1, 0, started, 1000, 10].join(" ");
    fs.writeFileSync(path.join(proc, String(pid), "stat"), `${pid} (${comm}) ${rest}\n`);
}

const plan: PlannedCheck[] = [
    { key: "one6t-node", step: "pmos-node", host: "one6t", subject: "one6t", script: "hosts/pmos/steps/node.check.sh", env: { A: "1" } },
    { key: "k3master-install", step: "k3s-server", host: "k3master", subject: "k3master", script: "hosts/steps/k3s-install.check.sh", env: {} },
];
const results: CheckResult[] = [{ key: "one6t-node", host: "one6t", subject: "one6t", column: "hostname", status: "fail", detail: "hostname is localhost", fix: "up" }];
const scripts = (s: string) => `# ${s}\n`;

beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "carry-"));
    proc = path.join(root, "proc");
    fakeProcess(50, "bash", 1, 10);
    fakeProcess(100, "pulumi", 50, 1234);
    fakeProcess(200, "pulumi-language-", 100, 1240);
    fakeProcess(300, "node", 200, 1250);
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

const open = (now = () => 1_000_000, pid = 300) => DriftCarry.open({ stack: "org/k3s-over-usb/lab", procRoot: proc, dir: root, now, pid });

describe("the drift check's carry from an up's preview to its update", () => {
    it("reads /proc's stat, a command name with spaces and parentheses included", () => {
        fakeProcess(400, "a (b) c", 300, 99);
        expect(procStat(400, proc)).toEqual({ comm: "a (b) c", ppid: 300, started: "99" });
        expect(procStat(401, proc)).toBeUndefined();
    });

    it("finds the pulumi CLI above the language host, and nothing when there is none", () => {
        expect(cliProcess(proc, 300)).toEqual({ pid: 100, started: "1234" });
        fakeProcess(600, "node", 50, 5);
        expect(cliProcess(proc, 600)).toBeUndefined();
        expect(cliProcess(path.join(root, "no-proc"), 300)).toBeUndefined();
    });

    it("the update takes what the preview kept, once; the file is private and then gone", () => {
        const digest = planDigest(plan, scripts);
        open()!.keep(digest, results);
        const folder = path.join(root, `k3s-over-usb-drift-${process.getuid!()}`);
        expect(fs.statSync(folder).mode & 0o777).toBe(0o700);
        const files = fs.readdirSync(folder);
        expect(files).toHaveLength(1);
        expect(files[0]).toMatch(/^[0-9a-f]{16}-100-1234\.json$/);
        expect(fs.statSync(path.join(folder, files[0]!)).mode & 0o777).toBe(0o600);
        expect(open()!.take(digest)).toEqual(results);
        expect(fs.readdirSync(folder)).toHaveLength(0);
        expect(open()!.take(digest)).toBeUndefined();
    });

    it("is refused for another plan, a changed script, an old preview, or another stack", () => {
        const digest = planDigest(plan, scripts);
        const other = planDigest([{ ...plan[0]!, env: { A: "2" } }, plan[1]!], scripts);
        const edited = planDigest(plan, (s) => `${scripts(s)}echo edited\n`);
        expect(new Set([digest, other, edited]).size).toBe(3);
        open()!.keep(digest, results);
        expect(open()!.take(other)).toBeUndefined();
        open()!.keep(digest, results);
        expect(open(() => 1_000_000 + carryMaxAgeMs + 1)!.take(digest)).toBeUndefined();
        open()!.keep(digest, results);
        expect(DriftCarry.open({ stack: "org/k3s-over-usb/other", procRoot: proc, dir: root, pid: 300 })!.take(digest)).toBeUndefined();
    });

    it("a preview's carry is not read by another CLI's update, and is swept once that CLI has ended", () => {
        const digest = planDigest(plan, scripts);
        open()!.keep(digest, results); // `pulumi preview`, pid 100
        fakeProcess(110, "pulumi", 50, 2000); // then `pulumi up`, pid 110
        fakeProcess(210, "pulumi-language-", 110, 2001);
        fakeProcess(310, "node", 210, 2002);
        expect(open(undefined, 310)!.take(digest)).toBeUndefined();
        const folder = path.join(root, `k3s-over-usb-drift-${process.getuid!()}`);
        expect(fs.readdirSync(folder)).toHaveLength(1); // the preview's CLI is still running
        fs.rmSync(path.join(proc, "100"), { recursive: true });
        open(undefined, 310)!.keep(digest, results);
        expect(fs.readdirSync(folder)).toEqual([expect.stringMatching(/-110-2000\.json$/)]);
    });

    it("no carry in a folder someone else could write, or that is not a folder", () => {
        const folder = path.join(root, `k3s-over-usb-drift-${process.getuid!()}`);
        fs.mkdirSync(folder, { mode: 0o777 });
        fs.chmodSync(folder, 0o777);
        expect(open()).toBeUndefined();
        fs.rmdirSync(folder);
        fs.symlinkSync(root, folder);
        expect(open()).toBeUndefined();
    });
});
