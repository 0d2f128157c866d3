import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";

// The homelab stack's household exactly as Pulumi.homelab.yaml holds it.

export const repoRoot = path.join(__dirname, "..");

export function homelabConfig(): Record<string, unknown> {
    const doc = parse(fs.readFileSync(path.join(repoRoot, "Pulumi.homelab.yaml"), "utf8")) as { config: Record<string, unknown> };
    return doc.config;
}

/** A fresh deep copy of the household, for tests that mutate it. */
export function homelabHousehold(): Record<string, any> {
    return structuredClone(homelabConfig()["k3s-over-usb:household"]) as Record<string, any>;
}
