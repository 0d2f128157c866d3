// Writes the `lab` stack's config (Pulumi.lab.yaml) from the running lab: its hosts, users and host
// keys, k3s from the lab's stand-in on the air-gap path. Keys the engine owns in that file
// (encryptionsalt, secrets already set) are kept.
// Usage: ts-node tools/lab-stack.ts K3S_BINARY INSTALL_SCRIPT [STACK]   (STACK defaults to "lab")
import * as fs from "fs";
import * as path from "path";
import { parse, stringify } from "yaml";
import { labHousehold, labStatus } from "../lab/household";
import { parseHousehold } from "../household/model";

const [binary, installScript, stack = "lab"] = process.argv.slice(2);
if (binary === undefined || installScript === undefined) {
    console.error("usage: ts-node tools/lab-stack.ts K3S_BINARY INSTALL_SCRIPT");
    process.exit(2);
}
const root = path.join(__dirname, "..");
const manifest = path.join(root, "..", "shared", "data", "metallb", "metallb-native-v0.14.9.yaml");
const household = labHousehold(labStatus(), manifest);
household["k3s"] = {
    ...(household["k3s"] as object),
    // The lab's k3s is a stand-in binary for the host's own architecture (the phones' included).
    source: { kind: "local", installScript: path.resolve(installScript), binaries: { amd64: path.resolve(binary), arm64: path.resolve(binary) } },
};
// The stand-in serves no Kubernetes API for MetalLB's resources: the lab stack leaves MetalLB out.
household["metallb"] = null;
parseHousehold(household, "the lab's household");

const file = path.join(root, `Pulumi.${stack}.yaml`);
const doc = (fs.existsSync(file) ? parse(fs.readFileSync(file, "utf8")) : {}) as { config?: Record<string, unknown> } & Record<string, unknown>;
doc.config = { ...(doc.config ?? {}), "k3s-over-usb:household": household };
fs.writeFileSync(file, `# Written by tools/lab-stack.ts from the running lab; not committed.\n${stringify(doc, { lineWidth: 0 })}`);
console.log(`wrote ${file}`);
