// A summary of a converged household to read at a glance: nodes, links, battery state (from the
// stack's outputs), and the host ping matrix measured now, from every node to every node.
import { spawnSync } from "child_process";
import { renderCommand } from "../hosts/command";
import { parseHousehold, type Household } from "../household/model";
import { hostEndpoints } from "../hosts/endpoints";
import { run } from "../ops/ssh";

function pulumi(...args: string[]): string {
    const r = spawnSync("pulumi", args, { encoding: "utf8" });
    if (r.status !== 0) {
        throw new Error(`pulumi ${args.join(" ")}: ${r.stderr}`);
    }
    return r.stdout;
}

interface Outputs {
    nodes: Array<{ name: string; role: string; address: string; laptopInterface?: string; laptopEnd?: string }>;
    battery: Record<string, { written: number | null; live: number | null; rebootPending: boolean }>;
}

async function main(): Promise<void> {
    const outputs = JSON.parse(pulumi("stack", "output", "--json")) as Outputs;
    const household: Household = parseHousehold((JSON.parse(pulumi("config", "get", "household", "--json")) as { objectValue: unknown }).objectValue, "stack config");
    // Read through a pipe, never printed.
    const key = pulumi("config", "get", "sshPrivateKey");

    console.log("\nnodes");
    for (const n of outputs.nodes) {
        const link = n.laptopInterface ? `  link ${n.laptopInterface} (${n.laptopEnd} <-> ${n.address})` : "";
        console.log(`  ${n.name.padEnd(10)} ${n.role.padEnd(7)} ${n.address.padEnd(16)}${link}`);
    }
    console.log("\nbattery");
    for (const [phone, b] of Object.entries(outputs.battery)) {
        console.log(`  ${phone.padEnd(10)} written ${b.written ?? "stock"} µV, running kernel ${b.live ?? "?"} µV${b.rebootPending ? "  (reboot pending)" : ""}`);
    }

    const ends = hostEndpoints(household, key);
    const nodes = [
        { name: household.laptop.name, address: household.laptop.lan.address },
        ...household.phones.map((p) => ({ name: p.name, address: p.link.phoneAddress })),
    ].map((n) => ({ ...n, endpoint: ends.get(n.name)! }));
    const probe = nodes.map((d) => `if ping -c 1 -W 2 ${d.address} >/dev/null 2>&1; then printf ok; else printf FAIL; fi; echo`).join("; ");
    const rows = await Promise.all(
        nodes.map(async (src) => {
            const r = await run(src.endpoint, renderCommand({ name: src.name, escalation: "root", init: "auto" }, "matrix", probe, {}));
            return r.code === 0 ? r.stdout.trim().split("\n") : nodes.map(() => "unreachable");
        }),
    );
    console.log(`\nhost ping matrix (${nodes.length}x${nodes.length})`);
    console.log(`  ${"from \\ to".padEnd(12)}${nodes.map((n) => n.name.padEnd(10)).join("")}`);
    rows.forEach((row, i) => console.log(`  ${nodes[i]!.name.padEnd(12)}${row.map((c) => c.padEnd(10)).join("")}`));
    const bad = rows.flat().filter((c) => c !== "ok").length;
    console.log(bad === 0 ? "\nall pairs answer" : `\n${bad} pairs do not answer`);
    process.exitCode = bad === 0 ? 0 : 1;
}

void main();
