#!/usr/bin/env bash
# Benchmark of the real engine on the lab: wall time and SSH connections opened for preview, cold up,
# no-op up and destroy, the doctor's host checks on the converged household (best of five runs: the
# checks themselves, and `npm run doctor` as a whole), the doctor with the cluster proof on the real
# cluster, and the memory each host uses, for each phone count given (default: 3 12). Beside them:
# the floor (an empty TypeScript program's no-op up on the same engine), the sized floor (as many
# resources as the household, doing nothing: measure_sized_floor), the household's times as multiples
# of them, the cold up's critical path and ten longest steps from the engine's event log
# (tools/bench-profile.ts), and the growth from the smallest phone count to the largest.
# Prints a table; asserts nothing.
# SSH connections are counted by an nft counter in the laptop's namespace: new TCP connections to
# port 22 arriving (the operator's sessions, direct or jumped) and leaving (jumps to the phones).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (the lab)" >&2; exit 1; }

counts=("$@")
[ "${#counts[@]}" -gt 0 ] || counts=(3 12)
# shellcheck source=lab/k3s/env.sh
. lab/k3s/env.sh

bash lab/setup.sh >/dev/null
bash tools/pulumi-engine/build.sh >/dev/null
# shellcheck source=tools/pulumi-engine/env.sh
. tools/pulumi-engine/env.sh
bash lab/k3s/build.sh "$K3OU_LAB_K3S_DIR" "$K3OU_LAB_K3S_VERSION" >/dev/null

state=$(mktemp -d)
trap 'rm -rf "$state"; rm -f Pulumi.bench.yaml' EXIT
# The file backend as the README advises (README, "State"): no .attrs file beside each checkpoint,
# and checkpoints compressed.
export PULUMI_BACKEND_URL="file://$state?metadata=skip" PULUMI_DIY_BACKEND_ZSTD=true PULUMI_CONFIG_PASSPHRASE=bench
# --event-log, the engine's per-step record, exists only with the CLI's debug commands on.
export PULUMI_DEBUG_COMMANDS=true
# K3OU_BENCH_PARALLEL=N passes --parallel N to every up and destroy (the engine's default: 4 per core).
parallel=()
[ -z "${K3OU_BENCH_PARALLEL:-}" ] || parallel=(--parallel "$K3OU_BENCH_PARALLEL")
# The engine writes a debug log of every command to $PULUMI_HOME/logs unless that is a file (build.sh
# makes it one in the project's engine home; K3OU_ENGINE_LOG=on keeps the log); its size per command is
# printed beside the times, or "off".
engine_logs="${PULUMI_HOME:-$HOME/.pulumi}/logs"

