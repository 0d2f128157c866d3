import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { sha256FileCached } from "../ops/digest";
import { HouseholdError, type Issue } from "../household/issues";
import type { Arch, K3s } from "../household/model";
import { installScriptUrl } from "../hosts/k3s/config";
import type { HostAccess } from "./remote-step";

// The air-gap path (k3s.source kind: local): the operator's copies of the install script and binary
// are copied to the host over SFTP, below the SSH user's home; the install step takes them from there
// with INSTALL_K3S_SKIP_DOWNLOAD. The seed staged both from the laptop the same way.

/** The name the install step looks for in the staging folder. */
export const airgapImagesFile = "k3s-airgap-images.tar";

export interface Stage {
    readonly resources: pulumi.Resource[];
    readonly env: Record<string, string>;
}

/** The release asset of k3s's binary for an architecture, as GitHub names it. */
export function binaryUrl(version: string, arch: Arch): string {
    return `https://github.com/k3s-io/k3s/releases/download/${encodeURIComponent(version)}/k3s${arch === "amd64" ? "" : `-${arch}`}`;
}

/**
 * A FileAsset that brings its SHA-256 along. The engine hashes an asset that comes without one each
 * time it is registered, in the preview and again in the update, however often the file was hashed
 * before: 0.2 to 0.3 s of CPU per 300 MB copy per pass, most of a no-op up's work for a large
 * household. The digest is the one checkLocalK3s just compared with the pin (ops/digest.ts
 * remembers it while the file is unchanged). The engine keeps the same hash in the state as when it
 * hashes the file itself, so a stack converged before this does not see a change.
 */
class HashedFileAsset extends pulumi.asset.FileAsset {
    /** Sent with the path: the SDK sends every own field of an asset, and the engine takes a given hash as is. */
    readonly hash: Promise<string>;

    constructor(file: string, sha256: string) {
        super(file);
        this.hash = Promise.resolve(sha256);
    }
}

/** A FileAsset for a local file, with its digest when the file can be read (the engine reports one that cannot). */
export function hashedFileAsset(file: string): pulumi.asset.FileAsset {
    const sha256 = sha256FileCached(file);
    return sha256 === undefined ? new pulumi.asset.FileAsset(file) : new HashedFileAsset(file, sha256);
}

/**
 * The files a host installs k3s from, with their pins: copied here first on the air-gap path,
 * downloaded by the install step on the official one. Either way the step checks every pin before
 * it changes anything.
 */
export function stageK3s(name: string, k3s: K3s, arch: Arch, host: HostAccess, user: string, hostKey: string, parent: pulumi.Resource): Stage {
    const pins = k3s.source.sha256;
    const pinEnv = { SCRIPT_SHA256: pins.installScript, BINARY_SHA256: pins.binaries[arch] ?? "" };
    if (k3s.source.kind !== "local") {
        return { resources: [], env: { SOURCE: "official", SCRIPT_URL: installScriptUrl(k3s.version), BINARY_URL: binaryUrl(k3s.version, arch), ...pinEnv } };
    }
    const binary = k3s.source.binaries[arch];
    if (binary === undefined) {
        throw new pulumi.ResourceError(`k3s.source.binaries.${arch} is required for ${host.name}`, parent);
    }
    const rel = `.cache/k3s-over-usb/${k3s.version}`;
    // A reflashed host has a new key and an empty home: copy again.
    const triggers = [hostKey];
    const files: Array<readonly [string, string]> = [
        ["k3s", binary],
        ["install.sh", k3s.source.installScript],
    ];
    const images = k3s.source.images?.[arch];
    if (images !== undefined) {
        files.push([airgapImagesFile, images]);
    }
    const resources = files.map(
        ([file, local]) =>
            new command.remote.CopyToRemote(
                `${name}-stage-${file.replace(/\.tar$/, "").replace(".", "-")}`,
                { connection: host.connection, source: hashedFileAsset(local), remotePath: `${rel}/${file}`, triggers },
                { parent },
            ),
    );
    return { resources, env: { SOURCE: "local", STAGE_USER: user, STAGE_REL: rel, ...pinEnv, IMAGES_SHA256: images === undefined ? "" : (pins.images[arch] ?? "") } };
}

/**
 * The air-gap path's files, checked against their pins on this machine before anything is
 * registered: a wrong file or pin is bad input, reported before any host is touched. (Each host
 * checks its copies again before installing.) Every problem is reported at once.
 */
export function checkLocalK3s(k3s: K3s, archs: ReadonlyArray<Arch>, where: string): void {
    const source = k3s.source;
    if (source.kind !== "local") {
        return;
    }
    const files: Array<{ field: string; pinField: string; file: string | undefined; pin: string | undefined }> = [
        { field: "k3s.source.installScript", pinField: "k3s.source.sha256.installScript", file: source.installScript, pin: source.sha256.installScript },
    ];
    for (const arch of new Set(archs)) {
        files.push({ field: `k3s.source.binaries.${arch}`, pinField: `k3s.source.sha256.binaries.${arch}`, file: source.binaries[arch], pin: source.sha256.binaries[arch] });
        if (source.images?.[arch] !== undefined) {
            files.push({ field: `k3s.source.images.${arch}`, pinField: `k3s.source.sha256.images.${arch}`, file: source.images[arch], pin: source.sha256.images[arch] });
        }
    }
    const issues: Issue[] = [];
    // One file often serves several architectures (the lab's does): read and hash it once, and not
    // again on later runs while it is unchanged (ops/digest.ts).
    const digests = new Map<string, string | undefined>();
    for (const { field, pinField, file, pin } of files) {
        if (file === undefined || pin === undefined) {
            continue; // the rules reported it
        }
        if (!digests.has(file)) {
            digests.set(file, sha256FileCached(file));
        }
        const actual = digests.get(file);
        if (actual === undefined) {
            issues.push({ path: field, rule: "file-missing", value: file, problem: "cannot be read on this machine", fix: "point it at an existing file (relative paths start at the project folder)" });
        } else if (actual !== pin) {
            issues.push({
                path: pinField,
                rule: "pin-mismatch",
                value: pin,
                problem: `does not match ${file}, whose SHA-256 is ${actual}`,
                fix: `check that ${field} is the file of k3s ${k3s.version} you meant; if it is, pin ${actual}`,
            });
        }
    }
    if (issues.length > 0) {
        throw new HouseholdError(issues, where);
    }
}
