import { createHash } from "crypto";
import * as fs from "fs";

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
