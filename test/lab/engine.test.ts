import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stepCommand } from "../../hosts/command";
import { labStatus } from "../../lab/household";
import { lab } from "./hosts";
import { LabStack, onHost, repo } from "./stack";

// The real Pulumi engine (tools/pulumi-engine) converging the lab: preview, up, no-op, secrets,
// reflash, a changed host key, a targeted destroy and rejoin, destroy. Run by tools/test.sh inside
// the operator's namespace with the engine's environment (env.sh) and a fresh lab.

// Its own stack, so the main job's lab stack is left alone.
const e2e = new LabStack("e2e");
const stack = e2e.name;
const pulumi = (args: string[], opts: { ok?: boolean } = {}) => e2e.pulumi(args, opts);
const writeStackConfig = () => e2e.writeConfig();
const editHousehold = (edit: (h: any) => void) => e2e.editHousehold(edit);

/** The lines (trimmed, blank ones dropped) pulumi prints under one resource's header in Diagnostics. */
function diagnostics(out: string, header: string): string[] {
    const lines = out.slice(out.lastIndexOf("Diagnostics:")).split("\n");
    const start = lines.findIndex((l) => l.trim() === header);
    expect(start, `no "${header}" in the diagnostics:\n${out.slice(-4000)}`).toBeGreaterThanOrEqual(0);
    const block: string[] = [];
    for (const line of lines.slice(start + 1)) {
        if (/^ {2}\S/.test(line) || /^\S/.test(line)) {
            break; // the next resource's header, or the end of Diagnostics
        }
        if (line.trim() !== "") {
            block.push(line.trim());
        }
    }
    return block;
}

/** New SSH connections seen by the laptop: arriving (the operator's sessions) and leaving (jumps to the phones). */
function countSshSessions(): () => { in: number; out: number } {
    onHost(
        "laptop",
        `nft delete table inet k3ou_e2e_ssh 2>/dev/null; nft -f - <<'EOF'
table inet k3ou_e2e_ssh {
  chain in { type filter hook input priority 0; tcp dport 22 ct state new counter; }
  chain out { type filter hook output priority 0; tcp dport 22 ct state new counter; }
}
EOF`,
    );
    return () => {
        const listed = onHost("laptop", "nft list table inet k3ou_e2e_ssh; nft delete table inet k3ou_e2e_ssh");
        const [inbound, outbound] = [...listed.matchAll(/packets (\d+)/g)].map((m) => Number(m[1]));
        return { in: inbound!, out: outbound! };
    };
}

function dayZeroLaptop(): string {
    return onHost("laptop", "ls /etc/netplan /etc/systemd/network /etc/sysctl.d /usr/local/bin; nft list tables; ip -o -4 addr");
}

beforeAll(() => {
    e2e.init();
}, 300_000);

afterAll(() => e2e.dispose());

