// Adds up vitest JSON reports into the one closing line CI reads: "N passed, M failed".
// A report that ran no test counts as a failure: a suite that tests nothing must not pass.
const fs = require("fs");
const path = require("path");

const dir = process.argv[2];
let passed = 0;
let failed = 0;
for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".json"))) {
    const report = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8"));
    passed += report.numPassedTests;
    failed += report.numFailedTests + (report.numTotalTests === 0 ? 1 : 0);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
