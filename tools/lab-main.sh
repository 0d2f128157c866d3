#!/usr/bin/env bash
# The main job on the embedded default: the simulated household (the lab) converged by the real
# Pulumi engine, as `pulumi up` would converge a real one, then a summary to read at a glance.
# The lab's k3s (lab/k3s/README.md) runs real Kubernetes underneath: the doctor ends with the pod
# ping matrix and DNS from a pod.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "lab: the simulated household needs root (network namespaces); run as root" >&2
  exit 1
fi

# shellcheck source=lab/k3s/env.sh
. lab/k3s/env.sh

bash lab/setup.sh
bash tools/pulumi-engine/build.sh
# shellcheck source=tools/pulumi-engine/env.sh
. tools/pulumi-engine/env.sh
bash lab/k3s/build.sh "$K3OU_LAB_K3S_DIR" "$K3OU_LAB_K3S_VERSION"

if ! bash lab/lab.sh status --json >/dev/null 2>&1; then
  bash lab/lab.sh up
fi

# The stack's state and passphrase live in the project's ignored files.
state=$PWD/.k3ou
mkdir -p "$state/backend"
chmod 700 "$state"
if [ ! -s "$state/passphrase" ]; then
  (umask 077 && head -c 32 /dev/urandom | base64 > "$state/passphrase")
fi
# The file backend as the README advises (README, "State"): no .attrs file beside each checkpoint,
# and checkpoints compressed.
export PULUMI_BACKEND_URL="file://$state/backend?metadata=skip" PULUMI_DIY_BACKEND_ZSTD=true
export PULUMI_CONFIG_PASSPHRASE_FILE="$state/passphrase"

bash tools/lab-stack.sh lab "$K3OU_LAB_K3S_DIR"

# Pulumi runs where an operator would: on a workstation on the household LAN.
ip netns exec k3ou-operator pulumi up --yes --stack lab --non-interactive
ip netns exec k3ou-operator npx ts-node --transpile-only tools/summary.ts
# Is the household what the stack says, and do pods on every node reach each other?
ip netns exec k3ou-operator npm run -s doctor -- --stack lab
