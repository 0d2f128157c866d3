// Adds up vitest JSON reports (*.json) and other suites' closing lines (*.txt, whose last
// "N passed, M failed" line counts) into the one closing line CI reads.
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
for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".txt"))) {
    const lines = fs.readFileSync(path.join(dir, file), "utf8").trim().split("\n");
    const m = /^(\d+) passed, (\d+) failed/.exec(lines[lines.length - 1] ?? "");
    if (m) {
        passed += Number(m[1]);
        failed += Number(m[2]);
    } else {
        failed += 1;
    }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
