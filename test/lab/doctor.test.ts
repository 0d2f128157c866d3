import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CheckResult } from "../../checks/plan";
import type { Report } from "../../doctor/report";
import { labStatus } from "../../lab/household";
import { lab } from "./hosts";
import { LabStack, onHost } from "./stack";

// `npm run doctor` against a household the real engine converged on the lab: all green, then each
// injected drift shows exactly its failure and nothing else, and `pulumi up` (which checks every step
// before it plans) repairs it, after which the doctor is green and a preview plans nothing.

const stack = new LabStack("doctor");

function report(args: string[] = []): { code: number; report: Report; text: string } {
    const r = stack.doctor(["--json", ...args]);
    let parsed: Report;
    try {
        parsed = JSON.parse(r.stdout) as Report;
    } catch {
        throw new Error(`doctor printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
    return { code: r.code, report: parsed, text: r.stdout };
}

const failing = (results: readonly CheckResult[]) =>
    results
        .filter((r) => r.status === "fail" || r.status === "warn")
        .map((r) => `${r.subject} ${r.column}`)
        .sort();

/** The phones whose kubelet has not renewed its node lease since `since` (ms; the lab's hosts share one clock). */
function leasesOlderThan(since: number): string[] {
    const table = onHost("laptop", `k3s kubectl -n kube-node-lease get leases -o jsonpath='{range .items[*]}{.metadata.name} {.spec.renewTime}{"\\n"}{end}'`);
    const renewed = new Map(table.trim().split("\n").map((l) => [l.split(" ")[0]!, Date.parse(l.split(" ")[1] ?? "")] as const));
    return phones.filter((p) => !((renewed.get(p) ?? 0) > since));
}

async function greenWithin(seconds: number, since = 0): Promise<Report> {
    const until = Date.now() + seconds * 1000;
    for (;;) {
        const stale = since === 0 ? [] : leasesOlderThan(since);
        const r = report(["--hosts-only"]);
        if (stale.length === 0 && r.code === 0 && failing(r.report.results).length === 0) {
            return r.report;
        }
        if (Date.now() > until) {
            const why = stale.length > 0 ? `no lease renewed since the reboots: ${stale.join(", ")}` : JSON.stringify(failing(r.report.results));
            throw new Error(`the doctor is not green after ${seconds} s:\n${why}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 2000));
    }
}

let laptop = "";
let phones: string[] = [];

beforeAll(async () => {
    stack.init();
    stack.pulumi(["up", "--yes"]);
    // The battery cap reaches the running kernel at the next boot, as on a phone.
    phones = labStatus().phones.map((p) => p.name);
    const rebooted = Date.now();
    for (const p of phones) {
        lab("reboot", p);
    }
    laptop = labStatus().laptop.name;
    // A rebooted phone's node stays Ready from before its reboot until the node controller has
    // missed its lease for 40 s, and then turns NotReady until the new kubelet reports: green is
    // believed once every phone's kubelet has renewed its lease since the reboots.
    await greenWithin(120, rebooted);
}, 900_000);

afterAll(() => stack.dispose());

