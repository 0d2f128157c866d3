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

echo "== lab tests"
lab_rc=0
if [ "$(id -u)" -ne 0 ]; then
  # Not skipped in silence: the summary counts it as a failure.
  echo "the lab tests need root (network namespaces); run the test command as root" >&2
  echo "0 passed, 1 failed" > "$results/lab-root.txt"
  lab_rc=1
else
  bash lab/setup.sh
  trap 'bash lab/lab.sh down >/dev/null 2>&1 || true; rm -rf "$results"' EXIT

  # A lab left over from an interrupted run would stand in the way: start from none.
  bash lab/lab.sh down >/dev/null 2>&1 || true

  # The lab's own checks of its day zero, reboot, reflash and teardown.
  bash lab/selftest.sh | tee "$results/lab-selftest.txt" || lab_rc=1

  # Thirty phones come up and go down again.
  bash lab/lab.sh up --phones 30 >/dev/null
  phones=$(bash lab/lab.sh status --json | jq '.phones | length')
  bash lab/lab.sh down >/dev/null
  if [ "$phones" = 30 ]; then echo "1 passed, 0 failed" > "$results/lab-30.txt"; else echo "0 passed, 1 failed" > "$results/lab-30.txt"; lab_rc=1; fi
  echo "lab with --phones 30: $phones phones"

  # The program's steps on a fresh day-zero lab, from the operator's workstation; lab.sh itself is
  # driven from this namespace, which the tests find through K3OU_ROOT_NETNS.
  # The real Pulumi engine (built from Go modules when no pulumi is installed) and the lab's k3s.
  bash tools/pulumi-engine/build.sh
  # shellcheck source=tools/pulumi-engine/env.sh
  . tools/pulumi-engine/env.sh
  # The lab's k3s: real Kubernetes built from Go modules, cached by version like the engine.
  # shellcheck source=lab/k3s/env.sh
  . lab/k3s/env.sh
  bash lab/k3s/build.sh "$K3OU_LAB_K3S_DIR" "$K3OU_LAB_K3S_VERSION"
  # The version the cluster suite upgrades to: the same parts, relinked (a minute from Go's cache).
  bash lab/k3s/build.sh "$K3OU_LAB_K3S_NEXT_DIR" "$K3OU_LAB_K3S_NEXT_VERSION"
  # Its launcher's own unit tests, go vet and the install script's lint (seconds, from the cache).
  if bash lab/k3s/test.sh; then echo "1 passed, 0 failed" > "$results/lab-k3s-go.txt"; else echo "0 passed, 1 failed" > "$results/lab-k3s-go.txt"; lab_rc=1; fi

  # Each file starts from a fresh day-zero lab.
  for suite in steps k3s engine doctor cluster faults; do
    bash lab/lab.sh up >/dev/null
    K3OU_ROOT_NETNS=/proc/$$/ns/net ip netns exec k3ou-operator \
      npx vitest run --project lab "test/lab/$suite.test.ts" --reporter=default --reporter=json --outputFile="$results/lab-$suite.json" || lab_rc=1
    bash lab/lab.sh down >/dev/null
  done
fi

summary_rc=0
node tools/test-summary.js "$results" || summary_rc=$?
[ "$unit_rc" -eq 0 ] && [ "$lab_rc" -eq 0 ] && [ "$summary_rc" -eq 0 ]
