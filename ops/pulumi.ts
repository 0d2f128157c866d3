import { spawn } from "child_process";

// The Pulumi CLI as the operator's tools call it (the doctor, the kubeconfig merge): output to a
// pipe, never to a terminal or a log; secrets asked for with --show-secrets stay in this process.

/** `pulumi ARGS [--stack STACK] --non-interactive`; its stdout, or a rejection with its stderr. */
export function pulumiCli(args: string[], stack: string | undefined): Promise<string> {
    return new Promise((resolve, reject) => {
        const child = spawn("pulumi", [...args, ...(stack ? ["--stack", stack] : []), "--non-interactive"], { stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        let err = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.stderr.on("data", (d: Buffer) => (err += d.toString()));
        child.on("error", (e) => reject(new Error(`cannot run pulumi: ${e.message} (source tools/pulumi-engine/env.sh, or install the Pulumi CLI)`)));
        child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`pulumi ${args.slice(0, 2).join(" ")}: ${err.trim() || `exit ${code}`}`))));
    });
}

/** The stack's name: the one given, or the selected stack. */
export async function stackName(stack: string | undefined): Promise<string> {
    return stack ?? (await pulumiCli(["stack", "--show-name"], undefined)).trim();
}
