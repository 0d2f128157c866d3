import * as path from "path";
import { beforeAll, describe, expect, it } from "vitest";
import { Access } from "../../components/access";
import { householdGraph } from "../../components/graph";
import { labHousehold, labK3sSource, labStatus } from "../../lab/household";
import { parseHousehold, type Household } from "../../household/model";
import { run as ssh } from "../../ops/ssh";
import { converge, replay, type Executed } from "./harness";
import { LabHosts, lab } from "./hosts";
import { labK3sDir } from "./stack";

// K3sServer and K3sAgent's steps on the lab, with the lab's k3s on the air-gap path (the install
// script's contract: INSTALL_K3S_SKIP_DOWNLOAD, service files, uninstall scripts; the join contract:
// token, node password), real kubelets underneath.

const repo = path.join(__dirname, "..", "..");
const k3sDir = labK3sDir();

let household: Household;
let hosts: LabHosts;
let executed: Executed[];

function labHouseholdWithK3s(): Household {
    const h = labHousehold(labStatus());
    h["k3s"] = { ...(h["k3s"] as object), source: labK3sSource(k3sDir, path.join(repo, "lab/k3s/install.sh")) };
    h["metallb"] = null;
    return parseHousehold(h, "lab stack");
}

/** The program's own graph (the household has no MetalLB here); `only` limits the phones (what a targeted update would touch). */
function build(h: Household, access: Access, only?: string): void {
    householdGraph({ household: h, access, contextName: "k3s-over-usb-lab", ...(only !== undefined ? { only: [only] } : {}) });
}

/**
 * Serves the laptop's staged copies of the lab's install script and binary over HTTP at the laptop's
 * end of the phone's link (a stand-in for GitHub, which this machine cannot reach); returns the base URL.
 */
async function serveStagedFiles(phone: Household["phones"][number]): Promise<string> {
    const at = phone.link.laptopAddress;
    const dir = `$(getent passwd ${household.laptop.ssh.user} | cut -d: -f6)/.cache/k3s-over-usb/${household.k3s.version}`;
    await hosts.onLaptop(`cd "${dir}" && setsid python3 -m http.server 8087 --bind ${at} >/dev/null 2>&1 < /dev/null &
for i in $(seq 50); do curl -sf -o /dev/null http://${at}:8087/install.sh && exit 0; sleep 0.1; done; exit 1`);
    return `http://${at}:8087`;
}

/** A recorded install step's program (its stdin), switched from the air-gap path to the official one at `base`. */
function officialPath(program: string, base: string): string {
    expect(program).toContain("export SOURCE='local'\n");
    return program.replace("export SOURCE='local'\n", `export SOURCE='official'\nexport SCRIPT_URL='${base}/install.sh'\nexport BINARY_URL='${base}/k3s'\n`);
}

async function nodes(): Promise<string> {
    return hosts.onLaptop("k3s kubectl get nodes");
}

/** NAME STATUS VERSION of every node: what a second run must not change (AGE moves on). */
function nodeSet(table: string): string[] {
    return table
        .trim()
        .split("\n")
        .slice(1)
        .map((l) => l.split(/\s+/))
        .map((c) => `${c[0]} ${c[1]} ${c[c.length - 1]}`)
        .sort();
}

beforeAll(async () => {
    household = labHouseholdWithK3s();
    hosts = new LabHosts(household);
    executed = await converge(() => build(household, new Access(household, hosts.privateKey)));
}, 900_000);

