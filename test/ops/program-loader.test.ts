import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

// ops/program-loader.cjs, run in real Node processes as Pulumi starts them: preloaded by
// Pulumi.yaml's nodeargs, or through NODE_OPTIONS (tools/pulumi-engine/env.sh, for the 3.68.0 host).

const root = path.join(__dirname, "..", "..");
const loader = path.join(root, "ops", "program-loader.cjs");
let dir: string;
let cache: string;

beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "program-loader-"));
    cache = path.join(dir, "xdg");
    fs.writeFileSync(
        path.join(dir, "thrower.ts"),
        ["interface Box { readonly n: number }", "const box: Box = { n: 7 };", "export function boom(): never {", "    throw new Error(`boom ${box.n}`);", "}", ""].join("\n"),
    );
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs a script in a fresh Node, with the loader preloaded one way or the other; returns its JSON line. */
function run(script: string, how: { nodeargs?: boolean; nodeOptions?: boolean; argv?: string[] }): Record<string, unknown> {
    const file = path.join(dir, "script.js");
    fs.writeFileSync(file, script);
    const env: NodeJS.ProcessEnv = { ...process.env, XDG_CACHE_HOME: cache, PULUMI_NODEJS_TYPESCRIPT: "true" };
    delete env["NODE_OPTIONS"];
    if (how.nodeOptions === true) {
        env["NODE_OPTIONS"] = `--require="${loader}"`;
    }
    const args = [...(how.nodeargs === true ? ["--require", loader] : []), file, ...(how.argv ?? [])];
    const out = spawnSync(process.execPath, args, { env, encoding: "utf8" });
    expect(out.stderr).toBe("");
    expect(out.status).toBe(0);
    return JSON.parse(out.stdout.trim().split("\n").pop()!) as Record<string, unknown>;
}

/** Loads the throwing TypeScript file; reports the line the stack names, the env switch, and whether TypeScript was loaded. */
const probe = `
// As the runner does first: source-map-support's register (empty when the loader acts).
require(require.resolve("source-map-support/register", { paths: [${JSON.stringify(root)}] }));
const sourceMapSupport = Object.keys(require.cache).some((f) => /[\\\\/]source-map-support[\\\\/]source-map-support\\.js$/.test(f));
let where = "";
try { require(${JSON.stringify(path.join("DIR", "thrower.ts"))}.replace("DIR", process.env.K3OU_TEST_DIR)).boom(); } catch (e) { where = (e.stack.split("\\n")[1] || "").trim(); }
console.log(JSON.stringify({
    where,
    typescriptLoaded: Object.entries(require.cache).some(([f, m]) => /[\\\\/]typescript[\\\\/]lib[\\\\/]typescript\\.js$/.test(f) && !m.k3ouStandIn),
    env: process.env.PULUMI_NODEJS_TYPESCRIPT,
    sourceMapSupport,
}));
`;

