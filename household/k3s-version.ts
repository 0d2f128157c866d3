import { HouseholdError } from "./issues";

// k3s release versions (v1.35.5+k3s1, v1.36.0-rc1+k3s1) compared as k3s orders them: Kubernetes
// major.minor.patch, a release candidate before its release, then the k3s build number.

interface Parsed {
    readonly nums: readonly [number, number, number];
    readonly rc: number;
    readonly build: number;
}

const pattern = /^v(\d+)\.(\d+)\.(\d+)(?:-rc(\d+))?\+k3s(\d+)$/;

function parse(version: string): Parsed | undefined {
    const m = pattern.exec(version);
    if (!m) {
        return undefined;
    }
    return { nums: [Number(m[1]), Number(m[2]), Number(m[3])], rc: m[4] === undefined ? Number.MAX_SAFE_INTEGER : Number(m[4]), build: Number(m[5]) };
}

/** Negative when a is older than b, zero when equal, positive when newer; undefined when either does not parse. */
export function compareK3sVersions(a: string, b: string): number | undefined {
    const pa = parse(a);
    const pb = parse(b);
    if (!pa || !pb) {
        return undefined;
    }
    for (let i = 0; i < 3; i++) {
        if (pa.nums[i] !== pb.nums[i]) {
            return pa.nums[i]! - pb.nums[i]!;
        }
    }
    return pa.rc !== pb.rc ? pa.rc - pb.rc : pa.build - pb.build;
}

/**
 * What a change of k3s.version means for the cluster the stack last converged (`running`; undefined
 * for a new stack): nothing, an upgrade, or a downgrade, which is refused unless the household allows it.
 */
export function k3sChange(running: string | undefined, wanted: string, allowDowngrade: boolean, where: string): "none" | "upgrade" | "downgrade" {
    if (running === undefined || running === wanted) {
        return "none";
    }
    const order = compareK3sVersions(wanted, running);
    if (order === undefined || order > 0) {
        return "upgrade";
    }
    if (!allowDowngrade) {
        throw new HouseholdError(
            [
                {
                    path: "k3s.version",
                    rule: "downgrade",
                    value: wanted,
                    problem: `is older than ${running}, which the cluster runs`,
                    fix: `pin ${running} or newer; to go back on purpose, set k3s.upgrade.allowDowngrade: true (k3s does not promise that its datastore reads back)`,
                },
            ],
            where,
        );
    }
    return "downgrade";
}