describe("k3s from the program's steps on the lab", () => {
    it("the server answers and every phone joined as its own node, Ready", async () => {
        const table = await nodes();
        for (const name of household.phones.map((p) => p.name)) {
            expect(table).toMatch(new RegExp(`^${name}\\s+Ready\\b`, "m"));
        }
        expect(await hosts.onLaptop("k3s kubectl get --raw=/readyz")).toBe("ok");
    });

    it("the token sits only in root-only files, never in an env file or a process's command line", async () => {
        // The step's program reaches the host on stdin, the token in a here-document at its end.
        const program = executed.find((e) => e.name === `${household.laptop.name}-install`)!.stdin!;
        const token = /<<'(K3OU_STDIN_[0-9a-f]{64})'\n([^\n]*)\n\1\n$/.exec(program)?.[2];
        expect(token).toMatch(/^[A-Za-z0-9]{48}$/);
        expect(await hosts.onLaptop("stat -c %a /etc/rancher/k3s/k3s-over-usb.token")).toBe("600\n");
        const phone = household.phones[0]!;
        expect(await hosts.onPhone(phone, "stat -c %a /etc/rancher/k3s/k3s-over-usb.token")).toBe("600\n");
        for (const where of [() => hosts.onLaptop("cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '; cat /etc/systemd/system/k3s.service*"), () => hosts.onPhone(phone, "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '; cat /etc/rancher/k3s/k3s-agent.env")]) {
            expect(await where()).not.toContain(token!);
        }
        for (const e of executed) {
            expect(e.create).not.toContain(token!);
        }
    });

    it("every step, run a second time, changes nothing and leaves the cluster as it was", async () => {
        const before = await nodes();
        // forget-previous is the one step that acts again when run again: it exists to delete the
        // node of a phone whose identity changed, and the engine runs it only then (its trigger is
        // the phone's host key).
        const again = await replay(executed.filter((e) => !e.name.endsWith("-forget-previous")));
        for (const e of again) {
            expect(e.result.stderr, e.name).not.toMatch(/: (wrote|installing k3s|restarted|generated|authorized|pinned|loaded|rebuilt):/);
        }
        expect(nodeSet(await nodes())).toEqual(nodeSet(before));
        expect(nodeSet(before)).toHaveLength(household.phones.length + 1);
    });

    it("deleting an agent drains and deletes the node, uninstalls on the phone through the laptop's key, and it rejoins under the same name", async () => {
        const phone = household.phones[1]!;
        const ready = executed.find((e) => e.name === `${phone.name}-ready`)!;
        const removed = await ssh(ready.endpoint, ready.delete!);
        expect(removed.code, removed.stderr).toBe(0);
        expect(removed.stderr).toContain(`deleted node ${phone.name}`);
        expect(removed.stderr).toContain(`uninstalled the agent on ${phone.name}`);
        expect(await nodes()).not.toMatch(new RegExp(`^${phone.name}\\s`, "m"));
        expect(await hosts.onPhone(phone, "ls /usr/local/bin; grep -c k3s-over-usb-cleanup /home/user/.ssh/authorized_keys || true")).not.toMatch(/k3s|^[1-9]/m);
        // pulumi up after the targeted destroy: the agent's steps again, this time on the official
        // path: the install script and binary downloaded over HTTP, checked against their pins.
        const mirror = await serveStagedFiles(phone);
        try {
            const again = executed.filter((e) => [`${phone.name}-install`, `${phone.name}-cleanup-access`, `${phone.name}-ready`].includes(e.name));
            const rejoined = await replay(again.map((e) => (e.name === `${phone.name}-install` ? { ...e, stdin: officialPath(e.stdin!, mirror) } : e)));
            expect(rejoined[0]!.result.stderr).toContain("installing k3s");
        } finally {
            await hosts.onLaptop("pkill -f 'http[.]server 8087' || true");
        }
        expect(await nodes()).toMatch(new RegExp(`^${phone.name}\\s+Ready\\b`, "m"));
        expect(await hosts.onPhone(phone, "ls -d /tmp/k3s-over-usb.* 2>/dev/null || true")).toBe("");
    });

    it("a file that does not match its pin, or cannot be downloaded, stops the install before anything changes and leaves no temporary files", async () => {
        const phone = household.phones[0]!;
        const install = executed.find((e) => e.name === `${phone.name}-install`)!;
        const sums = await hosts.onPhone(phone, "sha256sum /usr/local/bin/k3s /etc/rancher/k3s/config.yaml /etc/rancher/k3s/k3s-over-usb.token");
        // Each variant asks for another version (so the step must install) with a changed config.
        const upgrade = (program: string): string =>
            program.replace(`export VERSION='${household.k3s.version}'`, "export VERSION='v1.35.6+k3s1'").replace("export CONFIG='", "export CONFIG='# k3ou: must not be written\n");
        const wrong = "0".repeat(64);
        const mirror = await serveStagedFiles(phone);
        try {
            const cases: Array<[string, string, RegExp]> = [
                ["air-gap, staged binary", upgrade(install.stdin!).replace(/BINARY_SHA256='[0-9a-f]{64}'/, `BINARY_SHA256='${wrong}'`), /FAILED: the staged binary \S+\/k3s does not match its pin: its SHA-256 is [0-9a-f]{64}, the household pins 0{64}; nothing was installed/],
                ["official, install script", officialPath(upgrade(install.stdin!), mirror).replace(/SCRIPT_SHA256='[0-9a-f]{64}'/, `SCRIPT_SHA256='${wrong}'`), /FAILED: the install script from http:\S+\/install.sh does not match its pin/],
                ["official, binary", officialPath(upgrade(install.stdin!), mirror).replace(/BINARY_SHA256='[0-9a-f]{64}'/, `BINARY_SHA256='${wrong}'`), /FAILED: the binary from http:\S+\/k3s does not match its pin/],
                ["official, unreachable", officialPath(upgrade(install.stdin!), mirror.replace(":8087", ":8088")), /FAILED: cannot download http:\S+\/install.sh/],
            ];
            for (const [what, program, message] of cases) {
                const r = await ssh(install.endpoint, install.create, program);
                expect(r.code, what).toBe(1);
                expect(r.stderr, what).toMatch(message);
                expect(await hosts.onPhone(phone, "sha256sum /usr/local/bin/k3s /etc/rancher/k3s/config.yaml /etc/rancher/k3s/k3s-over-usb.token"), what).toBe(sums);
                expect(await hosts.onPhone(phone, "ls -d /tmp/k3s-over-usb.* 2>/dev/null || true"), what).toBe("");
            }
        } finally {
            await hosts.onLaptop("pkill -f 'http[.]server 8087' || true");
        }
        expect(await nodes()).toMatch(new RegExp(`^${phone.name}\\s+Ready\\b`, "m"));
    });

    it("deleting the agent of a phone that was reflashed succeeds: nothing is left to uninstall there", async () => {
        const phone = household.phones[2]!;
        lab("reflash", phone.name);
        const ready = executed.find((e) => e.name === `${phone.name}-ready`)!;
        const removed = await ssh(ready.endpoint, ready.delete!);
        expect(removed.code, removed.stderr).toBe(0);
        expect(removed.stderr).toContain(`deleted node ${phone.name}`);
        expect(removed.stderr).toMatch(/unreachable or was reflashed/);
    });

    it("a reflashed phone, with its new host key in the config, converges and rejoins under its name", async () => {
        household = labHouseholdWithK3s();
        hosts = new LabHosts(household);
        const phone = household.phones[2]!;
        // What changes with the phone's host key: its own steps, and the server's, which re-runs as a no-op.
        executed = await converge(() => build(household, new Access(household, hosts.privateKey), phone.name));
        expect(executed.find((e) => e.name === `${phone.name}-locate`)!.result.stdout).toMatch(/^fe80:/);
        expect(await nodes()).toMatch(new RegExp(`^${phone.name}\\s+Ready\\b`, "m"));
        expect(await hosts.onPhone(phone, "hostname")).toBe(`${phone.name}\n`);
        for (const other of household.phones.slice(0, 2)) {
            expect(await nodes()).toMatch(new RegExp(`^${other.name}\\s+Ready\\b`, "m"));
        }
    });
});
