import * as fs from "fs";

// Where a `pulumi up` spent its time, from the engine's own records: its event log (--event-log: when
// each step started and finished) and the stack's state (each resource's dependencies). Prints the
// wall time, the critical path (the longest chain of dependent steps, each weighed by its own
// duration) and their ratio, then the ten longest steps. The engine stamps events in whole seconds,
// so every duration here is good to about a second.
//
//   ts-node --transpile-only tools/bench-profile.ts EVENTS.jsonl STATE.json [LABEL]

interface StepTime {
    urn: string;
    op: string;
    start: number;
    end: number;
}

interface EngineEvent {
    timestamp: number;
    preludeEvent?: unknown;
    summaryEvent?: unknown;
    resourcePreEvent?: { metadata: { urn: string; op: string } };
    resOutputsEvent?: { metadata: { urn: string; op: string } };
    resOpFailedEvent?: { metadata: { urn: string; op: string } };
}

function readEvents(file: string): EngineEvent[] {
    return fs
        .readFileSync(file, "utf8")
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => JSON.parse(l) as EngineEvent);
}

/** The stack and component resources span their children: not work of their own. */
function isComponent(urn: string): boolean {
    const type = (urn.split("::")[2] ?? "").split("$").pop() ?? "";
    return type === "pulumi:pulumi:Stack" || type.startsWith("k3s-over-usb:") || type === "kubernetes:yaml/v2:ConfigGroup";
}

function stepTimes(events: EngineEvent[]): Map<string, StepTime> {
    const steps = new Map<string, StepTime>();
    for (const e of events) {
        const pre = e.resourcePreEvent?.metadata;
        if (pre && pre.op !== "same" && pre.op !== "read" && !isComponent(pre.urn)) {
            steps.set(pre.urn, { urn: pre.urn, op: pre.op, start: e.timestamp, end: e.timestamp });
        }
        const done = e.resOutputsEvent?.metadata ?? e.resOpFailedEvent?.metadata;
        const step = done ? steps.get(done.urn) : undefined;
        if (step) {
            step.end = e.timestamp;
        }
    }
    return steps;
}

interface StateResource {
    urn: string;
    parent?: string;
    dependencies?: string[];
}

/**
 * What each step waited for: its own dependencies and its ancestors' (a component's dependsOn holds
 * back its children), where a dependency on a component means all of the component's descendants.
 */
export function effectiveDependencies(resources: StateResource[]): Map<string, string[]> {
    const byUrn = new Map(resources.map((r) => [r.urn, r]));
    const children = new Map<string, string[]>();
    for (const r of resources) {
        if (r.parent !== undefined) {
            children.set(r.parent, [...(children.get(r.parent) ?? []), r.urn]);
        }
    }
    const leaves = (urn: string, seen = new Set<string>()): string[] => {
        if (seen.has(urn)) {
            return [];
        }
        seen.add(urn);
        const kids = children.get(urn);
        return isComponent(urn) ? (kids ?? []).flatMap((k) => leaves(k, seen)) : [urn];
    };
    const out = new Map<string, string[]>();
    for (const r of resources) {
        const direct: string[] = [];
        for (let at: StateResource | undefined = r; at !== undefined; at = at.parent === undefined ? undefined : byUrn.get(at.parent)) {
            direct.push(...(at.dependencies ?? []));
        }
        out.set(r.urn, [...new Set(direct.flatMap((d) => leaves(d)))]);
    }
    return out;
}

function dependencies(stateFile: string): Map<string, string[]> {
    const state = JSON.parse(fs.readFileSync(stateFile, "utf8")) as { deployment?: { resources?: StateResource[] } };
    return effectiveDependencies(state.deployment?.resources ?? []);
}

function short(urn: string): string {
    const name = urn.split("::").pop() ?? urn;
    const type = (urn.split("::")[2] ?? "").split("$").pop() ?? "";
    return `${name} (${type.replace(/^command:remote:/, "")})`;
}

