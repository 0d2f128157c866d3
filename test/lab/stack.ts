import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse, stringify } from "yaml";
import { labStatus } from "../../lab/household";
import { lab } from "./hosts";

// A stack of the real Pulumi engine pointed at the running lab, with its own file backend and
// passphrase in a temporary folder: the tests' stacks never touch the main job's.

export const repo = path.join(__dirname, "..", "..");
/** lab/k3s/build.sh's output (the binary and its air-gap images), from lab/k3s/env.sh via tools/test.sh. */
export function labK3sDir(): string {
    const dir = process.env["K3OU_LAB_K3S_DIR"];
    if (dir === undefined || dir === "") {
        throw new Error("K3OU_LAB_K3S_DIR is not set: run the lab tests through tools/test.sh, or `. lab/k3s/env.sh` first");
    }
    return dir;
}

export class LabStack {
    readonly file: string;
    env: NodeJS.ProcessEnv = process.env;
    /** The file backend's folder. */
    backend = "";

    constructor(readonly name: string) {
        this.file = path.join(repo, `Pulumi.${name}.yaml`);
    }

    /** The temporary folder of the backend and its passphrase. */
    private state = "";

    /** A new backend, the stack's config written from the lab, the lab's key as the secret sshPrivateKey. */
    init(): void {
        const state = fs.mkdtempSync(path.join(os.tmpdir(), `k3ou-${this.name}-`));
        this.state = state;
        this.backend = path.join(state, "backend");
        fs.mkdirSync(this.backend);
        fs.writeFileSync(path.join(state, "passphrase"), `${this.name}-passphrase\n`, { mode: 0o600 });
        // The file backend as the README advises (README, "State"): no .attrs file beside each
        // checkpoint, and checkpoints compressed.
        this.env = {
            ...process.env,
            PULUMI_BACKEND_URL: `file://${this.backend}?metadata=skip`,
            PULUMI_DIY_BACKEND_ZSTD: "true",
            PULUMI_CONFIG_PASSPHRASE_FILE: path.join(state, "passphrase"),
        };
        fs.rmSync(this.file, { force: true });
        this.writeConfig();
        const init = spawnSync("pulumi", ["stack", "init", this.name, "--non-interactive"], { cwd: repo, env: this.env, encoding: "utf8" });
        if (init.status !== 0) {
            throw new Error(init.stderr);
        }
        const key = fs.readFileSync(labStatus().sshPrivateKeyPath);
        const set = spawnSync("pulumi", ["config", "set", "--secret", "sshPrivateKey", "--stack", this.name], { cwd: repo, env: this.env, input: key, encoding: "utf8" });
        if (set.status !== 0) {
            throw new Error(set.stderr);
        }
    }

    /**
     * The backend, its passphrase and the stack's config file removed, once the suite is done with
     * them; K3OU_LAB_KEEP_STATE=1 keeps them to look into a failed run (the folder is printed).
     */
    dispose(): void {
        if (this.state === "") {
            return;
        }
        if (process.env["K3OU_LAB_KEEP_STATE"] === "1") {
            console.log(`the ${this.name} stack's backend is kept in ${this.state}`);
            return;
        }
        fs.rmSync(this.state, { recursive: true, force: true });
        fs.rmSync(this.file, { force: true });
        this.state = "";
    }

    /** The stack's household from the lab as it is now (host keys included). */
    writeConfig(): void {
        const r = spawnSync("npx", ["ts-node", "--transpile-only", "tools/lab-stack.ts", labK3sDir(), "lab/k3s/install.sh", this.name], { cwd: repo, env: this.env, encoding: "utf8" });
        if (r.status !== 0) {
            throw new Error(r.stderr);
        }
    }

    /** The stack's household as its config file holds it now. */
    household(): any {
        return (parse(fs.readFileSync(this.file, "utf8")) as { config: Record<string, any> }).config["k3s-over-usb:household"];
    }

    editHousehold(edit: (h: any) => void): void {
        const doc = parse(fs.readFileSync(this.file, "utf8")) as { config: Record<string, any> };
        edit(doc.config["k3s-over-usb:household"]);
        fs.writeFileSync(this.file, stringify(doc, { lineWidth: 0 }));
    }

    /** pulumi ARGS on this stack; throws with the output's tail unless `ok: false`. */
    pulumi(args: string[], opts: { ok?: boolean } = {}): { code: number; out: string } {
        const r = spawnSync("pulumi", [...args, "--stack", this.name, "--non-interactive"], { cwd: repo, env: this.env, encoding: "utf8", maxBuffer: 64 << 20 });
        const out = `${r.stdout}\n${r.stderr}`;
        if ((opts.ok ?? true) && r.status !== 0) {
            throw new Error(`pulumi ${args.join(" ")} exited ${r.status}:\n${out.slice(-6000)}`);
        }
        return { code: r.status ?? -1, out };
    }

    /** npm run doctor -- --stack NAME ARGS, as an operator runs it. */
    doctor(args: string[] = []): { code: number; stdout: string; stderr: string } {
        const r = spawnSync("npm", ["run", "-s", "doctor", "--", "--stack", this.name, ...args], { cwd: repo, env: this.env, encoding: "utf8", maxBuffer: 64 << 20 });
        return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    }
}

/** A shell script run as root inside a lab host (lab.sh exec); returns stdout. */
export function onHost(host: string, script: string): string {
    return lab("exec", host, "--", "sh", "-c", script);
}
