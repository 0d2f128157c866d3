import { describe, expect, it } from "vitest";
import { compareK3sVersions, k3sChange } from "../../household/k3s-version";

describe("k3s versions", () => {
    it("order as k3s releases do: Kubernetes version, a release candidate before its release, then the k3s build", () => {
        const sorted = ["v1.34.9+k3s2", "v1.35.0-rc1+k3s1", "v1.35.0-rc2+k3s1", "v1.35.0+k3s1", "v1.35.5+k3s1", "v1.35.5+k3s2", "v1.35.10+k3s1", "v2.0.0+k3s1"];
        const shuffled = [...sorted].reverse();
        expect(shuffled.sort((a, b) => compareK3sVersions(a, b)!)).toEqual(sorted);
        expect(compareK3sVersions("v1.35.5+k3s1", "v1.35.5+k3s1")).toBe(0);
        expect(compareK3sVersions("latest", "v1.35.5+k3s1")).toBeUndefined();
    });

    it("a change is nothing on a new stack, an upgrade forward, and a downgrade only when allowed", () => {
        expect(k3sChange(undefined, "v1.35.5+k3s1", false, "test")).toBe("none");
        expect(k3sChange("v1.35.5+k3s1", "v1.35.5+k3s1", false, "test")).toBe("none");
        expect(k3sChange("v1.35.5+k3s1", "v1.35.5+k3s2", false, "test")).toBe("upgrade");
        expect(k3sChange("v1.35.5+k3s2", "v1.35.5+k3s1", true, "test")).toBe("downgrade");
        expect(() => k3sChange("v1.35.5+k3s2", "v1.35.5+k3s1", false, "Pulumi.homelab.yaml")).toThrow(
            "k3s.version: is older than v1.35.5+k3s2, which the cluster runs [downgrade]; value v1.35.5+k3s1; fix: pin v1.35.5+k3s2 or newer; to go back on purpose, set k3s.upgrade.allowDowngrade: true",
        );
    });
});
