import * as fs from "fs";
import * as path from "path";
import Ajv from "ajv";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { ipAddressPool, l2Advertisement, webhookProbe } from "../../manifests/metallb";
import { loadManifest, sha256 } from "../../manifests/source";
import { parseHousehold } from "../../household/model";
import { homelabHousehold, repoRoot } from "../fixtures";

// The custom resources MetalLbPool applies, validated against the CRD schemas of the upstream
// manifests the household pins (copies in ../shared/data/metallb), as the API server would.

const dataDir = path.join(repoRoot, "..", "shared", "data", "metallb");
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

function validate(schemas: Map<string, object>, obj: { apiVersion: string; kind: string }): string[] {
    const schema = schemas.get(`${obj.apiVersion}/${obj.kind}`);
    if (schema === undefined) {
        return [`no CRD for ${obj.apiVersion} ${obj.kind}`];
    }
    const check = ajv.compile(schema);
    return check(obj) ? [] : (check.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ""}`);
}

describe.each(["metallb-native-v0.14.9.yaml", "metallb-native-v0.16.1.yaml"])("MetalLB resources against %s", (file) => {
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
    it("the pinned v0.14.9 digest is the upstream manifest's", async () => {
        process.env["K3OU_MANIFEST_DIRS"] = dataDir;
        const text = await loadManifest(metallb.manifest, "metallb.manifest", repoRoot);
        expect(sha256(text)).toBe("951065e85692aa106f1bb5d5a487d9306154923a794ab1d82122881cbaf588e4");
    });

    it("a local file with a wrong digest is refused, naming the field", async () => {
        await expect(
            loadManifest({ path: path.join(dataDir, "metallb-native-v0.16.1.yaml"), sha256: "0".repeat(64) }, "metallb.manifest", repoRoot),
        ).rejects.toThrow(/^metallb\.manifest\.sha256: .* has digest bf25feeb/);
    });
});