describe("doctor on the lab", () => {
    it("a converged household is all green, every host checked on every column it has", () => {
        const r = stack.doctor();
        expect(r.code, r.stdout + r.stderr).toBe(0);
        expect(r.stdout).toMatch(/^host\s+hostname\s+link\s+address\s+route\s+dns\s+forward\s+nat\s+firewall\s+radios\s+battery\s+k3s\s+node$/m);
        expect(r.stdout).toContain("doctor: healthy");
        expect(r.stdout).toContain("DNS from a pod (kubernetes.default): ok");

        const { report: rep, code } = report();
        expect(code).toBe(0);
        expect(rep.ok).toBe(true);
        expect(rep.cluster?.status).toBe("ok");
        const columnsOf = (host: string) => [...new Set(rep.results.filter((x) => x.subject === host && x.status === "ok").map((x) => x.column))].sort();
        expect(columnsOf(laptop)).toEqual(["address", "forward", "k3s", "link", "nat", "node"]);
        for (const p of phones) {
            expect(columnsOf(p), p).toEqual(["address", "battery", "dns", "firewall", "forward", "hostname", "k3s", "link", "node", "radios", "route"]);
        }
        // Three link checks on the laptop: one per cable.
        expect(rep.results.filter((x) => x.subject === laptop && x.column === "nat")).toHaveLength(phones.length);
    });

    const drifts: Array<{ name: string; inject: () => void; expected: () => string[]; alsoSkipped?: () => string[] }> = [
        {
            name: "hostname changed",
            inject: () => onHost(phones[0]!, "hostname wrongname && echo wrongname > /etc/hostname"),
            expected: () => [`${phones[0]} hostname`],
        },
        {
            name: "firewall reloaded from the pmOS defaults (its own drop-ins, not ours)",
            inject: () =>
                onHost(phones[1]!, `{ sed '/^include/d' /etc/nftables.nft; for f in /etc/nftables.d/*.nft; do case $f in *k3s-over-usb*) ;; *) cat "$f" ;; esac; done; } | nft -f -`),
            expected: () => [`${phones[1]} firewall`],
        },
        {
            name: "NAT rule deleted",
            inject: () => onHost("laptop", `nft delete rule ip k3ou_nat_${phones[2]} postrouting handle $(nft -a list table ip k3ou_nat_${phones[2]} | sed -n 's/.*masquerade # handle //p')`),
            expected: () => [`${laptop} nat`],
        },
        {
            name: "DTB replaced by a stock one",
            inject: () => onHost(phones[0]!, "for f in /var/lib/k3s-over-usb/dtb-orig/*.dtb; do cp \"$f\" /boot/dtbs/qcom/; done"),
            expected: () => [`${phones[0]} battery`],
        },
        {
            name: "agent stopped",
            inject: () => onHost(phones[1]!, "rc-service k3s-agent stop >/dev/null"),
            expected: () => [`${phones[1]} k3s`],
        },
        {
            // The check trusts what the install step saw only while the binary is that same file.
            name: "the k3s binary replaced by another version (the running agent keeps its old file)",
            inject: () =>
                onHost(
                    phones[2]!,
                    `printf '#!/bin/sh\\necho "k3s version v9.9.9+k3s1 (0000000)"\\n' > /usr/local/bin/k3s.drift && chmod 755 /usr/local/bin/k3s.drift && mv -f /usr/local/bin/k3s.drift /usr/local/bin/k3s`,
                ),
            expected: () => [`${phones[2]} k3s`],
        },
        {
            name: "a link down (the laptop's end of a cable)",
            inject: () => onHost("laptop", `ip link set usb-${phones[2]} down`),
            expected: () => [`${laptop} link`],
            alsoSkipped: () => [`${phones[2]} reach`],
        },
        {
            name: "a cable's interface renamed (as a new kernel name would after a udev mishap)",
            inject: () => onHost("laptop", `ip link set usb-${phones[0]} down && ip link set usb-${phones[0]} name enxdrift0 && ip link set enxdrift0 up`),
            expected: () => [`${laptop} link`],
            alsoSkipped: () => [`${laptop} address`],
        },
        {
            name: "the k3s server stopped (every node's state follows from it)",
            inject: () => onHost("laptop", "systemctl stop k3s"),
            expected: () => [`${laptop} k3s`],
            alsoSkipped: () => [laptop, ...phones].map((h) => `${h} node`),
        },
        {
            name: "radios back on",
            inject: () => onHost(phones[2]!, "rfkill unblock wlan"),
            expected: () => [`${phones[2]} radios`],
        },
    ];

    // The host checks only: a stopped agent or server would hold the cluster proof until its deadline,
    // and test/lab/cluster.test.ts proves what the drifts do to pods.
    it.each(drifts)("$name: exactly that failure, then pulumi up and the doctor is green", async (d) => {
        d.inject();
        const before = report(["--hosts-only"]);
        expect(before.code, before.text).toBe(1);
        expect(failing(before.report.results)).toEqual(d.expected());
        const skipped = before.report.results.filter((r) => r.status === "skip").map((r) => `${r.subject} ${r.column}`);
        expect(skipped.sort()).toEqual((d.alsoSkipped?.() ?? []).sort());
        const text = stack.doctor(["--hosts-only"]).stdout;
        expect(text).toMatch(/fix: pulumi up {2}\(runs \S+ again\)/);

        const up = stack.pulumi(["up", "--yes"]);
        expect(up.out).toMatch(/drifted/);
        await greenWithin(60);
        stack.pulumi(["preview", "--expect-no-changes"]);
    }, 300_000);

    it("a phone answering with another host key is named, with the way back", () => {
        onHost(phones[1]!, "rm -f /etc/ssh/ssh_host_ed25519_key*; ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key; rc-service sshd restart >/dev/null");
        const r = report(["--hosts-only"]);
        expect(r.code).toBe(1);
        const bad = r.report.results.filter((x) => x.status === "fail");
        expect(bad.map((x) => `${x.subject} ${x.column}`)).toEqual([`${phones[1]} reach`]);
        expect(bad[0]!.detail).toMatch(/host key does not match the pinned key/);
        expect(bad[0]!.fix).toBe(`${phones[1]} was reflashed or replaced: put its new host key in the config and run pulumi up (README: a reflashed phone)`);
    });

    it("a reflashed phone (back at day zero) is unreachable at its /30, and only that is reported", () => {
        lab("reflash", phones[1]!);
        const r = report(["--hosts-only"]);
        expect(r.code).toBe(1);
        const bad = r.report.results.filter((x) => x.status === "fail");
        expect(bad.map((x) => `${x.subject} ${x.column}`)).toEqual([`${phones[1]} reach`]);
        expect(bad[0]!.fix).toContain("a reflashed phone is back at 172.16.42.1");
    });

    it("bad arguments are refused before any host is reached, with the usage", () => {
        const r = stack.doctor(["--deadline", "soon"]);
        expect(r.code).toBe(2);
        expect(r.stderr).toContain("doctor: --deadline takes whole seconds, e.g. 180");
    });
});
