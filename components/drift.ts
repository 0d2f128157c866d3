import * as pulumi from "@pulumi/pulumi";
import { digestEnv, type CheckResult, type PlannedCheck } from "../checks/plan";
import { attribute, runChecks } from "../checks/run";
import { readScript } from "../hosts/scripts";
import type { Household } from "../household/model";
import { DriftCarry, planDigest } from "./drift-carry";

// Remote commands have no read: `pulumi refresh` cannot see a host that drifted. Every step therefore
// registers a check beside itself (StepArgs.check), and the program runs all checks before each preview
// and up. A step whose check fails with a fix of "up" gets its repair generation raised: the number is
// part of its command line (K3OU_REPAIR), so the engine sees a change and runs the step again, and the
// preview says so. The generations live in the stack output `repairs` (read back through a reference
// to this very stack), so a host that is fine, or cannot be reached, keeps its number and nothing runs.

/** A step's check: a script beside the step's own, and the values it reads. */
export interface StepCheck {
    /** Script path relative to the repository root, e.g. hosts/pmos/steps/node.check.sh. */
    readonly script: string;
    /** Plain values only (no outputs): the check must be known before anything runs. Default: the step's env. */
    readonly env?: Readonly<Record<string, string>>;
    /** The host whose row the results belong in, when not the host the check runs on. */
    readonly subject?: string;
    /** The phone whose cable this laptop-side check is about. */
    readonly cable?: string;
}

/** Every step states its check, or why it has none. */
export type CheckSpec = StepCheck | { readonly none: string };

export type Repairs = Readonly<Record<string, number>>;

export class Checks {
    private readonly entries: { readonly check: PlannedCheck; readonly urn: pulumi.Output<string> }[] = [];
    private resolveMarkers!: (markers: Repairs) => void;
    private rejectMarkers!: (err: Error) => void;
    private readonly markers: Promise<Repairs>;
    private probed = false;

    /**
     * `repair`: steps carry a repair generation, decided by `probe` (the program); off in tests of
     * components alone. With repair on, `probe` must be called in the same turn as every step is
     * registered: otherwise every step fails saying so, instead of waiting for ever.
     */
    constructor(readonly repair: boolean) {
        this.markers = new Promise((resolve, reject) => {
            this.resolveMarkers = resolve;
            this.rejectMarkers = reject;
        });
        this.markers.catch(() => undefined); // reported through each step's marker
        if (repair) {
            setImmediate(() => {
                if (!this.probed) {
                    this.rejectMarkers(
                        new Error(`the drift probe never ran, so no step knows its repair generation: call probeDrift (components/drift.ts) after registering every step, in the same turn`),
                    );
                }
            });
        }
    }

    add(check: Omit<PlannedCheck, "env"> & { readonly env: Readonly<Record<string, string>> }, urn: pulumi.Output<string>): void {
        if (this.probed) {
            throw new Error(`step ${check.key} was registered after the drift probe ran, so it would never be checked or repaired: register every step before probeDrift`);
        }
        if (this.entries.some((e) => e.check.key === check.key)) {
            throw new Error(`two steps named ${check.key}`);
        }
        this.entries.push({ check: { ...check, env: digestEnv(check.env) }, urn });
    }

    /** The generation a step runs with, once the probe has run; it fails when the program never probes. */
    generation(key: string): Promise<string> {
        return this.markers.then((m) => String(m[key] ?? 0));
    }

    /** The generation as a step's input; undefined when repair is off. */
    marker(key: string): pulumi.Output<string> | undefined {
        return this.repair ? pulumi.output(this.generation(key)) : undefined;
    }

    plan(): PlannedCheck[] {
        return this.entries.map((e) => e.check);
    }

    /** The plan with every step's URN, for the doctor (stack output `checks`). */
    planOutput(): pulumi.Output<PlannedCheck[]> {
        return pulumi.all(this.entries.map((e) => e.urn)).apply((urns) => this.entries.map((e, i) => ({ ...e.check, urn: urns[i]! })));
    }

    /**
     * Runs the checks (`run`, over SSH) and fixes every step's generation: the previous one, plus one
     * where the step's check failed with fix "up". Returns the new generations (stack output `repairs`).
     */
    probe<C>(previous: pulumi.Input<Repairs | undefined>, context: pulumi.Input<C>, run: (plan: PlannedCheck[], context: C) => Promise<CheckResult[]>): pulumi.Output<Repairs> {
        if (this.probed) {
            throw new Error("the drift probe runs once per program");
        }
        this.probed = true;
        const plan = this.plan();
        return pulumi.all([previous, context]).apply(async ([prev, ctx]) => {
            const before = prev ?? {};
            let results: CheckResult[] = [];
            try {
                results = await run(plan, ctx as C);
            } catch (err) {
                void pulumi.log.warn(`drift check skipped: ${err instanceof Error ? err.message : String(err)}`);
            }
            const next: Record<string, number> = {};
            for (const { check } of this.entries) {
                const drifted = results.filter((r) => r.key === check.key && r.status === "fail" && r.fix === "up");
                next[check.key] = (before[check.key] ?? 0) + (drifted.length > 0 ? 1 : 0);
                if (drifted.length > 0 && before[check.key] !== undefined) {
                    void pulumi.log.warn(`${check.host}: ${check.step}: drifted (${drifted.map((d) => d.detail).join("; ")}): ${check.key} runs again`);
                }
            }
            this.resolveMarkers(next);
            return next;
        });
    }

}

export interface DriftProbeArgs {
    readonly household: Household;
    readonly privateKey: pulumi.Output<string>;
    /** The generations of the last up: the stack output `repairs`, read through a reference to this stack. */
    readonly previous: pulumi.Input<Repairs | undefined>;
    /** k3s-over-usb:driftCheck; when false, no host is reached and every step keeps its generation. */
    readonly enabled: boolean;
    /**
     * The preview's results carried to the update of the same `pulumi up` (components/drift-carry.ts),
     * and whether this pass is the preview. Without it, every pass checks the hosts.
     */
    readonly carry?: { readonly carry: DriftCarry | undefined; readonly preview: boolean };
}

/**
 * The program's drift probe: every registered step's check, run on the hosts over SSH before the
 * engine decides what to do. Call it once, after the whole graph is registered; it returns the stack
 * output `repairs`. The key leaves its secret wrapper only to open the SSH connections: `repairs`
 * holds step names and numbers alone. With `carry`, an up's update pass takes its preview's results
 * instead of checking the hosts a second time.
 */
export function probeDrift(checks: Checks, args: DriftProbeArgs): pulumi.Output<Repairs> {
    return checks.probe(args.previous, pulumi.unsecret(args.privateKey), async (plan, key) => {
        if (!args.enabled) {
            return [];
        }
        const { carry, preview } = args.carry ?? { carry: undefined, preview: false };
        if (carry === undefined) {
            return attribute(await runChecks(args.household, key, plan), plan);
        }
        const digest = planDigest(plan, readScript);
        const carried = preview ? undefined : carry.take(digest);
        if (carried !== undefined) {
            return carried;
        }
        const results = attribute(await runChecks(args.household, key, plan), plan);
        if (preview) {
            carry.keep(digest, results);
        }
        return results;
    });
}

/** The carry for a program run by the `pulumi` CLI: this stack's, and which pass this is. */
export function driftCarryForStack(stack: string): DriftProbeArgs["carry"] {
    return { carry: DriftCarry.open({ stack }), preview: pulumi.runtime.isDryRun() };
}