describe("the real engine on the lab", () => {
    it("a bad config fails preview before any host is touched", () => {
        const before = dayZeroLaptop();
        editHousehold((h) => {
            h.phones[1].link.subnet = h.phones[0].link.subnet;
        });
        const r = pulumi(["preview"], { ok: false });
        expect(r.code).not.toBe(0);
        expect(r.out).toContain("the household config has 1 problem; nothing was changed on any host");
        expect(r.out).toContain("phones[1].link.subnet: overlaps phones[0].link.subnet (one6t) [link-overlap]");
        writeStackConfig();
        expect(dayZeroLaptop()).toBe(before);
    });

    it("preview shows the full plan and touches no host", () => {
        const before = dayZeroLaptop();
        const r = pulumi(["preview", "--diff"]);
        for (const p of labStatus().phones) {
            for (const name of [`${p.name}-laptop-link`, `${p.name}-locate`, `${p.name}-adopt`, `${p.name}-node`, `${p.name}-battery-cap`, `${p.name}-install`, `${p.name}-ready`]) {
                expect(r.out).toContain(name);
            }
        }
        expect(r.out).toMatch(/\+ \d+ to create/);
        expect(dayZeroLaptop()).toBe(before);
        expect(onHost("one62", "hostname")).toBe("oneplus-enchilada\n");
    });

    it("up converges from day zero, and preview --expect-no-changes passes right after", () => {
        pulumi(["up", "--yes"]);
        pulumi(["preview", "--expect-no-changes"]);
        const nodes = onHost("laptop", "k3s kubectl get nodes");
        for (const p of labStatus().phones) {
            expect(nodes).toMatch(new RegExp(`^${p.name}\\s+Ready`, "m"));
        }
    }, 900_000);

    it("a no-op up runs no step and checks each host once: its preview's drift check serves its update", () => {
        const sessions = countSshSessions();
        const r = pulumi(["up", "--yes"]);
        const seen = sessions();
        expect(r.out).toMatch(/\d+ unchanged/);
        expect(r.out).not.toMatch(/\d+ (to )?(create|update|replace|delete)/);
        // One session to the laptop, with each phone's check jumped through it; a second drift check
        // (the update's own) would double both.
        expect(seen).toEqual({ in: 1, out: labStatus().phones.length });
    }, 300_000);

    it("the file backend as the README advises: the checkpoint and its .bak compressed, no sidecar files", () => {
        const files = fs.readdirSync(e2e.backend, { recursive: true, encoding: "utf8" });
        const stack = path.join(".pulumi", "stacks", "k3s-over-usb", `${e2e.name}.json.zst`);
        expect(files).toContain(stack);
        expect(files).toContain(`${stack}.bak`);
        expect(files.filter((f) => f.endsWith(".attrs"))).toEqual([]);
        expect(files.filter((f) => f.endsWith(".json"))).toEqual([]);
    });

    it("the engine's automatic log stays off in the project's engine home: a preview writes none", () => {
        // tools/pulumi-engine/build.sh puts a file where the CLI's log directory would be; the CLI then
        // goes on without its log (the log cost 44 % of the engine's CPU in a no-op up).
        const home = process.env.PULUMI_HOME!;
        expect(home).toBe(`${process.env.K3OU_ENGINE_DIR}/home`);
        const logs = `${home}/logs`;
        expect(fs.statSync(logs).isFile(), `${logs} is no file: run tools/pulumi-engine/build.sh`).toBe(true);
        const before = fs.readdirSync(home).sort();
        const r = pulumi(["preview"]);
        expect(r.out).not.toMatch(/automatic log/i);
        expect(fs.statSync(logs).isFile()).toBe(true);
        expect(fs.readdirSync(home).sort()).toEqual(before);
    }, 300_000);

    it("the state holds no plaintext token or private key, and no host's command lines show them", () => {
        const plain = pulumi(["stack", "export"]).out;
        const revealed = pulumi(["stack", "export", "--show-secrets"]).out;
        const deployment = JSON.parse(revealed) as { deployment: { resources: Array<{ type: string; outputs?: Record<string, any> }> } };
        const result = deployment.deployment.resources.find((r) => r.type === "random:index/randomPassword:RandomPassword")?.outputs?.["result"];
        const token = typeof result === "object" && result !== null ? (JSON.parse(result.plaintext as string) as string) : undefined;
        expect(token).toMatch(/^[A-Za-z0-9]{48}$/);
        expect(token, "the token is in the state, as a secret").toBeDefined();
        expect(plain).not.toContain(token);
        const keyBody = fs.readFileSync(labStatus().sshPrivateKeyPath, "utf8").split("\n")[1]!;
        expect(revealed).toContain(keyBody);
        expect(plain).not.toContain(keyBody);
        for (const host of ["laptop", ...labStatus().phones.map((p) => p.name)]) {
            expect(onHost(host, "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '"), host).not.toContain(token);
        }
    });

    it("a phone's host key changed without the config saying so is refused, naming the phone", () => {
        // Another machine answering at the phone's address: a new identity, same place.
        onHost("one62", "rm -f /etc/ssh/ssh_host_ed25519_key*; ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key; rc-service sshd restart >/dev/null");
        editHousehold((h) => {
            h.phones[1].batteryCapMicrovolts = 3750000;
        });
        const r = pulumi(["up", "--yes"], { ok: false });
        expect(r.code).not.toBe(0);
        expect(r.out).toMatch(/one62/);
        expect(r.out).toMatch(/host key/i);
    }, 900_000);

    it("a reflashed phone, with its new host key in the config, converges again", () => {
        lab("reflash", "one62");
        writeStackConfig();
        pulumi(["up", "--yes"]);
        expect(onHost("one62", "hostname")).toBe("one62\n");
        expect(onHost("laptop", "k3s kubectl get nodes")).toMatch(/^one62\s+Ready/m);
        pulumi(["preview", "--expect-no-changes"]);
    }, 900_000);

    it("one phone unreachable: up fails naming it and its step, the others converge, the next up finishes", () => {
        // Its SSH server gone: a link set down on the laptop would be drift that this up repairs first.
        onHost("one61", "rc-service sshd stop >/dev/null");
        editHousehold((h) => {
            for (const p of h.phones) {
                p.batteryCapMicrovolts = 3750000;
            }
        });
        const r = pulumi(["up", "--yes"], { ok: false });
        expect(r.code).not.toBe(0);
        expect(r.out).toMatch(/one61-battery-cap/);
        for (const p of labStatus().phones.filter((x) => x.name !== "one61")) {
            expect(onHost(p.name, `fdtget -t u /boot/dtbs/qcom/sdm845-${p.device}.dtb /battery voltage-max-design-microvolt`), p.name).toBe("3750000\n");
        }
        onHost("one61", "rc-service sshd start >/dev/null");
        pulumi(["up", "--yes"]);
        expect(onHost("one61", "fdtget -t u /boot/dtbs/qcom/sdm845-oneplus-enchilada.dtb /battery voltage-max-design-microvolt")).toBe("3750000\n");
        pulumi(["preview", "--expect-no-changes"]);
    }, 900_000);

    it("a step that fails reads first its host, step, problem and fix; no script text in the output", () => {
        onHost("one62", "dd if=/dev/zero of=/boot/filler bs=1M 2>/dev/null || true");
        editHousehold((h) => {
            for (const p of h.phones) {
                p.batteryCapMicrovolts = 3760000;
            }
        });
        let r: { code: number; out: string };
        try {
            r = pulumi(["up", "--yes"], { ok: false });
        } finally {
            onHost("one62", "rm -f /boot/filler");
        }
        expect(r.code).not.toBe(0);
        const block = diagnostics(r.out, "command:remote:Command (one62-battery-cap):");
        // What the user reads under the failed step: the command line naming host and step (the lab's
        // phones leave doas or sudo to the phone: escalation auto), then the step's problem and fix.
        const error = block.findIndex((l) => l.startsWith("error: "));
        expect(error, block.join("\n")).toBe(0);
        expect(block[error]).toBe(`error: Process exited with status 1: running ${JSON.stringify(stepCommand({ name: "one62", escalation: "auto", init: "auto" }, "battery-cap"))}:`);
        // About 430 characters with escalation auto (the doas-or-sudo choice is most of it), where the
        // whole prelude and script (6 KB) used to be.
        expect(block[error]!.length).toBeLessThan(500);
        expect(block[error + 1]).toMatch(/^k3s-over-usb: one62: battery-cap: FAILED: \/boot is full: \d+ KiB free, rebuilding the boot image needs about \d+ KiB; nothing was changed/);
        expect(block[error + 2]).toMatch(/^fix: free space on the phone's \/boot/);
        // Nothing of the scripts or the values (the hook's text) anywhere in what the user reads.
        expect(r.out).not.toContain("put_file()");
        expect(r.out).not.toContain("boot-deploy runs this before it appends the DTB");
        expect(block.join("\n").length).toBeLessThan(1500);
        pulumi(["up", "--yes"]);
        expect(onHost("one62", "fdtget -t u /boot/dtbs/qcom/sdm845-oneplus-enchilada.dtb /battery voltage-max-design-microvolt")).toBe("3760000\n");
        pulumi(["preview", "--expect-no-changes"]);
    }, 900_000);

    it("an up killed midway, then run again, finishes", async () => {
        editHousehold((h) => {
            for (const p of h.phones) {
                p.batteryCapMicrovolts = 3800000;
            }
        });
        const child = spawn("pulumi", ["up", "--yes", "--stack", stack, "--non-interactive"], { cwd: repo, env: e2e.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
        // Killed while steps run: after the first step has started, before the run can end.
        const killed = await new Promise<boolean>((resolve) => {
            let seen = false;
            child.stdout.on("data", (d: Buffer) => {
                if (!seen && /updating/.test(d.toString())) {
                    seen = true;
                    setTimeout(() => {
                        try {
                            process.kill(-child.pid!, "SIGKILL");
                            resolve(true);
                        } catch {
                            resolve(false);
                        }
                    }, 300);
                }
            });
            child.on("exit", () => setTimeout(() => resolve(false), 1_000));
        });
        expect(killed, "pulumi up was still running when it was killed").toBe(true);
        await new Promise((r) => setTimeout(r, 1_000));
        // A killed process leaves the file backend's lock behind; pulumi cancel removes it.
        pulumi(["cancel", "--yes"]);
        const again = pulumi(["up", "--yes"], { ok: false });
        if (again.code !== 0) {
            // Operations the killed run never finished are cleared, then the steps run again.
            expect(again.out).toMatch(/pending/i);
            pulumi(["refresh", "--yes", "--clear-pending-creates"]);
            pulumi(["up", "--yes"]);
        }
        pulumi(["preview", "--expect-no-changes"]);
        for (const p of labStatus().phones) {
            expect(onHost(p.name, `fdtget -t u /boot/dtbs/qcom/sdm845-${p.device}.dtb /battery voltage-max-design-microvolt`), p.name).toBe("3800000\n");
        }
    }, 900_000);

    it("destroying one phone's agent (targeted) and running up again rejoins it under the same name", () => {
        const urn = `urn:pulumi:${stack}::k3s-over-usb::k3s-over-usb:k3s:K3sAgent::one6t`;
        pulumi(["destroy", "--yes", "--target", urn, "--target-dependents"]);
        expect(onHost("laptop", "k3s kubectl get nodes")).not.toMatch(/^one6t\s/m);
        expect(onHost("one6t", "ls /usr/local/bin")).not.toContain("k3s");
        pulumi(["up", "--yes"]);
        expect(onHost("laptop", "k3s kubectl get nodes")).toMatch(/^one6t\s+Ready/m);
    }, 900_000);

    it("destroy returns the hosts to the lab's day zero", () => {
        pulumi(["destroy", "--yes"]);
        const laptop = dayZeroLaptop();
        expect(laptop).not.toMatch(/k3s|k3ou_nat|10\.0\.\d+\.1\//);
        for (const p of labStatus().phones) {
            const phone = onHost(p.name, "hostname; ls /usr/local/bin /etc/nftables.d; cat /etc/deviceinfo; nft list chain inet filter forward");
            expect(phone, p.name).toContain(`${p.dayZeroHostname}\n`);
            expect(phone, p.name).not.toMatch(/k3s|deviceinfo_usb_network_host_addr/);
        }
    }, 900_000);
});