describe("the program's TypeScript, loaded from a private cache", () => {
    it("transpiles a file once, keeps it privately, and on the next run neither transpiles it nor loads the compiler", () => {
        process.env["K3OU_TEST_DIR"] = dir;
        const first = run(probe, { nodeargs: true });
        // The stack names the TypeScript line (source maps), not the emitted JavaScript's.
        expect(first["where"]).toBe(`at Object.boom (${path.join(dir, "thrower.ts")}:4:11)`);
        // Node's own source maps did it: the runner's source-map-support was never installed.
        expect(first["sourceMapSupport"]).toBe(false);
        expect(first["typescriptLoaded"]).toBe(true);
        expect(first["env"]).toBe("false");
        const program = path.join(cache, "k3s-over-usb", "program");
        expect(fs.statSync(program).mode & 0o777).toBe(0o700);
        const entries = fs.readdirSync(program).filter((f) => f.endsWith(".js"));
        expect(entries).toHaveLength(1);
        expect(fs.statSync(path.join(program, entries[0]!)).mode & 0o777).toBe(0o600);

        const second = run(probe, { nodeargs: true });
        expect(second["where"]).toBe(first["where"]);
        expect(second["typescriptLoaded"]).toBe(false);

        // A changed file is transpiled again, under a new key.
        fs.appendFileSync(path.join(dir, "thrower.ts"), "export const more = 1;\n");
        expect(run(probe, { nodeargs: true })["typescriptLoaded"]).toBe(true);
        expect(fs.readdirSync(program).filter((f) => f.endsWith(".js"))).toHaveLength(2);
    });

    it("loads the SDK without arborist and the TypeScript compiler, which load when the program uses them", () => {
        // What the SDK needs them for: serializing a function (TypeScript parses it) and finding the
        // packages it needs (arborist). Without the loader both load with the SDK.
        const script = `
const loaded = (re) => Object.entries(require.cache).some(([f, m]) => re.test(f) && !m.k3ouStandIn);
const both = () => ({ arborist: loaded(/[\\\\/]@npmcli[\\\\/]arborist[\\\\/]/), typescript: loaded(/[\\\\/]typescript[\\\\/]lib[\\\\/]typescript\\.js$/) });
const pulumi = require(require.resolve("@pulumi/pulumi", { paths: [${JSON.stringify(root)}] }));
const before = both();
let sdkFrame = "";
try { new pulumi.Config("k3ou").require("missing"); } catch (e) { sdkFrame = e.stack.split("\\n").find((l) => l.includes("requireImpl")).trim(); }
(async () => {
    const fn = await pulumi.runtime.serializeFunction(() => 6 * 7);
    const paths = await pulumi.runtime.computeCodePaths({ extraIncludePackages: ["zod"] });
    console.log(JSON.stringify({ before, sdkFrame, after: both(), fn: fn.text.includes("6 * 7"), zod: [...paths.keys()].some((k) => /node_modules[\\\\/]zod/.test(k)) }));
})();
`;
        const file = path.join(dir, "sdk.js");
        fs.writeFileSync(file, script);
        const env: NodeJS.ProcessEnv = { ...process.env, XDG_CACHE_HOME: cache };
        delete env["NODE_OPTIONS"];
        const results = [[], ["--require", loader]].map((pre) => {
            const out = spawnSync(process.execPath, [...pre, file], { env, encoding: "utf8", cwd: root });
            expect(out.stderr).toBe("");
            return JSON.parse(out.stdout.trim().split("\n").pop()!) as Record<string, unknown>;
        });
        const used = { after: { arborist: true, typescript: true }, fn: true, zod: true };
        expect(results[0]).toMatchObject({ before: { arborist: true, typescript: true }, ...used });
        expect(results[1]).toMatchObject({ before: { arborist: false, typescript: false }, ...used });
        // The packages' own source maps are not read: the SDK's frames name its JavaScript, a file that
        // exists (its maps point at TypeScript it does not ship, at a path that does not exist).
        const sdkFile = path.join(root, "node_modules", "@pulumi", "pulumi", "config.js");
        expect(results[1]!["sdkFrame"]).toMatch(new RegExp(`^at Config\\.requireImpl \\(${sdkFile.replace(/[.]/g, "\\.")}:\\d+:\\d+\\)$`));
    });

    it("uses no cache folder that others can write, and still loads the program", () => {
        process.env["K3OU_TEST_DIR"] = dir;
        const program = path.join(cache, "k3s-over-usb", "program");
        fs.mkdirSync(program, { recursive: true });
        fs.chmodSync(program, 0o777);
        for (let i = 0; i < 2; i++) {
            const out = run(probe, { nodeargs: true });
            expect(out["where"]).toBe(`at Object.boom (${path.join(dir, "thrower.ts")}:4:11)`);
            expect(out["typescriptLoaded"]).toBe(true);
        }
        expect(fs.readdirSync(program)).toEqual([]);
    });

    it("through NODE_OPTIONS, acts only in Pulumi's runner of this project", () => {
        process.env["K3OU_TEST_DIR"] = dir;
        // Any other Node process: nothing registered for .ts by the loader, the env left alone.
        const other = run(`console.log(JSON.stringify({ env: process.env.PULUMI_NODEJS_TYPESCRIPT }));`, { nodeOptions: true, argv: ["--pwd", root] });
        expect(other["env"]).toBe("true");
        expect(fs.existsSync(path.join(cache, "k3s-over-usb"))).toBe(false);

        // A runner (the same path as @pulumi/pulumi's) of another project: left alone too.
        const runner = path.join(dir, "node_modules", "@pulumi", "pulumi", "cmd", "run", "index.js");
        fs.mkdirSync(path.dirname(runner), { recursive: true });
        fs.writeFileSync(runner, probe);
        const env: NodeJS.ProcessEnv = { ...process.env, XDG_CACHE_HOME: cache, PULUMI_NODEJS_TYPESCRIPT: "true", NODE_OPTIONS: `--require="${loader}"` };
        const elsewhere = spawnSync(process.execPath, [runner, "--pwd", dir], { env, encoding: "utf8" });
        expect(elsewhere.stdout).toContain('"env":"true"');
        expect(elsewhere.stdout).toContain('"sourceMapSupport":true');

        // The runner of this project: the loader takes over from ts-node.
        const ours = spawnSync(process.execPath, [runner, "--pwd", root], { env, encoding: "utf8" });
        expect(ours.stderr).toBe("");
        const out = JSON.parse(ours.stdout.trim()) as Record<string, unknown>;
        expect(out["env"]).toBe("false");
        expect(out["where"]).toBe(`at Object.boom (${path.join(dir, "thrower.ts")}:4:11)`);
    });

    it("reports a file that does not parse as ts-node does, file, line and column, and caches nothing of it", () => {
        const bad = path.join(dir, "bad.ts");
        fs.writeFileSync(bad, "export const x: number = ;\n");
        fs.writeFileSync(path.join(dir, "script.js"), `require(${JSON.stringify(bad)});`);
        const env: NodeJS.ProcessEnv = { ...process.env, XDG_CACHE_HOME: cache };
        delete env["NODE_OPTIONS"];
        const out = spawnSync(process.execPath, ["--require", loader, path.join(dir, "script.js")], { env, encoding: "utf8", cwd: dir });
        expect(out.status).not.toBe(0);
        expect(out.stderr).toContain("the program does not compile:\nbad.ts(1,26): error TS1109: Expression expected.");
        expect(fs.readdirSync(path.join(cache, "k3s-over-usb", "program")).filter((f) => f.endsWith(".js"))).toEqual([]);
    });
});
