import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { renderCommand, renderStep, stepCommand, stepInput } from "../../hosts/command";
import { stepScript } from "../../hosts/scripts";
import { repoRoot } from "../fixtures";
import { run } from "../run";

// Every remote step, as it is really sent (the shared prelude, then the step), passes shellcheck as
// POSIX sh and parses under busybox ash, the shell of the phones.

function stepFiles(): string[] {
    const out: string[] = [];
    for (const dir of ["hosts/steps", "hosts/laptop/steps", "hosts/pmos/steps"]) {
        for (const f of fs.readdirSync(path.join(repoRoot, dir))) {
            if (f.endsWith(".sh") && f !== "lib.sh" && f !== "check-lib.sh" && !f.endsWith(".check.sh")) {
                out.push(`${dir}/${f}`);
            }
        }
    }
    return out.sort();
}

describe("remote steps", () => {
    const files = stepFiles();

    it("are all there", () => {
        expect(files).toEqual([
            "hosts/laptop/steps/cleanup-key-delete.sh",
            "hosts/laptop/steps/cleanup-key.sh",
            "hosts/laptop/steps/kubeconfig.sh",
            "hosts/laptop/steps/link-delete.sh",
            "hosts/laptop/steps/link.sh",
            "hosts/laptop/steps/locate-phone.sh",
            "hosts/laptop/steps/metallb-webhook.sh",
            "hosts/laptop/steps/node-drain.sh",
            "hosts/laptop/steps/node-ready.sh",
            "hosts/laptop/steps/node-remove.sh",
            "hosts/pmos/steps/adopt.sh",
            "hosts/pmos/steps/battery-cap-delete.sh",
            "hosts/pmos/steps/battery-cap.sh",
            "hosts/pmos/steps/cleanup-access.sh",
            "hosts/pmos/steps/link-delete.sh",
            "hosts/pmos/steps/link.sh",
            "hosts/pmos/steps/node-delete.sh",
            "hosts/pmos/steps/node.sh",
            "hosts/steps/k3s-install.sh",
            "hosts/steps/k3s-uninstall.sh",
        ]);
    });

    it.each(files)("%s passes shellcheck and busybox sh -n", (file) => {
        const text = stepScript(file);
        run("shellcheck", ["--shell=sh", "--severity=style", "-"], { input: text });
        run("busybox", ["sh", "-n", "-c", text]);
    });

    it.each(files)("%s checks its inputs and starts from the shared prelude", (file) => {
        const text = stepScript(file);
        expect(text.startsWith("# shellcheck shell=sh\n")).toBe(true);
        expect(text).toContain("set -eu\n");
    });
});

describe("the command line of a step", () => {
    const tricky = "it's \"quoted\" $HOME `date` \\ \n second line; rm -rf /nope";
    const script = 'printf "%s|%s|%s" "$K3OU_HOST" "$K3OU_STEP" "$VALUE"';

    it("delivers every value byte for byte, as root", () => {
        const cmd = renderCommand({ name: "one6t", escalation: "root", init: "auto" }, "probe", script, { VALUE: tricky });
        expect(run("sh", ["-c", cmd])).toBe(`one6t|probe|${tricky}`);
        expect(run("busybox", ["sh", "-c", cmd])).toBe(`one6t|probe|${tricky}`);
    });

    it("picks doas before sudo when escalation is auto, non-interactively", () => {
        const bin = fs.mkdtempSync(path.join(os.tmpdir(), "k3ou-bin-"));
        // Recording stand-ins for the escalation tools: they note how they were called, then run the rest.
        for (const tool of ["doas", "sudo"]) {
            fs.writeFileSync(path.join(bin, tool), `#!/bin/sh\necho "${tool} $1" >> "${bin}/calls"\nshift\nexec "$@"\n`, { mode: 0o755 });
        }
        // Only these tools on PATH: the machine's own doas must not be found.
        fs.symlinkSync("/bin/sh", path.join(bin, "sh"));
        fs.symlinkSync("/usr/bin/env", path.join(bin, "env"));
        const env = { ...process.env, PATH: bin };
        const cmd = renderCommand({ name: "one62", escalation: "auto", init: "auto" }, "probe", script, { VALUE: tricky });
        expect(run("/usr/bin/busybox", ["sh", "-c", cmd], { env })).toBe(`one62|probe|${tricky}`);
        fs.rmSync(path.join(bin, "doas"));
        expect(run("/usr/bin/busybox", ["sh", "-c", cmd], { env })).toBe(`one62|probe|${tricky}`);
        expect(fs.readFileSync(path.join(bin, "calls"), "utf8")).toBe("doas -n\nsudo -n\n");
    });

    it("refuses names that are not shell variables", () => {
        expect(() => renderCommand({ name: "x", escalation: "root", init: "auto" }, "s", "true", { "A-B": "1" })).toThrow(/not a valid variable name/);
    });
});

