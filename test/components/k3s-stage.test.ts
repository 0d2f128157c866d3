import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, describe, expect, it } from "vitest";
import { serializeProperty, specialAssetSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { binaryUrl, checkLocalK3s, hashedFileAsset } from "../../components/k3s-stage";
import { HouseholdError } from "../../household/issues";
import type { K3s } from "../../household/model";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k3ou-stage-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): { path: string; sum: string } {
    const p = path.join(dir, name);
    fs.writeFileSync(p, content);
    return { path: p, sum: createHash("sha256").update(content).digest("hex") };
}

const script = file("install.sh", "#!/bin/sh\necho install\n");
const binary = file("k3s", "not really k3s\n");
const images = file("images.tar", "images\n");

function k3s(pins: { installScript: string; binaries: Record<string, string>; images: Record<string, string> }, binaryPath = binary.path): K3s {
    return {
        version: "v1.35.5+k3s1",
        clusterCidr: "10.42.0.0/16",
        serviceCidr: "10.43.0.0/16",
        server: { flannelIface: "wan0", nodeIp: "192.168.100.52/24", extraFlags: [] },
        agent: { extraFlags: [], taint: null },
        upgrade: { maxUnavailable: 1, drainTimeout: 300, allowDowngrade: false },
        source: { kind: "local", installScript: script.path, binaries: { amd64: binaryPath, arm64: binaryPath }, images: { arm64: images.path }, sha256: pins },
    };
}

describe("the air-gap path's files are checked against their pins before anything is registered", () => {
    it("passes when every file matches", () => {
        expect(() => checkLocalK3s(k3s({ installScript: script.sum, binaries: { amd64: binary.sum, arm64: binary.sum }, images: { arm64: images.sum } }), ["amd64", "arm64"], "test")).not.toThrow();
    });

    it("names every mismatched pin and unreadable file at once, with the file's real digest", () => {
        const wrong = "0".repeat(64);
        let error: unknown;
        try {
            checkLocalK3s(k3s({ installScript: wrong, binaries: { amd64: binary.sum, arm64: binary.sum }, images: { arm64: wrong } }, path.join(dir, "missing")), ["amd64", "arm64"], "Pulumi.x.yaml");
        } catch (e) {
            error = e;
        }
        expect(error).toBeInstanceOf(HouseholdError);
        const lines = (error as Error).message.split("\n");
        expect(lines[0]).toBe("Pulumi.x.yaml: the household config has 4 problems; nothing was changed on any host:");
        expect(lines).toContain(
            `  - k3s.source.sha256.installScript: does not match ${script.path}, whose SHA-256 is ${script.sum} [pin-mismatch]; value ${wrong}; fix: check that k3s.source.installScript is the file of k3s v1.35.5+k3s1 you meant; if it is, pin ${script.sum}`,
        );
        expect(lines).toContain(
            `  - k3s.source.binaries.amd64: cannot be read on this machine [file-missing]; value ${path.join(dir, "missing")}; fix: point it at an existing file (relative paths start at the project folder)`,
        );
        expect(lines.filter((l) => l.includes("[file-missing]"))).toHaveLength(2);
        expect(lines.filter((l) => l.includes("k3s.source.sha256.images.arm64"))).toHaveLength(1);
    });

    it("the official path downloads each architecture's release asset", () => {
        expect(binaryUrl("v1.35.5+k3s1", "amd64")).toBe("https://github.com/k3s-io/k3s/releases/download/v1.35.5%2Bk3s1/k3s");
        expect(binaryUrl("v1.35.5+k3s1", "arm64")).toBe("https://github.com/k3s-io/k3s/releases/download/v1.35.5%2Bk3s1/k3s-arm64");
        expect(binaryUrl("v1.35.5+k3s1", "armhf")).toBe("https://github.com/k3s-io/k3s/releases/download/v1.35.5%2Bk3s1/k3s-armhf");
    });

    it("a staged file goes to the engine with its SHA-256, so the engine does not read it again to hash it", async () => {
        const sent = await serializeProperty("source", hashedFileAsset(binary.path), new Set(), {});
        expect(sent).toMatchObject({ [specialSigKey]: specialAssetSig, path: binary.path, hash: binary.sum });
        // A file that cannot be read goes without one: the engine then names it in its own error.
        const missing = await serializeProperty("source", hashedFileAsset(path.join(dir, "missing")), new Set(), {});
        expect(missing).toMatchObject({ [specialSigKey]: specialAssetSig, path: path.join(dir, "missing") });
        expect(missing).not.toHaveProperty("hash");
    });
});
