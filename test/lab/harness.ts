import { randomBytes } from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { connect, run, type Endpoint, type ExecResult } from "../../ops/ssh";

// Runs the program's own components against the lab. Pulumi's mock monitor stands in for the engine
// and its newResource stands in for the pulumi-command provider: each command:remote:Command is run
// over SSH (ssh2, phones through the laptop, host keys pinned) with exactly the command line, stdin
// and connection the component built. The SDK resolves dependencies before it registers a resource,
// so steps run in the graph's order, and an address found by one step reaches the next.

export interface Executed {
    readonly name: string;
    readonly endpoint: Endpoint;
    readonly create: string;
    readonly delete?: string;
    readonly stdin?: string;
    readonly result: ExecResult;
}

const secretSig = "4dabf18193072939515e22adb298388d";

function unsecret(v: unknown): unknown {
    if (Array.isArray(v)) {
        return v.map(unsecret);
    }
    if (v !== null && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
        const o = v as Record<string, unknown>;
        if (secretSig in o) {
            return unsecret(o["value"]);
        }
        return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, unsecret(x)]));
    }
    return v;
}

function endpointOf(connection: Record<string, any>): Endpoint {
    return {
        host: connection["host"],
        port: connection["port"] ?? 22,
        user: connection["user"],
        privateKey: connection["privateKey"],
        hostKey: connection["hostKey"],
        proxy: connection["proxy"] ? endpointOf(connection["proxy"]) : undefined,
    };
}

export class StepFailed extends Error {}

const passwords = new Map<string, string>();

/** Registers what `build` creates, running every remote command for real; returns them in run order. */
export async function converge(build: () => void): Promise<Executed[]> {
    const executed: Executed[] = [];
    const failures: string[] = [];
    let pending = 0;
    let last = Date.now();
    await pulumi.runtime.setMocks(
        {
            async newResource(args) {
                pending++;
                last = Date.now();
                try {
                    const state: Record<string, unknown> = { ...args.inputs };
                    if (args.type === "command:remote:Command") {
                        const inputs = unsecret(args.inputs) as Record<string, any>;
                        const endpoint = endpointOf(inputs["connection"]);
                        const result = await dial(() => run(endpoint, inputs["create"], inputs["stdin"]));
                        executed.push({ name: args.name, endpoint, create: inputs["create"], delete: inputs["delete"], stdin: inputs["stdin"], result });
                        if (result.code !== 0) {
                            failures.push(`${args.name} exited ${result.code}:\n${result.stderr}`);
                            throw new StepFailed(`${args.name}: ${result.stderr}`);
                        }
                        state["stdout"] = result.stdout.replace(/\n$/, "");
                        state["stderr"] = result.stderr.replace(/\n$/, "");
                    } else if (args.type === "command:remote:CopyToRemote") {
                        const inputs = unsecret(args.inputs) as Record<string, any>;
                        const source = inputs["source"] as { path?: string | Promise<string> } | undefined;
                        const local = await source?.path;
                        if (typeof local !== "string") {
                            throw new Error(`${args.name}: only a FileAsset source is run against the lab, not ${JSON.stringify(inputs["source"])}`);
                        }
                        await dial(() => copyFile(endpointOf(inputs["connection"]), local, inputs["remotePath"]));
                    } else if (args.type === "random:index/randomPassword:RandomPassword") {
                        // Stable per name across converges, as the engine keeps it in state.
                        const known = passwords.get(args.name) ?? randomBytes(24).toString("hex");
                        passwords.set(args.name, known);
                        state["result"] = known;
                    } else if (args.type.startsWith("k3s-over-usb:") || args.type === "pulumi:pulumi:Stack") {
                        // components register no state of their own
                    } else {
                        throw new Error(`lab harness: ${args.type} is not run against the lab`);
                    }
                    return { id: `${args.name}-id`, state };
                } catch (e) {
                    if (!(e instanceof StepFailed)) {
                        failures.push(`${args.name} (${args.type}): ${String(e)}`);
                    }
                    throw e;
                } finally {
                    pending--;
                    last = Date.now();
                }
            },
            call: () => ({}),
        },
        "k3s-over-usb",
        "lab",
        false,
    );
    await pulumi.runtime.runInPulumiStack(() => {
        build();
        return Promise.resolve(undefined);
    });
    // Registrations chain on each other's outputs; wait until nothing is running and nothing new came.
    while (pending > 0 || Date.now() - last < 500) {
        await new Promise((r) => setTimeout(r, 100));
    }
    if (failures.length > 0) {
        throw new StepFailed(failures.join("\n\n"));
    }
    return executed;
}

/**
 * The mock monitor starts every ready step at once, and sshd refuses connections beyond its
 * MaxStartups (10 unauthenticated by default) by resetting them: at most six sessions at a time,
 * and a reset before the session starts is dialled again, as the command provider does.
 */
const sessions = { active: 0, waiting: [] as Array<() => void> };
async function dial<T>(f: () => Promise<T>): Promise<T> {
    while (sessions.active >= 6) {
        await new Promise<void>((resolve) => sessions.waiting.push(resolve));
    }
    sessions.active++;
    try {
        for (let attempt = 1; ; attempt++) {
            try {
                return await f();
            } catch (e) {
                if (attempt >= 5 || !/ECONNRESET|Connection lost before handshake/.test(String(e))) {
                    throw e;
                }
                await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
            }
        }
    } finally {
        sessions.active--;
        sessions.waiting.shift()?.();
    }
}

/** Runs the recorded create commands again, in the same order (a step's second run). */
export async function replay(steps: ReadonlyArray<Executed>): Promise<Executed[]> {
    const out: Executed[] = [];
    for (const s of steps) {
        const result = await run(s.endpoint, s.create, s.stdin);
        out.push({ ...s, result });
        if (result.code !== 0) {
            throw new StepFailed(`${s.name} (second run) exited ${result.code}:\n${result.stderr}`);
        }
    }
    return out;
}

/** Runs the recorded delete commands in reverse order, as a destroy would. */
export async function teardown(steps: ReadonlyArray<Executed>, endpointFor: (s: Executed) => Endpoint = (s) => s.endpoint): Promise<Executed[]> {
    const out: Executed[] = [];
    for (const s of [...steps].reverse()) {
        if (s.delete === undefined) {
            continue;
        }
        const result = await run(endpointFor(s), s.delete);
        out.push({ ...s, result });
        if (result.code !== 0) {
            throw new StepFailed(`${s.name} (delete) exited ${result.code}:\n${result.stderr}`);
        }
    }
    return out;
}

/** The harness's stand-in for command:remote:CopyToRemote: copies a local file over SFTP, creating parent folders (relative paths are below the login folder). */
async function copyFile(endpoint: Endpoint, localPath: string, remotePath: string): Promise<void> {
    const client = await connect(endpoint);
    try {
        const sftp = await new Promise<import("ssh2").SFTPWrapper>((resolve, reject) => client.sftp((err, s) => (err ? reject(err) : resolve(s))));
        const parts = remotePath.split("/").slice(0, -1);
        let dir = remotePath.startsWith("/") ? "" : ".";
        for (const part of parts.filter((p) => p !== "")) {
            dir = `${dir}/${part}`;
            const d = dir;
            await new Promise<void>((resolve) => sftp.mkdir(d, () => resolve()));
        }
        await new Promise<void>((resolve, reject) => sftp.fastPut(localPath, remotePath, (err) => (err ? reject(err) : resolve())));
    } finally {
        client.end();
    }
}
