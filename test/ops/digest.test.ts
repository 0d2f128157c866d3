import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sha256File, sha256FileCached } from "../../ops/digest";

let dir: string;
let cache: string;
const sha = (text: string) => createHash("sha256").update(text).digest("hex");
const fake = "f".repeat(64);

beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "digest-"));
    cache = path.join(dir, "cache", "sha256.json");
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("a large local file's SHA-256, remembered while the file is unchanged", () => {
    it("hashes the file the first time and keeps the result privately", () => {
        const file = path.join(dir, "k3s");
        fs.writeFileSync(file, "binary");
        expect(sha256FileCached(file, cache)).toBe(sha("binary"));
        expect(sha256File(file)).toBe(sha("binary"));
        expect(fs.statSync(cache).mode & 0o777).toBe(0o600);
        expect(Object.keys(JSON.parse(fs.readFileSync(cache, "utf8")) as object)).toEqual([file]);
    });

    it("answers from the cache without reading while the file's identity and times are the same", () => {
        const file = path.join(dir, "k3s");
        fs.writeFileSync(file, "binary");
        sha256FileCached(file, cache);
        // A planted digest is what comes back: the file was not read again.
        const entries = JSON.parse(fs.readFileSync(cache, "utf8")) as Record<string, { stamp: string; sha256: string }>;
        entries[file]!.sha256 = fake;
        fs.writeFileSync(cache, JSON.stringify(entries));
        expect(sha256FileCached(file, cache)).toBe(fake);
    });

    it("reads again when the file changed, even to the same size and modification time", () => {
        const file = path.join(dir, "k3s");
        fs.writeFileSync(file, "binary");
        const { atime, mtime } = fs.statSync(file);
        sha256FileCached(file, cache);
        fs.writeFileSync(file, "BINARY");
        fs.utimesSync(file, atime, mtime); // the change time still moves
        expect(sha256FileCached(file, cache)).toBe(sha("BINARY"));
    });

    it("drops files that are gone, survives a broken cache, and reports a missing file", () => {
        const a = path.join(dir, "a");
        const b = path.join(dir, "b");
        fs.writeFileSync(a, "a");
        fs.writeFileSync(b, "b");
        sha256FileCached(a, cache);
        fs.rmSync(a);
        sha256FileCached(b, cache);
        expect(Object.keys(JSON.parse(fs.readFileSync(cache, "utf8")) as object)).toEqual([b]);
        fs.writeFileSync(cache, "{not json");
        expect(sha256FileCached(b, cache)).toBe(sha("b"));
        expect(sha256FileCached(a, cache)).toBeUndefined();
    });
});
