import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { writePrivateFile } from "./private-file";

/** SHA-256 of a file in lowercase hex, read in 1 MiB pieces; undefined when it cannot be read. */
export function sha256File(file: string): string | undefined {
    let fd: number;
    try {
        fd = fs.openSync(file, "r");
    } catch {
        return undefined;
    }
    const hash = createHash("sha256");
    try {
        const buffer = Buffer.allocUnsafe(1 << 20);
        for (let n = fs.readSync(fd, buffer); n > 0; n = fs.readSync(fd, buffer)) {
            hash.update(buffer.subarray(0, n));
        }
    } finally {
        fs.closeSync(fd);
    }
    return hash.digest("hex");
}

/** Where digests of large local files are remembered: $XDG_CACHE_HOME/k3s-over-usb, or ~/.cache/k3s-over-usb. */
export function digestCacheFile(): string {
    const base = process.env["XDG_CACHE_HOME"] || path.join(os.homedir(), ".cache");
    return path.join(base, "k3s-over-usb", "sha256.json");
}

interface Entry {
    /** device, inode, size, and modification and change times in nanoseconds: any change to the file changes one. */
    readonly stamp: string;
    readonly sha256: string;
}

function stampOf(file: string): string | undefined {
    try {
        const st = fs.statSync(file, { bigint: true });
        return st.isFile() ? [st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs].join(":") : undefined;
    } catch {
        return undefined;
    }
}

/**
 * sha256File, remembered by the file's identity and times (as git's index does), so the program's
 * check of a 300 MB air-gap file costs a stat on every run but the first after it changed. The cache
 * only spares reading: every host checks its copy against the pin again before it installs.
 */
export function sha256FileCached(file: string, cacheFile = digestCacheFile()): string | undefined {
    const key = path.resolve(file);
    const stamp = stampOf(key);
    if (stamp === undefined) {
        return sha256File(key);
    }
    let cache: Record<string, Entry> = {};
    try {
        const parsed: unknown = JSON.parse(fs.readFileSync(cacheFile, "utf8"));
        if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
            cache = parsed as Record<string, Entry>;
        }
    } catch {
        // none yet, or unreadable: start afresh
    }
    const hit = cache[key];
    if (hit !== undefined && hit.stamp === stamp && /^[0-9a-f]{64}$/.test(String(hit.sha256))) {
        return hit.sha256;
    }
    const sha256 = sha256File(key);
    // Written only if the file did not change while it was read.
    if (sha256 !== undefined && stampOf(key) === stamp) {
        // Entries of files since changed or gone are dropped, so the cache holds what is in use.
        const kept: Record<string, Entry> = { [key]: { stamp, sha256 } };
        for (const [other, entry] of Object.entries(cache)) {
            if (other !== key && typeof entry === "object" && entry !== null && stampOf(other) === entry.stamp) {
                kept[other] = entry;
            }
        }
        try {
            fs.mkdirSync(path.dirname(cacheFile), { recursive: true, mode: 0o700 });
            writePrivateFile(cacheFile, JSON.stringify(kept));
        } catch {
            // a cache that cannot be written only costs the next run a read
        }
    }
    return sha256;
}
