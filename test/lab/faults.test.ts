import { spawn } from "child_process";
import * as fs from "fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labStatus } from "../../lab/household";
import { lab } from "./hosts";
import { doctorJson, failingChecks, failingPairs, forgetNeighbour, poolStart, untilHealthy, type DoctorRun } from "./proof";
import { LabStack, onHost, repo } from "./stack";

// Faults on the real cluster, MetalLB included, each as a household meets it: the doctor names what
// is wrong, and at most one more `pulumi up` converges, with nothing lost (the VIP serves again, the
// pod ping matrix is green, and a preview right after has nothing to do).

const stack = new LabStack("faults");
let laptop = "";
let phones: string[] = [];
let vip = "";

const kubectl = (args: string) => onHost("laptop", `k3s kubectl ${args}`);

/** Runs the doctor until `seen` holds for its answer, or fails with the last one after `ms`. */
async function doctorUntil(seen: (r: DoctorRun) => boolean, ms: number): Promise<DoctorRun> {
    const until = Date.now() + ms;
    for (;;) {
        forgetNeighbour(vip);
        const r = doctorJson(stack, ["--deadline", "60"]);
        if (seen(r)) {
            return r;
        }
        if (Date.now() > until) {
            throw new Error(`the doctor did not see the fault within ${ms / 1000} s:\n${r.text}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 3000));
    }
}

/** The doctor names the node of `phone` not Ready, and has proven the cluster on the others. */
const provenWithout = (phone: string) => (d: DoctorRun) =>
    d.report.cluster?.nodes !== undefined && (d.report.cluster.problems ?? []).some((x) => x.startsWith(`node ${phone} is not Ready`));

/** The processes of a lab host whose command line starts with `argv` (the host shares this pid namespace). */
function processesOf(host: string, argv: string[]): number[] {
    return lab("pids", host)
        .split(/\s+/)
        .filter((p) => p !== "")
        .map(Number)
        .filter((pid) => {
            try {
                const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
                return argv.every((a, i) => cmd[i] === a);
            } catch {
                return false;
            }
        });
}

/** `pulumi up --yes` of this stack, running while the test acts on the lab. */
function upInBackground(): { out: () => string; seen: (what: RegExp) => Promise<void>; exited: Promise<number> } {
    const child = spawn("pulumi", ["up", "--yes", "--stack", stack.name, "--non-interactive"], { cwd: repo, env: stack.env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? -1)));
    /** Until the up's output shows `what` (at most 5 minutes). */
    const seen = async (what: RegExp) => {
        const started = Date.now();
        while (!what.test(out) && Date.now() - started < 300_000) {
            await new Promise((resolve) => setTimeout(resolve, 200));
        }
        expect(out).toMatch(what);
    };
    return { out: () => out, seen, exited };
}

async function converged(): Promise<DoctorRun> {
    const r = await untilHealthy(stack, 240_000);
    expect(r.report.cluster?.loadBalancer).toMatchObject({ address: vip, status: "ok", announcedFrom: laptop });
    stack.pulumi(["preview", "--expect-no-changes"]);
    return r;
}

beforeAll(() => {
    stack.init();
    stack.pulumi(["up", "--yes"]);
    laptop = labStatus().laptop.name;
    phones = labStatus().phones.map((p) => p.name);
    vip = poolStart(stack);
}, 1_200_000);

afterAll(() => stack.dispose());

describe("faults on the real cluster", () => {
    it("a phone's agent killed with its supervisor: the doctor names the phone's k3s and then its node; one up repairs it", async () => {
        const p = phones[0]!;
        const victims = [...processesOf(p, ["supervise-daemon", "k3s-agent"]), ...processesOf(p, ["/usr/local/bin/k3s", "agent"])];
        expect(victims.length, `supervise-daemon and k3s agent on ${p}`).toBe(2);
        for (const pid of victims) {
            process.kill(pid, "SIGKILL");
        }
        // The host check sees it at once; the node turns NotReady once its lease runs out (40 s).
        const r = await doctorUntil(provenWithout(p), 240_000);
        expect(failingChecks(r.report)).toEqual([`${p} k3s`]);
        expect(r.report.results.find((x) => x.subject === p && x.column === "k3s")!.detail).toContain("k3s-agent is stopped");
        // The others keep serving: their pods reach each other and the VIP answers.
        expect(r.report.cluster!.nodes).not.toContain(p);
        expect(failingPairs(r.report)).toEqual([]);
        expect(r.report.cluster!.loadBalancer).toMatchObject({ status: "ok" });
        const up = stack.pulumi(["up", "--yes"]);
        expect(up.out).toMatch(new RegExp(`${p}: k3s-agent: drifted \\(k3s-agent is stopped\\)`));
        await converged();
    }, 900_000);

    it("a phone unplugged while pods run on it: the doctor names it, the others keep serving; plugged back in, one up converges", async () => {
        const p = phones[1]!;
        const before = doctorJson(stack);
        expect(before.report.cluster!.nodes).toContain(p);
        lab("unplug", p);
        try {
            const r = await doctorUntil(provenWithout(p), 240_000);
            // The phone cannot be reached through its cable: its checks say so, and nothing else fails.
            expect(failingChecks(r.report).filter((c) => !c.startsWith(`${p} `) && c !== `${laptop} link`)).toEqual([]);
            expect(failingChecks(r.report)).toContain(`${laptop} link`);
            expect(r.report.cluster!.nodes).not.toContain(p);
            expect(failingPairs(r.report)).toEqual([]);
            expect(r.report.cluster!.loadBalancer).toMatchObject({ status: "ok" });
        } finally {
            lab("plug", p);
        }
        stack.pulumi(["up", "--yes"]);
        const r = await converged();
        expect(r.report.cluster!.nodes).toContain(p);
    }, 900_000);

    it("a phone reflashed and rejoined: its old node and node password are gone, a new node joins under its name, its pods run again", async () => {
        const p = phones[2]!;
        const uid = (what: string) => kubectl(`${what} -o jsonpath='{.metadata.uid}'`).trim();
        const nodeBefore = uid(`get node ${p}`);
        const passwordBefore = uid(`-n kube-system get secret ${p}.node-password.k3s`);
        lab("reflash", p);
        stack.writeConfig();
        stack.pulumi(["up", "--yes"]);
        const nodeAfter = uid(`get node ${p}`);
        const passwordAfter = uid(`-n kube-system get secret ${p}.node-password.k3s`);
        expect(nodeAfter).not.toBe("");
        expect(nodeAfter).not.toBe(nodeBefore);
        expect(passwordAfter).not.toBe("");
        expect(passwordAfter).not.toBe(passwordBefore);
        const r = await converged();
        expect(r.report.cluster!.nodes).toContain(p);
        expect(failingPairs(r.report)).toEqual([]);
    }, 900_000);

    it("the API server not serving yet while k3s runs (a laptop just booted): the preview reads the kubeconfig again instead of failing on the cluster; the up waits for the API and converges", async () => {
        // Stands in for k3s between its start and its first answer: port 6443 refused on the laptop,
        // for kubectl on the laptop, the agents and the operator's Kubernetes provider alike.
        const table = "k3ou_test_api_starting";
        onHost("laptop", `nft add table inet ${table} && nft add chain inet ${table} input '{ type filter hook input priority -10; }' && nft add rule inet ${table} input tcp dport 6443 reject with tcp reset`);
        let unblocked = false;
        const unblock = () => {
            if (!unblocked) {
                onHost("laptop", `nft delete table inet ${table}`);
                unblocked = true;
            }
        };
        try {
            const preview = stack.pulumi(["preview"]);
            expect(preview.out).toMatch(/kubeconfig: drifted \(the API server does not answer kubectl\)/);
            expect(preview.out).not.toMatch(/unreachable/);

            const up = upInBackground();
            // The server answers only once the up is waiting for it.
            await up.seen(/kubeconfig (updating|replacing|creating)/);
            await new Promise((resolve) => setTimeout(resolve, 5000));
            unblock();
            const code = await up.exited;
            expect(code, up.out().slice(-4000)).toBe(0);
        } finally {
            unblock();
        }
        await converged();
    }, 900_000);

    it("the laptop rebooted in the middle of an up: that up ends within a minute of the reboot, naming what failed; the next up converges", async () => {
        stack.editHousehold((h) => {
            for (const ph of h.phones) {
                ph.batteryCapMicrovolts = 3750000;
            }
        });
        const up = upInBackground();
        // Rebooted once the phones' steps run: every one of them goes through the laptop.
        await up.seen(/battery-cap updating/);
        const rebootAt = Date.now();
        lab("reboot", "laptop");
        const code = await up.exited;
        const out = up.out();
        const endedAfter = (Date.now() - rebootAt) / 1000;
        // Whatever the reboot cut (a phone's session through the laptop, a step on the laptop, the
        // Kubernetes provider's connection), the up stops soon, naming what failed; no wait runs on
        // to its deadline. Should the laptop be back before anything needed it, the up may finish.
        expect(endedAfter, `seconds from the reboot to the end of the up:\n${out.slice(-4000)}`).toBeLessThan(60);
        if (code !== 0) {
            expect(out).toMatch(/error: .*(k3s-over-usb: [\w-]+: [\w-]+: FAILED|Kubernetes cluster is unreachable|ssh|dial|handshake|ECONNRESET|closed)/i);
        }
        // The next up finishes what the first one began.
        stack.pulumi(["up", "--yes"]);
        for (const ph of labStatus().phones) {
            expect(onHost(ph.name, `fdtget -t u /boot/dtbs/qcom/sdm845-${ph.device}.dtb /battery voltage-max-design-microvolt`), ph.name).toBe("3750000\n");
        }
        await converged();
    }, 900_000);
});
