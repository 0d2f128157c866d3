"use strict";
// How `pulumi preview` and `pulumi up` load the program's TypeScript (Pulumi.yaml:
// runtime.options.nodeargs preloads this file; typescript is off, so Pulumi registers no ts-node).
//
// ts-node transpiles every file of the program on every run, and loads the TypeScript compiler to do
// it: about 1.3 CPU-seconds a run, and `pulumi up` runs the program twice (preview and update).
// Here each file's JavaScript is kept in a private cache, keyed by the SHA-256 of its text, its
// path, the compiler's version and the project's tsconfig files, and the compiler is loaded only
// when a file changed. Node's own compile cache (module.enableCompileCache) keeps V8's compiled code
// of every module beside it. The output is what ts-node's transpile-only mode gives (tsconfig.json's
// options, CommonJS, inline source maps for stack traces); types are checked by `npm run lint`, as
// before.
//
// Pulumi's own language hosts pass Pulumi.yaml's runtime options to the runner. The 3.68.0 host that
// tools/pulumi-engine builds here cannot read them (newer engines send them over gRPC), so its env.sh
// preloads this file through NODE_OPTIONS in every Node process: there it acts only in the runner
// of this project's program (the runner's path, and its --pwd the project folder), and turns off the
// ts-node registration the old host asks for, as `typescript: false` does.
//
// The cache lives in $XDG_CACHE_HOME/k3s-over-usb/program (or ~/.cache/...), a folder of the user's
// own that nobody else can write (the program runs as its user, often root: code from a folder
// others can write would be theirs to run). When it cannot be used, files are transpiled in memory
// on every run, which is only slower.

const crypto = require("crypto");
const fs = require("fs");
const Module = require("module");
const os = require("os");
const path = require("path");

/** Bumped when what this file emits changes, so older entries are not used. */
const FORMAT = "2";
const root = path.resolve(__dirname, "..");
const tsconfig = path.join(root, "tsconfig.pulumi.json");

/** Whether this process is Pulumi's runner of this project's program. */
function runsThisProgram() {
    if (process.execArgv.some((arg) => arg.includes("program-loader.cjs"))) {
        return true; // preloaded by Pulumi.yaml's nodeargs: Pulumi runs this project
    }
    if (!/[\\/]@pulumi[\\/]pulumi[\\/]cmd[\\/]run(?:[\\/]index\.js)?$/.test(process.argv[1] ?? "")) {
        return false;
    }
    const at = process.argv.indexOf("--pwd");
    try {
        return at > 0 && fs.realpathSync(process.argv[at + 1] ?? "") === fs.realpathSync(root);
    } catch {
        return false;
    }
}

/** The private cache folder, or undefined when there is none to be had. */
function cacheDir() {
    const base = process.env["XDG_CACHE_HOME"] || path.join(os.homedir(), ".cache");
    const dir = path.join(base, "k3s-over-usb", "program");
    try {
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        const st = fs.lstatSync(dir);
        const uid = typeof process.getuid === "function" ? process.getuid() : st.uid;
        return st.isDirectory() && st.uid === uid && (st.mode & 0o022) === 0 ? dir : undefined;
    } catch {
        return undefined;
    }
}

/** Entries not written for two weeks are removed when one is written, so old edits do not pile up. */
function sweep(dir) {
    const before = Date.now() - 14 * 24 * 3600 * 1000;
    for (const name of fs.readdirSync(dir)) {
        const file = path.join(dir, name);
        try {
            const st = fs.lstatSync(file);
            if (st.isFile() && /^[0-9a-f]{64}\.js/.test(name) && st.mtimeMs < before) {
                fs.rmSync(file, { force: true });
            }
        } catch {
            // gone already
        }
    }
}

