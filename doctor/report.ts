import { columns, type CheckResult, type PlannedCheck } from "../checks/plan";

// The doctor's answer: a table (host by check), then each failure with what is wrong and the command
// that fixes it. The same facts as JSON for scripts.

export interface ClusterProof {
    /** "ok", "fail", or "not-run" with the reason (no k3s on the laptop to ask). */
    readonly status: "ok" | "fail" | "not-run";
    readonly reason?: string;
    /** Pod names (by node) in matrix order, and matrix[i][j] = "ok" | "FAIL" from pod i to pod j. */
    readonly nodes?: string[];
    readonly matrix?: string[][];
    readonly dns?: "ok" | "FAIL";
    /** From the nettest pod on each node (in `nodes` order) to the LAN gateway: the way out through NAT. */
    readonly egress?: { readonly gateway: string; readonly results: string[] };
    /**
     * The VIP fetched from here; `announcedFrom` is the node MetalLB's speaker announces it from,
     * `arp` the MAC that answered ARP for it here ("not seen" without a complete neighbour entry).
     */
    readonly loadBalancer?:
        | { readonly address: string; readonly status: "ok" | "FAIL"; readonly announcedFrom?: string; readonly arp?: string }
        | { readonly status: "not-configured" };
    readonly problems?: string[];
}

export interface Report {
    readonly stack: string;
    readonly ok: boolean;
    /** The laptop first, then the phones. */
    readonly hosts: string[];
    readonly results: CheckResult[];
    readonly cluster?: ClusterProof;
    readonly timings: { readonly hostChecksMs: number; readonly clusterMs?: number; readonly totalMs: number };
}

const rank: Record<string, number> = { fail: 4, warn: 3, skip: 2, ok: 1 };

type Cell = { readonly status: CheckResult["status"]; readonly count: number; readonly bad: number };

function cells(results: readonly CheckResult[], host: string): Map<CheckResult["column"], Cell> {
    const map = new Map<CheckResult["column"], Cell>();
    for (const r of results.filter((x) => x.subject === host)) {
        const c = map.get(r.column);
        const worse = c === undefined || rank[r.status]! > rank[c.status]! ? r.status : c.status;
        map.set(r.column, { status: worse, count: (c?.count ?? 0) + 1, bad: (c?.bad ?? 0) + (r.status === "fail" ? 1 : 0) });
    }
    return map;
}

function show(cell: Cell | undefined, perCable: boolean): string {
    if (cell === undefined) {
        return "-";
    }
    const label = { ok: "ok", fail: "FAIL", warn: "warn", skip: "·" }[cell.status];
    // The laptop holds one of each link check per phone: say how many cables fail.
    return perCable && cell.count > 1 && cell.status === "fail" ? `${label} ${cell.bad}/${cell.count}` : label;
}

export function failures(results: readonly CheckResult[]): CheckResult[] {
    return results.filter((r) => r.status === "fail");
}

/** The command a failure's fix stands for ("up" names the step it re-runs). */
export function fixText(r: CheckResult, urns: ReadonlyMap<string, string>, driftCheck: boolean): string {
    switch (r.fix) {
        case "up": {
            const urn = urns.get(r.key);
            return driftCheck || urn === undefined ? `pulumi up  (runs ${r.key} again)` : `pulumi up --replace '${urn}'  (driftCheck is off)`;
        }
        case "reboot":
            return `reboot ${r.host}`;
        default:
            return r.fix;
    }
}

/** The report for scripts: every result with its fix spelled out as a command. */
export function renderJson(report: Report, plan: readonly PlannedCheck[], driftCheck: boolean): string {
    const urns = new Map(plan.filter((c) => c.urn !== undefined).map((c) => [c.key, c.urn!]));
    const results = report.results.map((r) => (r.fix === "" ? r : { ...r, fixCommand: fixText(r, urns, driftCheck) }));
    return `${JSON.stringify({ ...report, results }, null, 2)}\n`;
}