describe("a step's program on stdin", () => {
    const tricky = "it's \"quoted\" $HOME `date` \\ \n second line; rm -rf /nope";
    const script = 'printf "%s|%s|%s|" "$K3OU_HOST" "$K3OU_STEP" "$VALUE"; IFS= read -r secret || true; printf "%s|" "$secret"; cat; echo end';

    it("delivers values byte for byte and the secret as the script's stdin; nothing else can be read", () => {
        for (const shell of [["sh"], ["busybox", "sh"]]) {
            const { command, stdin } = renderStep({ name: "one6t", escalation: "root", init: "auto" }, "probe", script, { VALUE: tricky }, "s3cr3t\nsecond");
            expect(run(shell[0]!, [...shell.slice(1), "-c", command], { input: stdin })).toBe(`one6t|probe|${tricky}|s3cr3t|second\nend\n`);
            const open = renderStep({ name: "one6t", escalation: "root", init: "auto" }, "probe", script, { VALUE: "v" });
            expect(run(shell[0]!, [...shell.slice(1), "-c", open.command], { input: open.stdin })).toBe("one6t|probe|v||end\n");
        }
    });

    it("keeps values and secrets off the command line, which names host and step only", () => {
        const { command, stdin } = renderStep({ name: "one62", escalation: "doas", init: "auto" }, "k3s-agent", stepScript("hosts/steps/k3s-install.sh"), { CONFIG: "node-ip: 10.0.2.2\n" }, "token");
        expect(command).toBe(`exec doas -n env K3OU_HOST='one62' K3OU_STEP='k3s-agent' K3OU_INIT='auto' sh -c 'eval "$(cat)"' 'k3s-over-usb-k3s-agent'`);
        expect(command).not.toMatch(/token|10\.0\.2\.2/);
        expect(stdin).toContain("export CONFIG='node-ip: 10.0.2.2\n'");
        expect(stepCommand({ name: "one62", escalation: "doas", init: "auto" }, "k3s-agent")).toBe(command);
    });

    it("a failing script's own FAILED line comes right after the short command line", () => {
        const { command, stdin } = renderStep({ name: "one6t", escalation: "root", init: "auto" }, "probe", stepScript("hosts/pmos/steps/battery-cap.sh"), { DTB: "/nope", NODE: "/battery", PROP: "p", CAP: "1", SAFE_MIN: "0", SAFE_MAX: "9", HOOK_PATH: "/nope", HOOK: "#" });
        const r = spawnSync("sh", ["-c", command], { input: stdin, encoding: "utf8" });
        expect(r.status).toBe(1);
        expect(r.stderr.split("\n")[0]).toMatch(/^k3s-over-usb: one6t: probe: FAILED: /);
    });

    it("a step with its own update tells a first run from a re-run: the forget step never deletes a node because the program changed", () => {
        const laptop = { name: "k3master", escalation: "root" as const, init: "auto" };
        const runStep = (step: string, script: string, env: Record<string, string>, action?: "update") => {
            const stdin = stepInput(step, stepScript(script), env);
            return spawnSync("sh", ["-c", stepCommand(laptop, step, action)], { input: stdin, encoding: "utf8" });
        };
        // No k3s on this machine: a create goes as far as looking for the API server; an update stops first.
        const forgetCreate = runStep("forget one62", "hosts/laptop/steps/node-remove.sh", { NODE: "one62" });
        expect(forgetCreate.status, forgetCreate.stderr).toBe(0);
        expect(forgetCreate.stderr).toContain("already: no API server on this laptop; no node to remove");
        const forgetUpdate = runStep("forget one62", "hosts/laptop/steps/node-remove.sh", { NODE: "one62" }, "update");
        expect(forgetUpdate.status, forgetUpdate.stderr).toBe(0);
        expect(forgetUpdate.stderr.trim()).toBe("k3s-over-usb: k3master: forget one62: already: one62's host key is unchanged; nothing to forget");
        // The drain: nothing on a first join; on an upgrade (an update) it needs the API server and says so.
        const drainEnv = { NODE: "one62", VERSION: "v1.35.5+k3s2", DRAIN_TIMEOUT: "300" };
        const drainCreate = runStep("drain one62", "hosts/laptop/steps/node-drain.sh", drainEnv);
        expect(drainCreate.status, drainCreate.stderr).toBe(0);
        expect(drainCreate.stderr.trim()).toBe("k3s-over-usb: k3master: drain one62: already: one62 joins for the first time; nothing to drain");
        const drainUpdate = runStep("drain one62", "hosts/laptop/steps/node-drain.sh", drainEnv, "update");
        expect(drainUpdate.status).toBe(1);
        expect(drainUpdate.stderr.split("\n")[0]).toBe("k3s-over-usb: k3master: drain one62: FAILED: the API server does not answer, so one62 cannot be drained before its upgrade to v1.35.5+k3s2");
    });
});