/** A transpiler with the project's tsconfig options, as ts-node's transpile-only mode uses them. */
function makeTranspiler() {
    const ts = require(require.resolve("typescript", { paths: [root] }));
    const parsed = ts.getParsedCommandLineOfConfigFile(tsconfig, {}, {
        ...ts.sys,
        onUnRecoverableConfigFileDiagnostic: (d) => {
            throw new Error(`${tsconfig}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
        },
    });
    // No output folder: the source map's sources are then relative to the file itself, as it is
    // loaded (with tsconfig.json's outDir they pointed from bin/, wrong outside the project).
    const { outDir, rootDir, sourceRoot, mapRoot, outFile, declarationDir, ...options } = parsed.options;
    void [outDir, rootDir, sourceRoot, mapRoot, outFile, declarationDir];
    const compilerOptions = {
        ...options,
        module: ts.ModuleKind.CommonJS,
        inlineSourceMap: true,
        inlineSources: true,
        sourceMap: false,
        declaration: false,
        noEmit: false,
    };
    // What ts-node reports in transpile-only mode: the file's syntax errors (all but the same three
    // codes ts-node ignores), as file(line,col): error TSnnnn: message. A file that does not parse is
    // not run, and not cached.
    const ignored = new Set([6059, 18002, 18003]);
    const formatHost = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => process.cwd(), getNewLine: () => "\n" };
    return (text, filename) => {
        const out = ts.transpileModule(text, { compilerOptions, fileName: filename, reportDiagnostics: true });
        const errors = (out.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error && !ignored.has(d.code));
        if (errors.length > 0) {
            const error = new Error(`the program does not compile:\n${ts.formatDiagnostics(errors, formatHost).trimEnd()}`);
            error.stack = error.message; // where the loader is does not help
            throw error;
        }
        return out.outputText;
    };
}

/** Puts a module into Node's cache as already loaded, so that a require of `file` gets `exports`. */
function preload(file, exports, fields = {}) {
    const module = new Module(file);
    module.filename = file;
    module.loaded = true;
    module.exports = exports;
    Object.assign(module, fields);
    require.cache[file] = module;
}

/**
 * With its runtime the SDK loads two packages this program never uses: @npmcli/arborist (to find the
 * packages a serialized function needs, for dynamic providers) and the TypeScript compiler (to parse
 * such functions, and for component providers). They took 0.19 of the 0.3 s loading the SDK took, in
 * each of an up's two runs of the program. Each is registered in their place as a stand-in that loads
 * the package on first use and then answers for it, so a program that does use them still works.
 */
function deferUnusedPackages() {
    let sdk;
    try {
        sdk = path.dirname(require.resolve("@pulumi/pulumi/package.json", { paths: [root] }));
    } catch {
        return; // no SDK: nothing loads them
    }
    // The SDK imports arborist with TypeScript's __importStar, which copies every export (loading the
    // package) unless the module says it is an ES module: the stand-in says so, and the SDK's
    // `arborist.Arborist` reaches the real export through it.
    for (const [name, esModule] of [
        ["@npmcli/arborist", true],
        ["typescript", undefined],
    ]) {
        let file;
        try {
            file = require.resolve(name, { paths: [sdk] });
        } catch {
            continue;
        }
        if (require.cache[file] !== undefined) {
            continue;
        }
        let real;
        const load = () => {
            if (real === undefined) {
                delete require.cache[file];
                real = require(file);
            }
            return real;
        };
        const exports = new Proxy(
            {},
            {
                get: (_, key) => (key === "__esModule" && real === undefined ? esModule : load()[key]),
                has: (_, key) => key in load(),
                ownKeys: () => Reflect.ownKeys(load()),
                getOwnPropertyDescriptor: (_, key) => {
                    const d = Object.getOwnPropertyDescriptor(load(), key);
                    return d === undefined ? undefined : { ...d, configurable: true };
                },
            },
        );
        preload(file, exports, { k3ouStandIn: true });
    }
}

function install() {
    const dir = cacheDir();
    if (dir !== undefined && typeof Module.enableCompileCache === "function") {
        Module.enableCompileCache(path.join(dir, "v8"));
    }
    // Node's own source maps, for the program's files and not the packages': the SDK takes a stack
    // trace of every frame for every resource it registers, and with the packages' maps (the SDK ships
    // its own) Node parsed them all as they loaded and mapped every frame, 0.2 CPU-seconds a run.
    if (typeof Module.setSourceMapsSupport === "function") {
        Module.setSourceMapsSupport(true, { nodeModules: false, generatedCode: false });
    } else {
        process.setSourceMapsEnabled(true);
    }
    deferUnusedPackages();
    // The runner then installs source-map-support, for ts-node's stack traces. Node maps them itself
    // now, and source-map-support would map every frame again each time a stack is read: the SDK
    // reads an unlimited one for every resource it registers (its source position in the state),
    // about 0.4 CPU-seconds a pass for 3 phones. Its `register` becomes an empty module before the
    // runner asks for it; stack traces name the same TypeScript lines.
    try {
        preload(require.resolve("source-map-support/register", { paths: [process.argv[1] ?? root, root] }), {});
    } catch {
        // not installed: nothing to turn off
    }
    // What besides a file's own text decides its output: this loader, the compiler, the tsconfig files.
    const salt = crypto.createHash("sha256");
    salt.update(FORMAT);
    for (const file of [require.resolve("typescript/package.json", { paths: [root] }), path.join(root, "tsconfig.json"), tsconfig]) {
        salt.update(`\0${fs.readFileSync(file, "utf8")}`);
    }
    const saltHex = salt.digest("hex");
    let transpile;
    let swept = false;

    Module._extensions[".ts"] = (module, filename) => {
        const text = fs.readFileSync(filename, "utf8");
        const key = crypto.createHash("sha256").update(`${saltHex}\0${filename}\0${text}`).digest("hex");
        const entry = dir === undefined ? undefined : path.join(dir, `${key}.js`);
        let js;
        if (entry !== undefined) {
            try {
                js = fs.readFileSync(entry, "utf8");
            } catch {
                // not cached yet
            }
        }
        if (js === undefined) {
            transpile ??= makeTranspiler();
            js = transpile(text, filename);
            if (entry !== undefined) {
                if (!swept) {
                    swept = true;
                    sweep(dir);
                }
                const tmp = `${entry}.${process.pid}.tmp`;
                try {
                    fs.writeFileSync(tmp, js, { mode: 0o600 });
                    fs.renameSync(tmp, entry);
                } catch {
                    fs.rmSync(tmp, { force: true });
                }
            }
        }
        module._compile(js, filename);
    };
    // The runner registers ts-node when this is "true" (the 3.68.0 host sets it whatever Pulumi.yaml says).
    process.env["PULUMI_NODEJS_TYPESCRIPT"] = "false";
}

if (runsThisProgram()) {
    install();
}
