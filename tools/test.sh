#!/usr/bin/env bash
# The whole test suite: lint, unit tests (Pulumi mocks, renderers, real netplan/nft/dtc), then, as
# root, the lab tests. Ends with one "N passed, M failed" line.
set -euo pipefail
cd "$(dirname "$0")/.."

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

echo "== lint"
npx tsc --noEmit
npx eslint .
bash tools/shellcheck.sh

echo "== unit tests"
unit_rc=0
npx vitest run --project unit --reporter=default --reporter=json --outputFile="$results/unit.json" || unit_rc=$?

summary_rc=0
node tools/test-summary.js "$results" || summary_rc=$?
[ "$unit_rc" -eq 0 ] && [ "$summary_rc" -eq 0 ]
