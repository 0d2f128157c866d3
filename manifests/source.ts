import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import type { FileSource } from "../household/model";

// Manifests come pinned by SHA-256. A local file serves offline households; K3OU_MANIFEST_DIRS (a
// ':'-separated list of folders) lets an offline machine satisfy a URL source with a copy it holds,
// matched by digest, never by name.

export function sha256(text: string | Buffer): string {
    return crypto.createHash("sha256").update(text).digest("hex");
}

function fromCache(digest: string): string | undefined {
    for (const dir of (process.env["K3OU_MANIFEST_DIRS"] ?? "").split(":").filter((d) => d !== "")) {
        if (!fs.existsSync(dir)) {
            continue;
        }
        for (const file of fs.readdirSync(dir)) {
            const full = path.join(dir, file);
            if (fs.statSync(full).isFile()) {
                const text = fs.readFileSync(full, "utf8");
                if (sha256(text) === digest) {
                    return text;
                }
            }
        }
    }
    return undefined;
}

/** The manifest's text, verified against its digest; `where` names the config field in errors. */
export async function loadManifest(source: FileSource, where: string, baseDir: string): Promise<string> {
    if ("path" in source) {
        const full = path.resolve(baseDir, source.path);
        if (!fs.existsSync(full)) {
            throw new Error(`${where}.path: ${full} does not exist; fix: point it at the downloaded manifest`);
        }
        const text = fs.readFileSync(full, "utf8");
        if (source.sha256 !== undefined && sha256(text) !== source.sha256) {
            throw new Error(`${where}.sha256: ${full} has digest ${sha256(text)}, not ${source.sha256}; fix: download the pinned version again`);
        }
        return text;
    }
    const cached = fromCache(source.sha256);
    if (cached !== undefined) {
        return cached;
    }
    const response = await fetch(source.url);
    if (!response.ok) {
        throw new Error(`${where}.url: ${source.url} answered ${response.status}; fix: check the URL or use a local path`);
    }
    const text = await response.text();
    if (sha256(text) !== source.sha256) {
        throw new Error(`${where}.sha256: ${source.url} has digest ${sha256(text)}, not ${source.sha256}; fix: pin the digest of the version you mean`);
    }
    return text;
}
