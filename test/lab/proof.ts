import { spawnSync } from "child_process";
import { expect } from "vitest";
import type { Report } from "../../doctor/report";
import type { LabStack } from "./stack";

// Reading the doctor's answer on the lab's real cluster, shared by the cluster and fault suites.

export interface DoctorRun {
    readonly code: number;
    readonly report: Report;
    readonly text: string;
}

/** npm run doctor -- --json ARGS on the stack, parsed. */
export function doctorJson(stack: LabStack, args: string[] = []): DoctorRun {
    const r = stack.doctor(["--json", ...args]);
    try {
        return { code: r.code, report: JSON.parse(r.stdout) as Report, text: r.stdout };
    } catch {
        throw new Error(`doctor printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
}

/** "host column" of every failing host check, sorted. */
export function failingChecks(rep: Report): string[] {
    return rep.results
        .filter((r) => r.status === "fail")
        .map((r) => `${r.subject} ${r.column}`)
        .sort();
}

/** Cells of the pod matrix, as "from->to" for the failing ones. */
export function failingPairs(rep: Report): string[] {
    const c = rep.cluster!;
    const out: string[] = [];
    c.matrix!.forEach((row, i) =>
        row.forEach((cell, j) => {
            if (cell !== "ok") {
                out.push(`${c.nodes![i]}->${c.nodes![j]}`);
            }
        }),
    );
    return out.sort();
}

/** The first address of the stack's MetalLB pool: the doctor's LoadBalancer Service gets it. */
export function poolStart(stack: LabStack): string {
    return (stack.household().metallb.pool.addresses as string).split("-")[0]!;
}

/**
 * Forgets this namespace's neighbour entry for an address (the tests run in the operator's
 * namespace), so the next fetch of the VIP needs a fresh ARP answer, not one cached before a fault.
 */
export function forgetNeighbour(address: string): void {
    const r = spawnSync("ip", ["neigh", "flush", "to", address], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
}

/** Runs the doctor until it is healthy (exit 0), or throws with its last answer after `ms`. */
export async function untilHealthy(stack: LabStack, ms: number): Promise<DoctorRun> {
    const until = Date.now() + ms;
    const vip = stack.household().metallb === null ? undefined : poolStart(stack);
    for (;;) {
        if (vip !== undefined) {
            forgetNeighbour(vip);
        }
        const r = doctorJson(stack, ["--deadline", "120"]);
        if (r.code === 0) {
            expect(r.report.cluster?.status).toBe("ok");
            return r;
        }
        if (Date.now() > until) {
            throw new Error(`the doctor is not healthy after ${ms / 1000} s:\n${r.text}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 5000));
    }
}
