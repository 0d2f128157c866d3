import { spawnSync } from "child_process";

/** Runs a command; returns stdout, or throws with its stderr. Tests use real tools, never stubs. */
export function run(cmd: string, args: ReadonlyArray<string>, opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): string {
    const r = spawnSync(cmd, args as string[], { input: opts.input, env: opts.env ?? process.env, cwd: opts.cwd, encoding: "utf8" });
    if (r.error) {
        throw r.error;
    }
    if (r.status !== 0) {
        throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
    }
    return r.stdout;
}
