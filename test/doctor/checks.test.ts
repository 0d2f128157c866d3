import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { digestEnv, hostScript, parseReport, type PlannedCheck } from "../../checks/plan";
import { checkCommand } from "../../checks/run";
import { repoRoot } from "../fixtures";
import { run } from "../run";

// The checks as they are really sent: check-lib.sh, then each check in a subshell with its values.
// They pass shellcheck and busybox's parser, and the library's helpers behave the same under
// busybox ash (the phones) and dash.

function checkFiles(): string[] {
    const out: string[] = [];
    for (const dir of ["hosts/steps", "hosts/laptop/steps", "hosts/pmos/steps"]) {
        for (const f of fs.readdirSync(path.join(repoRoot, dir))) {
            if (f.endsWith(".check.sh")) {
                out.push(`${dir}/${f}`);
            }
        }
    }
    return out.sort();
}

/** Every check script a component names. */
function referenced(): string[] {
    const found = new Set<string>();
    for (const f of fs.readdirSync(path.join(repoRoot, "components"))) {
        for (const m of fs.readFileSync(path.join(repoRoot, "components", f), "utf8").matchAll(/"(hosts\/[^"]+\.check\.sh)"/g)) {
            found.add(m[1]!);
        }
    }
    return [...found].sort();
}

