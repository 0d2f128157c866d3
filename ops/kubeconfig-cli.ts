import * as os from "os";
import { KubeconfigError, kubeconfigPath, mergeIntoFile, mergeKubeconfig } from "./kubeconfig";
import { pulumiCli, stackName } from "./pulumi";

// npm run kubeconfig [-- --stack S] [--print] [--use]: the stack's cluster into the operator's
// kubeconfig ($KUBECONFIG's first file, else ~/.kube/config) under the context k3s-over-usb-<stack>.

const usage = "usage: npm run kubeconfig -- [--stack STACK] [--print] [--use]";

export async function kubeconfig(argv: readonly string[]): Promise<number> {
    let stack: string | undefined;
    let print = false;
    let use = false;
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i]!;
        if (arg === "--print") {
            print = true;
        } else if (arg === "--use") {
            use = true;
        } else if (arg === "--stack" && argv[i + 1] !== undefined && !argv[i + 1]!.startsWith("--")) {
            stack = argv[++i];
        } else {
            console.error(`kubeconfig: ${arg === "--stack" ? "--stack needs a stack name" : `unknown argument ${arg}`}\n${usage}`);
            return 2;
        }
    }
    try {
        const name = `k3s-over-usb-${await stackName(stack)}`;
        // A secret output: it travels through this pipe only.
        const text = (await pulumiCli(["stack", "output", "kubeconfig", "--show-secrets"], stack)).trim();
        if (text === "") {
            throw new KubeconfigError(`the stack has no kubeconfig output; fix: run pulumi up first`);
        }
        const file = kubeconfigPath(process.env, os.homedir());
        if (print) {
            process.stdout.write(mergeKubeconfig(undefined, `${text}\n`, { name, use: true, where: "(stdout)" }));
            return 0;
        }
        mergeIntoFile(file, `${text}\n`, { name, use });
        console.log(`kubeconfig: ${file} has the context ${name}${use ? " (now current)" : ""}; kubectl --context ${name} get nodes`);
        return 0;
    } catch (err) {
        console.error(`kubeconfig: ${err instanceof Error ? err.message : String(err)}`);
        return 1;
    }
}

if (require.main === module) {
    void kubeconfig(process.argv.slice(2)).then((code) => {
        process.exitCode = code;
    });
}
