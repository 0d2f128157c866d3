#!/usr/bin/env bash
# Checks the lab's k3s without a lab: go vet, the launcher's unit tests (config, token, rendering),
# and shellcheck of the install script and the scripts it writes. The lab suites that install it
# (test/lab/k3s.test.ts, test/lab/cluster.test.ts) run it for real.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

go=$(command -v go || echo /usr/local/go/bin/go)
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-trimpath -buildvcs=false"
"$go" vet . ./parts ./cmd/...
"$go" test . ./parts/... ./cmd/...
shellcheck -s sh install.sh
echo "lab/k3s: vet, unit tests and shellcheck passed"
