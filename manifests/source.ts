import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import type { FileSource } from "../household/model";

// Manifests come pinned by SHA-256. A URL source is served first from the copies this project
// vendors (manifests/upstream, with SHA256SUMS), then from K3OU_MANIFEST_DIRS (a ':'-separated list
// of folders an offline machine holds), always matched by digest, never by name; only then fetched.
// A local file serves households that keep their own copy.

/** The upstream manifests vendored with the project. */
export const vendoredDir = path.join(__dirname, "upstream");

export function sha256(text: string | Buffer): string {
    return crypto.createHash("sha256").update(text).digest("hex");
}

function fromCache(digest: string): string | undefined {
    const dirs = [vendoredDir, ...(process.env["K3OU_MANIFEST_DIRS"] ?? "").split(":").filter((d) => d !== "")];
    for (const dir of dirs) {
        if (!fs.existsSync(dir)) {
            continue;
        }
        for (const file of fs.readdirSync(dir)) {
            const full = path.join(dir, file);
            if (file.endsWith(".yaml") && fs.statSync(full).isFile()) {
                const text = fs.readFileSync(full, "utf8");
                if (sha256(text) === digest) {
                    return text;
                }
            }
        }
    }
    return undefined;
}

/**
 * The manifest's text when it can be had without the network (a local path, a vendored copy, or one
 * in K3OU_MANIFEST_DIRS), verified against its digest; undefined when only the URL can serve it.
 * `where` names the config field in errors.
 */
export function loadManifestOffline(source: FileSource, where: string, baseDir: string): string | undefined {
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
    return fromCache(source.sha256);
}

/** The manifest's text, verified against its digest: offline if it can be, else fetched from its URL. */
export async function loadManifest(source: FileSource, where: string, baseDir: string): Promise<string> {
    const offline = loadManifestOffline(source, where, baseDir);
    if (offline !== undefined || "path" in source) {
        return offline!;
    }
    return fetchManifest(source, where);
}

/** A URL source fetched and verified against its digest (no local copy is looked for). */
export async function fetchManifest(source: { url: string; sha256: string }, where: string): Promise<string> {
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

/**
 * MetalLB's native manifest names its images by version: a manifest of another version than
 * `metallb.version` would install that other MetalLB while the household claims this one.
 */
export function checkMetallbVersion(manifest: string, version: string, where: string): void {
    const tags = [...manifest.matchAll(/image:\s*\S*\/metallb\/(?:controller|speaker):(\S+)/g)].map((m) => m[1]!);
    if (tags.length === 0) {
        throw new Error(`${where}.manifest: names no quay.io/metallb/controller or speaker image [metallb-manifest]; fix: pin MetalLB's metallb-native.yaml of ${version}`);
    }
    const other = tags.find((t) => t !== version);
    if (other !== undefined) {
        throw new Error(
            `${where}.version: the manifest installs MetalLB ${other}, not this version [metallb-version]; value ${version}; fix: set version to ${other}, or pin the manifest (url and sha256) of ${version}`,
        );
    }
}
