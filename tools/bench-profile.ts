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

function stepTimes(events: EngineEvent[]): Map<string, StepTime> {
    const steps = new Map<string, StepTime>();
    for (const e of events) {
        const pre = e.resourcePreEvent?.metadata;
        if (pre && pre.op !== "same" && pre.op !== "read") {
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

function dependencies(stateFile: string): Map<string, string[]> {
    const state = JSON.parse(fs.readFileSync(stateFile, "utf8")) as { deployment?: { resources?: { urn: string; dependencies?: string[] }[] } };
    return new Map((state.deployment?.resources ?? []).map((r) => [r.urn, r.dependencies ?? []]));
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

if (require.main === module) {
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
