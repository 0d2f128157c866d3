import * as fs from "fs";

/**
 * Writes `text` to `file` atomically and privately: a temporary file beside it (`<file>.<pid>.tmp`,
 * created 0600, so it is never readable by others, even for a moment), synced, then renamed over
 * `file`. The temporary file is removed if anything fails, and the error is thrown.
 */
export function writePrivateFile(file: string, text: string): void {
    const tmp = `${file}.${process.pid}.tmp`;
    try {
        const fd = fs.openSync(tmp, "wx", 0o600);
        try {
            fs.writeFileSync(fd, text);
            fs.fsyncSync(fd);
        } finally {
            fs.closeSync(fd);
        }
        fs.renameSync(tmp, file);
    } catch (err) {
        fs.rmSync(tmp, { force: true });
        throw err;
    }
}