counter_reset() {
  bash lab/lab.sh exec laptop -- sh -c '
    nft delete table inet k3ou_bench 2>/dev/null || true
    nft -f - <<EOT
table inet k3ou_bench {
  chain in {
    type filter hook input priority 0;
    tcp dport 22 ct state new counter
  }
  chain out {
    type filter hook output priority 0;
    tcp dport 22 ct state new counter
  }
}
EOT'
}
counter_read() {
  bash lab/lab.sh exec laptop -- nft list table inet k3ou_bench | awk '/packets/ {for (i = 1; i <= NF; i++) if ($i == "packets") printf "%s ", $(i + 1)}'
}
# CPU-seconds the whole machine has spent busy so far (every core, every process, the lab's hosts too).
clk_tck=$(getconf CLK_TCK)
cores=$(nproc)
cpu_busy() { awk -v hz="$clk_tck" '/^cpu / { printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat; }
declare -A times=()
# Seconds from $1 (a `date +%s.%N`) to now, with $2 decimals (1 unless given).
since() { awk -v a="$1" -v b="$(date +%s.%N)" -v d="${2:-1}" 'BEGIN { printf "%.*f", d, b - a }'; }
# The least of the numbers given: a run's best.
least() { printf '%s\n' "$@" | sort -n | head -n 1; }
measure() {
  local label=$1; shift
  counter_reset
  local start end events="$state/${label// /-}.events"
  local extra=() busy0 busy1 cpu
  [ "$1" = preview ] || extra=("${parallel[@]}")
  busy0=$(cpu_busy)
  start=$(date +%s.%N)
  # The operator's CPU: the CLI and, as rusage counts them, the language host, Node and the providers it waited for.
  local TIMEFORMAT='%U %S'
  { time ip netns exec k3ou-operator pulumi "$@" "${extra[@]}" --stack bench --non-interactive --event-log "$events" >"$state/$label.log" 2>&1; } 2>"$state/rusage" || { echo "bench: pulumi $* failed, see below" >&2; tail -20 "$state/$label.log" >&2; exit 1; }
  end=$(date +%s.%N)
  busy1=$(cpu_busy)
  cpu=$(awk -v a="$busy0" -v b="$busy1" -v t0="$start" -v t1="$end" -v n="$cores" '{ printf "CPU-s: operator %.1f, whole machine %.1f (%.0f%% of %d cores)", $1 + $2, b - a, 100 * (b - a) / ((t1 - t0) * n), n }' "$state/rusage")
  read -r inbound outbound <<<"$(counter_read)"
  times["$phones $label"]=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  local log_mb="?" newest
  # shellcheck disable=SC2012 # newest file by time; the names are the engine's own. sed reads all of
  # ls's output: head would close the pipe early, and pipefail would end the benchmark.
  if [ -f "$engine_logs" ]; then
    log_mb=off
  elif newest=$(ls -t "$engine_logs" 2>/dev/null | sed -n 1p) && [ -n "$newest" ]; then
    log_mb=$(stat -c %s "$engine_logs/$newest" | awk '{ printf "%.1f", $1 / 1048576 }')
  fi
  printf '%-8s %-10s %8s s %6s ssh sessions (%s to phones); engine log (MB) %s; %s\n' "$phones" "$label" "${times["$phones $label"]}" "$inbound" "$outbound" "$log_mb" "$cpu"
  if [ "$label" = "no-op up" ]; then
    npx ts-node --transpile-only tools/bench-profile.ts --timeline "$events" "$phones $label (update pass)" | sed 's/^/         /'
  fi
  if [ "$label" = "cold up" ]; then
    # Where the time went: the engine's own per-step times along the dependency graph.
    pulumi stack export --stack bench >"$state/state.json"
    npx ts-node --transpile-only tools/bench-profile.ts "$events" "$state/state.json" "$phones $label" | sed 's/^/         /'
  fi
}

# The floor: an empty TypeScript program's `pulumi up` with nothing to do, on the same engine and
# Node, transpiled the same way (one stack output, no resources), best of five, measured beside each
# household's no-op ups: its time moved between 1.8 and 6.7 s with what else the machine was doing.
measure_floor() {
  local proj="$state/empty" start runs=()
  mkdir -p "$proj"
  printf 'name: k3ou-bench-empty\nruntime:\n  name: nodejs\n  options:\n    typescript: true\n' >"$proj/Pulumi.yaml"
  printf 'export const nothing = 1;\n' >"$proj/index.ts"
  printf '{"compilerOptions":{"strict":true,"target":"ES2023","module":"commonjs","moduleResolution":"node","skipLibCheck":true,"types":["node"]}}\n' >"$proj/tsconfig.json"
  printf '{"name":"k3ou-bench-empty","main":"index.ts"}\n' >"$proj/package.json"
  ln -s "$PWD/node_modules" "$proj/node_modules"
  (cd "$proj" && pulumi stack init floor --non-interactive >/dev/null && pulumi up --yes --stack floor --non-interactive >/dev/null)
  for _ in 1 2 3 4 5; do
    start=$(date +%s.%N)
    (cd "$proj" && ip netns exec k3ou-operator pulumi up --yes --stack floor --non-interactive >/dev/null)
    runs+=("$(since "$start")")
  done
  (cd "$proj" && pulumi stack rm floor --yes --force --non-interactive >/dev/null)
  rm -rf "$proj"
  times["$phones floor"]=$(least "${runs[@]}")
  printf '%-8s %-10s %8s s (an empty TypeScript program'"'"'s no-op up, best of %s)\n' "$phones" "floor" "${times["$phones floor"]}" "${runs[*]}"
}

# The floor at the household's size: as many resources as the household has (custom resources:
# its steps, copies and Kubernetes objects; not its components or providers), each the cheapest
# there is (a random password, made in the provider, no host and no cluster behind it), with as much
# state as the household's resources have on average, cut in turn from the household's own exported
# state (secrets encrypted), so that zstd finds in it what it finds in the household's (a little
# more: each cut is kept twice, as input and output). Its cold up, no-op up (best of 3) and
# destroy are what the engine, the SDK and the file backend cost for this many resources and this
# much state before any step does any work. The program is JavaScript (nothing to transpile or
# type-check) and leaves the SDK's source maps off, as ops/program-loader.cjs does for the household's.
measure_sized_floor() {
  local proj="$state/sized" runs=() n bytes sized_bytes
  local custom='[.deployment.resources[] | select(.custom == true and (.type | startswith("pulumi:providers:") | not))]'
  pulumi stack export --stack bench >"$state/state.json"
  n=$(jq "$custom | length" "$state/state.json")
  bytes=$(($(jq -c "$custom" "$state/state.json" | wc -c) / n))
  mkdir -p "$proj"
  printf 'name: k3ou-bench-sized\nruntime: nodejs\nmain: index.js\n' >"$proj/Pulumi.yaml"
  cat >"$proj/index.js" <<'EOT'
"use strict";
const random = require("@pulumi/random");
Error.prepareStackTrace = undefined;
const n = Number(process.env.K3OU_FLOOR_RESOURCES);
// Keepers are kept as input and as output; the rest of a password's state is about 2.7 KB.
const size = Math.max(0, Math.floor((Number(process.env.K3OU_FLOOR_BYTES) - 2700) / 2));
let text = require("fs").readFileSync(`${__dirname}/state.json`, "utf8");
const period = text.length;
while (text.length < period + size) {
    text += text;
}
for (let i = 0; i < n; i++) {
    const at = (i * size) % period;
    new random.RandomPassword(`r${i}`, { length: 8, special: false, keepers: { k: text.slice(at, at + size) } });
}
EOT
  cp "$state/state.json" "$proj/state.json"
  printf '{"name":"k3ou-bench-sized","main":"index.js"}\n' >"$proj/package.json"
  ln -s "$PWD/node_modules" "$proj/node_modules"
  export K3OU_FLOOR_RESOURCES=$n K3OU_FLOOR_BYTES=$bytes
  (cd "$proj" && pulumi stack init sized --non-interactive >/dev/null)
  sized_run() {
    local start
    start=$(date +%s.%N)
    (cd "$proj" && ip netns exec k3ou-operator pulumi "$@" --stack sized --non-interactive >/dev/null)
    since "$start"
  }
  times["$phones sized cold up"]=$(sized_run up --yes "${parallel[@]}")
  sized_bytes=$(($( (cd "$proj" && pulumi stack export --stack sized) | jq -c "$custom" | wc -c) / n))
  for _ in 1 2 3; do
    runs+=("$(sized_run up --yes "${parallel[@]}")")
  done
  times["$phones sized no-op up"]=$(least "${runs[@]}")
  times["$phones sized destroy"]=$(sized_run destroy --yes "${parallel[@]}")
  (cd "$proj" && pulumi stack rm sized --yes --force --non-interactive >/dev/null)
  rm -rf "$proj"
  unset K3OU_FLOOR_RESOURCES K3OU_FLOOR_BYTES
  printf '%-8s %-10s cold up %s s, no-op up %s s (best of %s), destroy %s s: %s random passwords of %s bytes of state each (the household'"'"'s: %s resources of %s bytes), no host work\n' \
    "$phones" "sized floor" "${times["$phones sized cold up"]}" "${times["$phones sized no-op up"]}" "${runs[*]}" "${times["$phones sized destroy"]}" "$n" "$sized_bytes" "$n" "$bytes"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# npm run doctor --hosts-only, five times: the host checks' own time (the report's timings) and the
# command's wall time (Node start, two pulumi reads of config and outputs, the checks).
measure_doctor() {
  local start checks=() walls=()
  counter_reset
  for _ in 1 2 3 4 5; do
    start=$(date +%s.%N)
    ip netns exec k3ou-operator npm run -s doctor -- --stack bench --hosts-only --json >"$state/doctor.json" || { echo "bench: the doctor is not green on the converged household" >&2; jq -c '.results[] | select(.status == "fail")' "$state/doctor.json" >&2; exit 1; }
    checks+=("$(jq '.timings.hostChecksMs / 1000' "$state/doctor.json")")
    walls+=("$(since "$start" 2)")
  done
  read -r inbound outbound <<<"$(counter_read)"
  printf '%-8s %-10s %8s s %6s ssh sessions (%s to phones) in 5 runs; npm run doctor: %s s; each run: %s\n' "$phones" "doctor" \
    "$(least "${checks[@]}")" "$inbound" "$outbound" "$(least "${walls[@]}")" "${checks[*]}"
}

# The whole doctor, cluster proof included (the nettest DaemonSet on every node, the pod ping
# matrix, DNS): once, its wall time and the proof's own share.
measure_proof() {
  local start
  start=$(date +%s.%N)
  ip netns exec k3ou-operator npm run -s doctor -- --stack bench --json >"$state/proof.json" || { echo "bench: the cluster proof failed on the converged household" >&2; jq -c '.cluster' "$state/proof.json" >&2; exit 1; }
  printf '%-8s %-10s %8s s (cluster proof %s s, %s pods, matrix %s)\n' "$phones" "doctor+pods" \
    "$(since "$start")" "$(jq '.timings.clusterMs / 1000' "$state/proof.json")" \
    "$(jq '.cluster.nodes | length' "$state/proof.json")" "$(jq -r '.cluster.status' "$state/proof.json")"
}

# Resident memory of every process of each host (the lab finds them by the host's cgroups), in MB:
# what k3s, containerd, the kubelet, kube-proxy, flannel and the pods cost a laptop and a phone.
measure_memory() {
  local host total
  for host in laptop $(bash lab/lab.sh status --json | jq -r '.phones[].name'); do
    total=$(bash lab/lab.sh pids "$host" | while read -r pid; do awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true; done | awk '{ s += $1 } END { printf "%.0f", s / 1024 }')
    printf '%-8s %-10s %8s MB resident (%s)\n' "$phones" "memory" "$total" "$host"
  done | awk -v phones="$phones" '
    # With many phones: the laptop, two phones, and the average over every host.
    NR <= 3 || phones <= 3 { print }
    { s += $3; n++ }
    END { if (phones > 3) printf "%-8s %-10s %8.0f MB resident on average over %d hosts\n", phones, "memory", s / n, n }'
}

# The lab keeps its hosts' disks in memory; a host with k3s installed holds about 0.9 GB there and
# about 0.55 GB resident. When the largest household would not fit in the memory available now, every
# household of this run keeps its disks on the machine's disk instead (K3OU_LAB_STATE_ON_DISK), so
# the counts are measured alike (30 phones ran this machine's 24 GiB out in memory).
largest=$(printf '%s\n' "${counts[@]}" | sort -n | tail -n 1)
available_mb=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
need_mb=$(((largest + 1) * 1450))
if [ -z "${K3OU_LAB_STATE_ON_DISK:-}" ] && [ "$need_mb" -gt "$available_mb" ]; then
  export K3OU_LAB_STATE_ON_DISK=1
fi
where="in memory"
[ -z "${K3OU_LAB_STATE_ON_DISK:-}" ] || where="on disk (K3OU_LAB_STATE_ON_DISK)"
printf 'lab disks: %s; %s MB available, %s phones need about %s MB in memory\n' "$where" "$available_mb" "$largest" "$need_mb"

[ -z "${K3OU_BENCH_PARALLEL:-}" ] || printf 'every up and destroy with --parallel %s\n' "$K3OU_BENCH_PARALLEL"
printf '%-8s %-10s %10s %s\n' phones operation "wall time" "ssh sessions opened at the laptop"
for phones in "${counts[@]}"; do
  bash lab/lab.sh down >/dev/null 2>&1 || true
  bash lab/lab.sh up --phones "$phones" >/dev/null
  rm -f Pulumi.bench.yaml
  bash tools/lab-stack.sh bench "$K3OU_LAB_K3S_DIR" >/dev/null
  measure preview preview
  measure "cold up" up --yes
  # The floor under the same load as the no-op ups: the converged cluster running.
  measure_floor
  # A no-op up right after a cold up shares the machine with a cluster still settling (pods, MetalLB):
  # best of three, each printed.
  noop=()
  for _ in 1 2 3; do
    measure "no-op up" up --yes
    noop+=("${times["$phones no-op up"]}")
  done
  times["$phones no-op up"]=$(least "${noop[@]}")
  printf '%-8s %-10s %8s s (best of %s)\n' "$phones" "no-op up" "${times["$phones no-op up"]}" "${noop[*]}"
  measure_sized_floor
  measure_doctor
  measure_proof
  measure_memory
  measure destroy destroy --yes
  pulumi stack rm bench --yes --force --non-interactive >/dev/null
  printf '%-8s %-10s %8s x the floor (goal <= 1.5); the sized floor alone %s x\n' "$phones" "no-op/floor" "$(ratio "${times["$phones no-op up"]}" "${times["$phones floor"]}")" "$(ratio "${times["$phones sized no-op up"]}" "${times["$phones floor"]}")"
  for op in "cold up" "no-op up" destroy; do
    printf '%-8s %-10s %8s x the sized floor'"'"'s %s\n' "$phones" "$op" "$(ratio "${times["$phones $op"]}" "${times["$phones sized $op"]}")" "$op"
  done
done
bash lab/lab.sh down >/dev/null
# Growth with the phone count, smallest to largest (goal: <= 3x from 3 to 30 phones).
if [ "${#counts[@]}" -ge 2 ]; then
  small=${counts[0]} large=${counts[-1]}
  for op in "cold up" "no-op up" destroy; do
    printf '%-8s %-10s %8s x (%s phones against %s); the sized floor alone %s x\n' "$large/$small" "$op" "$(ratio "${times["$large $op"]}" "${times["$small $op"]}")" "$large" "$small" \
      "$(ratio "${times["$large sized $op"]}" "${times["$small sized $op"]}")"
  done
fi
