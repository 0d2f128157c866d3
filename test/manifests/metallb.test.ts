import * as fs from "fs";
import * as path from "path";
import Ajv from "ajv";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { ipAddressPool, l2Advertisement, webhookProbe } from "../../manifests/metallb";
import { checkMetallbVersion, loadManifest, loadManifestOffline, sha256, vendoredDir } from "../../manifests/source";
import { parseHousehold } from "../../household/model";
import { homelabHousehold, repoRoot } from "../fixtures";

// The custom resources MetalLbPool applies, validated against the CRD schemas of the upstream
// manifest the household pins (vendored in manifests/upstream), as the API server would.

const dataDir = vendoredDir;
const household = parseHousehold(homelabHousehold(), "test");
const metallb = household.metallb!;

interface Crd {
    kind: string;
    spec: { group: string; names: { kind: string }; versions: Array<{ name: string; schema: { openAPIV3Schema: object } }> };
}

function crdSchemas(file: string): Map<string, object> {
    const out = new Map<string, object>();
    for (const doc of parseAllDocuments(fs.readFileSync(path.join(dataDir, file), "utf8"))) {
        const crd = doc.toJS() as Crd | null;
        if (crd?.kind !== "CustomResourceDefinition") {
            continue;
        }
        for (const v of crd.spec.versions) {
            out.set(`${crd.spec.group}/${v.name}/${crd.spec.names.kind}`, v.schema.openAPIV3Schema);
        }
    }
    return out;
}

// Kubernetes extensions (x-kubernetes-*) are not JSON Schema keywords; strict mode would reject them.
const ajv = new Ajv({ strict: false, allErrors: true });
// OpenAPI's integer formats; the CRDs' status fields use them.
ajv.addFormat("int32", { type: "number", validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** 31 });
ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isInteger(n) });

function validate(schemas: Map<string, object>, obj: { apiVersion: string; kind: string }): string[] {
    const schema = schemas.get(`${obj.apiVersion}/${obj.kind}`);
    if (schema === undefined) {
        return [`no CRD for ${obj.apiVersion} ${obj.kind}`];
    }
    const check = ajv.compile(schema);
    return check(obj) ? [] : (check.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ""}`);
}

describe.each(["metallb-native-v0.15.2.yaml"])("MetalLB resources against %s", (file) => {
    const schemas = crdSchemas(file);

    it("has the CRDs the program uses", () => {
        expect(schemas.has("metallb.io/v1beta1/IPAddressPool")).toBe(true);
        expect(schemas.has("metallb.io/v1beta1/L2Advertisement")).toBe(true);
    });

    it.each([
        ["the pool", ipAddressPool(metallb)],
        ["the L2 advertisement", l2Advertisement(metallb)],
        ["the webhook probe", webhookProbe(metallb)],
    ])("%s is valid", (_, obj) => {
        expect(validate(schemas, obj)).toEqual([]);
    });

    it("a schema violation is caught (the check can fail)", () => {
        const bad = { ...l2Advertisement(metallb), spec: { ipAddressPools: "homelab-pool" } };
        expect(validate(schemas, bad)).not.toEqual([]);
    });
});

describe("manifest sources", () => {
    it("the vendored copies are the ones SHA256SUMS names, and nothing else is vendored", () => {
        const sums = fs
            .readFileSync(path.join(dataDir, "SHA256SUMS"), "utf8")
            .trim()
            .split("\n")
            .map((l) => l.split(/\s+/));
        expect(sums.map(([, f]) => f).sort()).toEqual(fs.readdirSync(dataDir).filter((f) => f.endsWith(".yaml")).sort());
        for (const [digest, file] of sums) {
            expect(sha256(fs.readFileSync(path.join(dataDir, file!))), file).toBe(digest);
        }
    });

    it("the homelab's pinned URL is served offline from the vendored copy, matched by digest", async () => {
        delete process.env["K3OU_MANIFEST_DIRS"];
        expect("url" in metallb.manifest).toBe(true);
        const offline = loadManifestOffline(metallb.manifest, "metallb.manifest", repoRoot);
        expect(offline).toBeDefined();
        expect(sha256(offline!)).toBe("a1b04c376fb39c93265f551fe23716a3ae6e09b790edb3bf257d3fc784c35a18");
        expect(await loadManifest(metallb.manifest, "metallb.manifest", repoRoot)).toBe(offline);
    });

    it("a URL whose digest no copy has is left to the network (offline gives nothing)", () => {
        expect(loadManifestOffline({ url: "https://example.invalid/m.yaml", sha256: "0".repeat(64) }, "metallb.manifest", repoRoot)).toBeUndefined();
    });

    it("a local file with a wrong digest is refused, naming the field", async () => {
        await expect(
            loadManifest({ path: path.join(dataDir, "metallb-native-v0.15.2.yaml"), sha256: "0".repeat(64) }, "metallb.manifest", repoRoot),
        ).rejects.toThrow(/^metallb\.manifest\.sha256: .* has digest a1b04c37/);
    });

    it("the household's metallb.version must be the manifest's", () => {
        const text = fs.readFileSync(path.join(dataDir, "metallb-native-v0.15.2.yaml"), "utf8");
        expect(() => checkMetallbVersion(text, "v0.15.2", "metallb")).not.toThrow();
        expect(() => checkMetallbVersion(text, "v0.14.9", "metallb")).toThrow(
            /^metallb\.version: the manifest installs MetalLB v0\.15\.2, not this version \[metallb-version\]; value v0\.14\.9; fix: set version to v0\.15\.2/,
        );
        expect(() => checkMetallbVersion("kind: Namespace\n", "v0.15.2", "metallb")).toThrow(/^metallb\.manifest: names no quay\.io\/metallb/);
    });
});