export function renderText(report: Report, plan: readonly PlannedCheck[], driftCheck: boolean): string {
    const lines: string[] = [];
    const width = Math.max(8, ...report.hosts.map((h) => h.length)) + 2;
    const widths = columns.map((c) => Math.max(c.length, 8) + 2);
    lines.push(`${"host".padEnd(width)}${columns.map((c, i) => c.padEnd(widths[i]!)).join("")}`.trimEnd());
    for (const host of report.hosts) {
        const row = cells(report.results, host);
        const reach = row.get("reach");
        const rowText =
            reach && reach.status !== "ok"
                ? reach.status === "skip"
                    ? "not checked: see the failure it follows from"
                    : "UNREACHABLE"
                : columns.map((c, i) => show(row.get(c), host === report.hosts[0]).padEnd(widths[i]!)).join("");
        lines.push(`${host.padEnd(width)}${rowText}`.trimEnd());
    }
    const urns = new Map(plan.filter((c) => c.urn !== undefined).map((c) => [c.key, c.urn!]));
    const bad = failures(report.results);
    const warned = report.results.filter((r) => r.status === "warn");
    if (bad.length > 0 || warned.length > 0) {
        lines.push("");
    }
    for (const r of bad) {
        lines.push(`FAIL ${r.subject} ${r.column}: ${r.detail}${r.subject !== r.host ? ` (read on ${r.host})` : ""}`);
        lines.push(`     fix: ${fixText(r, urns, driftCheck)}`);
    }
    for (const r of warned) {
        lines.push(`warn ${r.subject} ${r.column}: ${r.detail}`);
        lines.push(`     fix: ${fixText(r, urns, driftCheck)}`);
    }
    for (const r of report.results.filter((x) => x.status === "skip" && x.column === "reach")) {
        lines.push(`  ·  ${r.subject}: ${r.detail}`);
    }
    const c = report.cluster;
    if (c) {
        lines.push("");
        if (c.status === "not-run") {
            lines.push(`cluster proof: not run: ${c.reason ?? ""}`);
        } else {
            if (c.nodes && c.matrix) {
                const w = Math.max(10, ...c.nodes.map((n) => n.length)) + 2;
                lines.push(`pod ping matrix (${c.nodes.length}x${c.nodes.length}), from the nettest pod on each node to every other`);
                lines.push(`  ${"from \\ to".padEnd(w)}${c.nodes.map((n) => n.padEnd(w)).join("")}`.trimEnd());
                c.matrix.forEach((row, i) => lines.push(`  ${c.nodes![i]!.padEnd(w)}${row.map((x) => x.padEnd(w)).join("")}`.trimEnd()));
            }
            if (c.egress && c.nodes) {
                lines.push(`pods to the LAN gateway ${c.egress.gateway}: ${c.nodes.map((n, i) => `${n} ${c.egress!.results[i] ?? "FAIL"}`).join(", ")}`);
            }
            if (c.dns) {
                lines.push(`DNS from a pod (kubernetes.default): ${c.dns}`);
            }
            if (c.loadBalancer) {
                lines.push(
                    c.loadBalancer.status === "not-configured"
                        ? "LoadBalancer: MetalLB is not configured (metallb: null)"
                        : `LoadBalancer VIP ${c.loadBalancer.address} from here: ${c.loadBalancer.status}` +
                              (c.loadBalancer.announcedFrom !== undefined ? `, announced from ${c.loadBalancer.announcedFrom}` : "") +
                              (c.loadBalancer.arp !== undefined ? `, ARP answered by ${c.loadBalancer.arp}` : ""),
                );
            }
            for (const p of c.problems ?? []) {
                lines.push(`FAIL cluster: ${p}`);
            }
        }
    }
    lines.push("");
    const t = report.timings;
    const summary = report.ok ? "healthy" : `${bad.length + (c?.status === "fail" ? 1 : 0)} problem(s)`;
    lines.push(`${report.stack}: ${summary}  (host checks ${(t.hostChecksMs / 1000).toFixed(2)} s${t.clusterMs !== undefined ? `, cluster ${(t.clusterMs / 1000).toFixed(1)} s` : ""}, total ${(t.totalMs / 1000).toFixed(2)} s)`);
    return `${lines.join("\n")}\n`;
}
