import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";

// One way down: index.ts -> components -> (household, hosts, checks, manifests, ops); the doctor ->
// (household, hosts, checks, manifests, ops). Lower layers never import upward, and no product code
// imports the lab, the tools or the tests. Read from the sources themselves, so a new import that
// breaks the picture fails here, naming the file and the import.

const root = path.join(__dirname, "..");

/** Which top-level folders (or the root's own files, ".") each folder's code may import from. */
const allowed: Readonly<Record<string, ReadonlyArray<string>>> = {
    ".": ["components", "household", "manifests"],
    components: ["components", "household", "hosts", "checks", "manifests", "ops"],
    doctor: ["doctor", "household", "hosts", "checks", "manifests", "ops"],
    checks: ["checks", "household", "hosts", "ops"],
    manifests: ["manifests", "household", "ops"],
    hosts: ["hosts", "household"],
    household: ["household"],
    ops: ["ops"],
    lab: ["lab", "household", "ops"],
    tools: ["tools", "components", "doctor", "checks", "household", "hosts", "manifests", "ops", "lab"],
};

function sources(dir: string): string[] {
    const out: string[] = [];
    for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
        const rel = path.join(dir, entry.name);
        if (entry.isDirectory()) {
            if (dir === "." && !(entry.name in allowed)) {
                continue;
            }
            if (entry.name === "node_modules" || entry.name.startsWith(".")) {
                continue;
            }
            out.push(...sources(rel));
        } else if (/\.tsx?$/.test(entry.name) && !entry.name.endsWith(".d.ts") && !(dir === "." && entry.name.endsWith(".config.ts"))) {
            out.push(rel);
        }
    }
    return out;
}

/** Relative module specifiers of a file: import/export ... from, import(), require(). */
function relativeImports(file: string): string[] {
    const text = fs.readFileSync(path.join(root, file), "utf8");
    const found: string[] = [];
    for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)["'](\.{1,2}\/[^"']*)["']/gm)) {
        found.push(m[1]!);
    }
    return found;
}

function layerOf(rel: string): string {
    const first = rel.split(path.sep)[0]!;
    return rel.includes(path.sep) ? first : ".";
}

describe("the import graph", () => {
    const files = sources(".");

    it("covers the program, its layers and the operator's tools", () => {
        const layers = new Set(files.map(layerOf));
        for (const layer of Object.keys(allowed)) {
            expect(layers, layer).toContain(layer);
        }
        expect(files).toContain("index.ts");
    });

    it("goes one way down: no layer imports one above it, and product code never imports the lab, tools or tests", () => {
        const broken: string[] = [];
        for (const file of files) {
            const from = layerOf(file);
            for (const spec of relativeImports(file)) {
                const target = path.relative(root, path.resolve(root, path.dirname(file), spec));
                const to = layerOf(target.endsWith(".ts") ? target : `${target}.ts`);
                if (!allowed[from]!.includes(to)) {
                    broken.push(`${file} imports "${spec}" (${to === "." ? "the root" : `${to}/`}): ${from === "." ? "the root" : `${from}/`} may import only ${allowed[from]!.join(", ")}`);
                }
            }
        }
        expect(broken).toEqual([]);
    });

    it("would catch a break: the rule fails an upward import", () => {
        // The same check on a made-up file, so the test above cannot pass by matching nothing.
        const spec = "../components/usb-link";
        const target = path.relative(root, path.resolve(root, "hosts", spec));
        expect(allowed["hosts"]!.includes(layerOf(`${target}.ts`))).toBe(false);
        expect(relativeImports("index.ts").length).toBeGreaterThan(3);
    });
});