/** A check with a placeholder for every variable its script reads. */
function placeholder(script: string): PlannedCheck {
    const text = fs.readFileSync(path.join(repoRoot, script), "utf8");
    const vars = [...new Set([...text.matchAll(/\$\{?([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!))].filter((v) => !v.startsWith("K3OU_"));
    return { key: "k", step: "s", host: "h", subject: "h", script, env: Object.fromEntries(vars.map((v) => [v, "x"])) };
}

const shells = [
    ["busybox", ["sh"]],
    ["dash", []],
] as const;

function sh(shell: readonly [string, readonly string[]], script: string): string {
    return run(shell[0], [...shell[1], "-c", script]);
}

describe("checks", () => {
    it("every check script is named by a component, and every named one exists", () => {
        expect(checkFiles()).toEqual(referenced());
        expect(checkFiles().length).toBeGreaterThanOrEqual(8);
    });

    it.each(checkFiles())("%s passes shellcheck and busybox sh -n as sent", (file) => {
        const text = hostScript([placeholder(file)], "openrc");
        run("shellcheck", ["--shell=sh", "--severity=style", "-"], { input: text });
        run("busybox", ["sh", "-n", "-c", text]);
    });

    it("long and multi-line values travel as the SHA-256 of the file they must equal", () => {
        const content = "line one\nline two\n";
        const env = digestEnv({ SHORT: "keep", FILE: content, LONG: "y".repeat(200) });
        expect(env["SHORT"]).toBe("keep");
        expect(env["FILE"]).toBe(`sha256:${createHash("sha256").update(content).digest("hex")}`);
        expect(env["LONG"]).toMatch(/^sha256:[0-9a-f]{64}$/);
    });

    describe.each(shells)("check-lib.sh under %s", (bin, args) => {
        const lib = fs.readFileSync(path.join(repoRoot, "hosts/steps/check-lib.sh"), "utf8");
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k3ou-check-"));
        const file = path.join(dir, "f");
        const content = "a 'quoted' line\n\nand a last one without newline";
        fs.writeFileSync(file, content);
        const digest = digestEnv({ X: content })["X"]!;
        const shell = [bin, args] as const;

        it("same_file compares content and digests exactly", () => {
            const q = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
            const script = `${lib}
same_file ${q(file)} ${q(content)} && echo content-same
same_file ${q(file)} ${q(`${content}\n`)} || echo trailing-newline-differs
same_file ${q(file)} ${q(digest)} && echo digest-same
same_file ${q(file)} sha256:0000 || echo digest-differs
same_file ${q(`${file}.missing`)} x || echo missing
first_bad_file ${q(file)} ${q(content)} ${q(`${file}.missing`)} x`;
            expect(sh(shell, script)).toBe(["content-same", "trailing-newline-differs", "digest-same", "digest-differs", "missing", `${file}.missing`, ""].join("\n"));
        });

        it("a report is one line of six tab-separated fields, whatever the detail holds", () => {
            const out = sh(shell, `${lib}\nK3OU_CHECK_KEY=one6t-node\nfail hostname "two\tfields and
a newline" up\nok radios off\nwarn battery "live differs" reboot`);
            expect(out.split("\n")).toEqual([
                "K3OU-CHECK\tone6t-node\thostname\tfail\ttwo fields and a newline\tup",
                "K3OU-CHECK\tone6t-node\tradios\tok\toff\t",
                "K3OU-CHECK\tone6t-node\tbattery\twarn\tlive differs\treboot",
                "",
            ]);
        });

        it("sysctl_mismatch names the first key the kernel disagrees with", () => {
            const live = sh(shell, "sysctl -n net.ipv4.ip_forward").trim();
            const other = live === "1" ? "0" : "1";
            const out = sh(shell, `${lib}\nsysctl_mismatch '# comment\nnet.ipv4.ip_forward = ${live}\n'; echo .; sysctl_mismatch 'net.ipv4.ip_forward=${other}'`);
            expect(out).toBe(`.\nnet.ipv4.ip_forward is ${live}, not ${other}\n`);
        });
    });

    it("a host's script runs each check in its own subshell; one that dies is reported, the others still run", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k3ou-check-"));
        const key = path.join(dir, "id");
        fs.writeFileSync(key, "k");
        fs.writeFileSync(`${key}.pub`, "p");
        const checks: PlannedCheck[] = [
            { key: "laptop-cleanup-key", step: "cleanup-key", host: "laptop", subject: "laptop", script: "hosts/laptop/steps/cleanup-key.check.sh", env: { KEY_PATH: key } },
            { key: "gone-key", step: "cleanup-key", host: "laptop", subject: "laptop", script: "hosts/laptop/steps/cleanup-key.check.sh", env: { KEY_PATH: `${key}.gone` } },
            // No KEY_PATH: set -u stops the check.
            { key: "broken", step: "cleanup-key", host: "laptop", subject: "laptop", script: "hosts/laptop/steps/cleanup-key.check.sh", env: {} },
        ];
        for (const [bin, args] of shells) {
            const out = run(bin, [...args, "-c", hostScript(checks, "systemd")]);
            const results = parseReport(`noise\n${out}K3OU-CHECK\tunknown-key\tk3s\tok\tx\t\n`, checks);
            expect(results.map((r) => `${r.key} ${r.column} ${r.status}`)).toEqual(["laptop-cleanup-key k3s ok", "gone-key k3s fail", "broken check fail"]);
            expect(results[1]!.detail).toBe(`${key}.gone is missing: deleting an agent could not uninstall it from its phone`);
            expect(results[1]!.fix).toBe("up");
            expect(results[2]!.detail).toBe("the check of cleanup-key stopped with an error");
        }
    });

    it("a laptop with a hundred phones' checks runs them all: the script goes on stdin, not into one argument", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k3ou-check-"));
        const big = "z".repeat(150);
        const checks: PlannedCheck[] = Array.from({ length: 200 }, (_, i) => ({
            key: `phone${i}-check`,
            step: "cleanup-key",
            host: "laptop",
            subject: "laptop",
            script: "hosts/laptop/steps/cleanup-key.check.sh",
            // Long plain values, as a link check carries paths and names.
            env: { KEY_PATH: path.join(dir, `id${i}`), PAD_A: big, PAD_B: big, PAD_C: big, PAD_D: big },
        }));
        const { command, stdin } = checkCommand({ name: "laptop", escalation: "root", init: "systemd" }, checks);
        expect(stdin.length).toBeGreaterThan(200 * 1024);
        for (const [bin, args] of shells) {
            const results = parseReport(run(bin, [...args, "-c", command], { input: stdin }), checks);
            expect(results).toHaveLength(200);
            expect(new Set(results.map((r) => r.status))).toEqual(new Set(["fail"]));
        }
    });

    it("a host's checks run side by side, and report in the plan's order", () => {
        // B makes the file A waits for: one after the other, A would give up first.
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k3ou-check-"));
        const flag = path.join(dir, "flag");
        const script = (name: string, text: string) => {
            fs.writeFileSync(path.join(dir, name), text);
            return path.relative(repoRoot, path.join(dir, name));
        };
        const waits = script("a.check.sh", 'i=0\nwhile [ ! -e "$FLAG" ] && [ "$i" -lt 5 ]; do sleep 1; i=$((i + 1)); done\nif [ -e "$FLAG" ]; then ok k3s "saw b"; else fail k3s "alone" up; fi\n');
        const makes = script("b.check.sh", 'sleep 1\n: > "$FLAG"\nok k3s "made it"\n');
        const checks: PlannedCheck[] = [
            { key: "a", step: "a", host: "laptop", subject: "laptop", script: waits, env: { FLAG: flag } },
            { key: "b", step: "b", host: "laptop", subject: "laptop", script: makes, env: { FLAG: flag } },
        ];
        for (const [bin, args] of shells) {
            fs.rmSync(flag, { force: true });
            const results = parseReport(run(bin, [...args, "-c", hostScript(checks, "systemd")]), checks);
            expect(results.map((r) => `${r.key} ${r.status} ${r.detail}`)).toEqual(["a ok saw b", "b ok made it"]);
        }
        fs.rmSync(dir, { recursive: true, force: true });
    });
});
