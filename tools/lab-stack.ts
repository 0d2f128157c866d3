// Writes the `lab` stack's config (Pulumi.lab.yaml) from the running lab: its hosts, users and host
// keys, the lab's k3s and its images (MetalLB's among them) on the air-gap path. Keys the engine owns in that file
// (encryptionsalt, secrets already set) are kept.
// Usage: ts-node tools/lab-stack.ts K3S_DIR INSTALL_SCRIPT [STACK]   (STACK defaults to "lab";
// K3S_DIR is lab/k3s/build.sh's output: k3s and k3s-airgap-images-amd64.tar)
import * as fs from "fs";
import * as path from "path";
import { parse, stringify } from "yaml";
import { labHousehold, labK3sSource, labStatus } from "../lab/household";
import { parseHousehold } from "../household/model";

const [k3sDir, installScript, stack = "lab"] = process.argv.slice(2);
if (k3sDir === undefined || installScript === undefined) {
    console.error("usage: ts-node tools/lab-stack.ts K3S_DIR INSTALL_SCRIPT [STACK]");
    process.exit(2);
}
const root = path.join(__dirname, "..");
const household = labHousehold(labStatus());
household["k3s"] = { ...(household["k3s"] as object), source: labK3sSource(k3sDir, installScript) };
parseHousehold(household, "the lab's household");

const file = path.join(root, `Pulumi.${stack}.yaml`);
const doc = (fs.existsSync(file) ? parse(fs.readFileSync(file, "utf8")) : {}) as { config?: Record<string, unknown> } & Record<string, unknown>;
doc.config = { ...(doc.config ?? {}), "k3s-over-usb:household": household };
fs.writeFileSync(file, `# Written by tools/lab-stack.ts from the running lab; not committed.\n${stringify(doc, { lineWidth: 0 })}`);
console.log(`wrote ${file}`);
