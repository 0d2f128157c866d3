import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll } from "vitest";

// Loaded before every unit test file (vitest.config.mts): each file gets its own temporary folder as
// TMPDIR and XDG_CACHE_HOME, removed when the file is done. What a test leaves in the temporary
// folder goes with it, and no unit test writes the operator's ~/.cache (the digest cache of
// ops/digest.ts, the program loader's).
const base = fs.mkdtempSync(path.join(os.tmpdir(), "k3ou-unit-"));
process.env["TMPDIR"] = base;
process.env["XDG_CACHE_HOME"] = path.join(base, "cache");
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));
