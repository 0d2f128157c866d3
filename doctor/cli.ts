import { parseHousehold, type Household } from "../household/model";
import { defaultNettestImage } from "../manifests/nettest";
import { pulumiCli, stackName as selectedStack } from "../ops/pulumi";
import { connect } from "../ops/ssh";
import { proveCluster } from "./cluster";
import type { PlannedCheck } from "../checks/plan";
import { failures, renderJson, renderText, type ClusterProof, type Report } from "./report";
import { attribute, runChecks } from "../checks/run";
import { hostEndpoints } from "../hosts/endpoints";

// npm run doctor [-- --stack S] [--json] [--hosts-only] [--image IMAGE] [--deadline SECONDS]
// Is the household what the stack says, and does the cluster really work? Reads the selected stack's
// config and its `checks` output; exit 0 when healthy, 1 on any failure, 2 when it could not look.

const usage = "usage: npm run doctor -- [--stack STACK] [--json] [--hosts-only] [--image IMAGE] [--deadline SECONDS]";

interface Args {
    stack?: string;
    json: boolean;
    hostsOnly: boolean;
    image?: string;
    deadline: number;
}

class UsageError extends Error {}

function parseArgs(argv: readonly string[]): Args {
    const a: Args = { json: false, hostsOnly: false, deadline: 180 };
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i]!;
        const value = (): string => {
            const v = argv[++i];
            if (v === undefined) {
                throw new UsageError(`${arg} needs a value\n${usage}`);
            }
            return v;
        };
        switch (arg) {
            case "--stack":
            case "-s":
                a.stack = value();
                break;
            case "--json":
                a.json = true;
                break;
            case "--hosts-only":
                a.hostsOnly = true;
                break;
            case "--image":
                a.image = value();
                break;
            case "--deadline": {
                const v = Number(value());
                if (!Number.isInteger(v) || v < 1) {
                    throw new UsageError(`--deadline takes whole seconds, e.g. 180\n${usage}`);
                }
                a.deadline = v;
                break;
            }
            default:
                throw new UsageError(`unknown argument ${arg}\n${usage}`);
        }
    }
    return a;
}

interface StackFacts {
    readonly stack: string;
    readonly household: Household;
    readonly privateKey: string;
    readonly plan: PlannedCheck[];
    readonly image: string;
    readonly driftCheck: boolean;
}

async function readStack(a: Args): Promise<StackFacts> {
    // Secrets travel through this pipe only; nothing here prints them.
    const [configText, outputsText, stackName] = await Promise.all([
        pulumiCli(["config", "--json", "--show-secrets"], a.stack),
        pulumiCli(["stack", "output", "--json"], a.stack),
        selectedStack(a.stack),
    ]);
    const config = JSON.parse(configText) as Record<string, { value?: string; objectValue?: unknown }>;
    const outputs = JSON.parse(outputsText) as { checks?: PlannedCheck[] };
    const get = (k: string) => config[`k3s-over-usb:${k}`];
    const householdValue = get("household");
    if (householdValue === undefined) {
        throw new UsageError(`stack ${stackName} has no k3s-over-usb:household in Pulumi.${stackName}.yaml`);
    }
    const household = parseHousehold(householdValue.objectValue ?? JSON.parse(householdValue.value ?? "null"), `Pulumi.${stackName}.yaml, k3s-over-usb:household`);
    const privateKey = get("sshPrivateKey")?.value;
    if (!privateKey) {
        throw new UsageError(`stack ${stackName} has no k3s-over-usb:sshPrivateKey: pulumi config set --secret sshPrivateKey < ~/.ssh/id_ed25519`);
    }
    if (!Array.isArray(outputs.checks)) {
        throw new UsageError(`stack ${stackName} has no "checks" output: run pulumi up first (the doctor checks what the last up did)`);
    }
    return {
        stack: stackName,
        household,
        privateKey,
        plan: outputs.checks,
        image: a.image ?? get("nettestImage")?.value ?? defaultNettestImage,
        driftCheck: get("driftCheck")?.value !== "false",
    };
}

export async function doctor(argv: readonly string[]): Promise<number> {
    const started = Date.now();
    let a: Args;
    let facts: StackFacts;
    try {
        a = parseArgs(argv);
        facts = await readStack(a);
    } catch (err) {
        console.error(`doctor: ${err instanceof Error ? err.message : String(err)}`);
        return 2;
    }
    const { household, plan } = facts;
    const hostsStarted = Date.now();
    let laptop;
    let laptopError: unknown;
    try {
        laptop = await connect(hostEndpoints(household, facts.privateKey).get(household.laptop.name)!, 10_000);
    } catch (err) {
        laptopError = err;
    }
    let cluster: ClusterProof | undefined;
    let clusterMs: number | undefined;
    let hostChecksMs = 0;
    let results;
    try {
        const runs = await runChecks(household, facts.privateKey, plan, laptop ? { laptop } : { laptopError });
        hostChecksMs = Date.now() - hostsStarted;
        results = attribute(runs, plan);
        if (!a.hostsOnly) {
            const clusterStarted = Date.now();
            cluster = laptop
                ? await proveCluster(laptop, household, { image: facts.image, deadline: a.deadline }).catch(
                      (err: unknown): ClusterProof => ({ status: "fail", problems: [err instanceof Error ? err.message : String(err)] }),
                  )
                : { status: "not-run", reason: "the laptop is unreachable" };
            clusterMs = Date.now() - clusterStarted;
        }
    } finally {
        laptop?.end();
    }
    const hosts = [household.laptop.name, ...household.phones.map((p) => p.name)];
    const report: Report = {
        stack: facts.stack,
        ok: failures(results).length === 0 && cluster?.status !== "fail",
        hosts,
        results,
        ...(cluster ? { cluster } : {}),
        timings: { hostChecksMs, ...(clusterMs !== undefined ? { clusterMs } : {}), totalMs: Date.now() - started },
    };
    process.stdout.write(a.json ? renderJson(report, plan, facts.driftCheck) : renderText(report, plan, facts.driftCheck));
    return report.ok ? 0 : 1;
}

if (require.main === module) {
    void doctor(process.argv.slice(2)).then((code) => {
        process.exitCode = code;
    });
}