export function profile(events: EngineEvent[], deps: Map<string, string[]>): { wall: number; critical: number; chain: string[]; top: StepTime[] } {
    const steps = stepTimes(events);
    const stamps = events.map((e) => e.timestamp);
    const wall = stamps.length > 0 ? Math.max(...stamps) - Math.min(...stamps) : 0;
    // Longest chain: each step's finish = its duration + the latest finish among what it depends on.
    const finish = new Map<string, { total: number; via?: string }>();
    const visit = (urn: string, seen: Set<string>): number => {
        const known = finish.get(urn);
        if (known) {
            return known.total;
        }
        if (seen.has(urn)) {
            return 0;
        }
        seen.add(urn);
        let best = 0;
        let via: string | undefined;
        for (const d of deps.get(urn) ?? []) {
            const t = visit(d, seen);
            if (t > best) {
                best = t;
                via = d;
            }
        }
        const s = steps.get(urn);
        const total = best + (s ? s.end - s.start : 0);
        finish.set(urn, via === undefined ? { total } : { total, via });
        return total;
    };
    let last: string | undefined;
    let critical = 0;
    for (const urn of new Set([...steps.keys(), ...deps.keys()])) {
        const t = visit(urn, new Set());
        if (t > critical) {
            critical = t;
            last = urn;
        }
    }
    const chain: string[] = [];
    for (let u = last; u !== undefined; u = finish.get(u)?.via) {
        if (steps.has(u)) {
            chain.unshift(u);
        }
    }
    const top = [...steps.values()].sort((a, b) => b.end - b.start - (a.end - a.start)).slice(0, 10);
    return { wall, critical, chain, top };
}

/**
 * Where an up with little to do spends its time, in phases from the engine's event log, which
 * records the update pass only (`pulumi up` runs the program a first time for its preview): from the
 * engine's prelude to the first resource (the program's start: Node, the SDK, the program's own
 * modules), to the first remote step (the rest of the program: the stack's last outputs, the graph,
 * and the drift check's results, which the update pass takes from its preview), through the last resource's outputs (the engine's diff of every resource), and
 * to the summary.
 */
export function timeline(events: EngineEvent[]): { start: number; program: number; probe: number; steps: number; finish: number } {
    const at = (pick: (e: EngineEvent) => boolean, last = false): number | undefined => {
        const found = last ? [...events].reverse().find(pick) : events.find(pick);
        return found?.timestamp;
    };
    const first = at(() => true) ?? 0;
    const prelude = at((e) => e.preludeEvent !== undefined) ?? first;
    const firstResource = at((e) => e.resourcePreEvent !== undefined) ?? prelude;
    const firstStep = at((e) => (e.resourcePreEvent?.metadata.urn ?? "").includes("$command:remote:")) ?? firstResource;
    const lastOutputs = at((e) => e.resOutputsEvent !== undefined, true) ?? firstStep;
    const summary = at((e) => e.summaryEvent !== undefined, true) ?? lastOutputs;
    return { start: prelude - first, program: firstResource - prelude, probe: firstStep - firstResource, steps: lastOutputs - firstStep, finish: summary - lastOutputs };
}

if (require.main === module && process.argv[2] === "--timeline") {
    const [, eventsFile, label = "up"] = process.argv.slice(2);
    if (!eventsFile) {
        console.error("usage: bench-profile.ts --timeline EVENTS.jsonl [LABEL]");
        process.exit(2);
    }
    const t = timeline(readEvents(eventsFile));
    console.log(
        `${label}: engine start ${t.start} s, program to its first resource ${t.program} s, then the rest of the program to the first remote step ${t.probe} s, ` +
            `every resource's diff ${t.steps} s, to the summary ${t.finish} s (whole seconds)`,
    );
} else if (require.main === module) {
    const [eventsFile, stateFile, label = "up"] = process.argv.slice(2);
    if (!eventsFile || !stateFile) {
        console.error("usage: bench-profile.ts EVENTS.jsonl STATE.json [LABEL]");
        process.exit(2);
    }
    const p = profile(readEvents(eventsFile), dependencies(stateFile));
    const ratio = p.critical > 0 ? (p.wall / p.critical).toFixed(2) : "-";
    console.log(`${label}: engine wall ${p.wall} s, critical path ${p.critical} s, wall/critical ${ratio}`);
    console.log(`${label}: critical path: ${p.chain.map(short).join(" -> ") || "(no steps ran)"}`);
    for (const s of p.top) {
        console.log(`${label}:   ${String(s.end - s.start).padStart(4)} s  ${s.op.padEnd(7)} ${short(s.urn)}`);
    }
}
