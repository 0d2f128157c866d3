#!/usr/bin/env bash
# Points a stack at the running lab: its config from the lab's hosts (tools/lab-stack.ts), the stack
# selected (created when new), the lab's SSH key as the secret sshPrivateKey, read from stdin so it
# never appears on a command line. The caller has sourced tools/pulumi-engine/env.sh and set the
# backend and passphrase.
# Usage: tools/lab-stack.sh STACK K3S_DIR   (K3S_DIR: lab/k3s/build.sh's output, the binary and its images)
set -euo pipefail
cd "$(dirname "$0")/.."

stack=${1:?usage: tools/lab-stack.sh STACK K3S_DIR}
k3s_dir=${2:?usage: tools/lab-stack.sh STACK K3S_DIR}

npx ts-node --transpile-only tools/lab-stack.ts "$k3s_dir" lab/k3s/install.sh "$stack"
pulumi stack select "$stack" --create --non-interactive
key=$(bash lab/lab.sh status --json | jq -r .sshPrivateKeyPath)
pulumi config set --secret sshPrivateKey --stack "$stack" --non-interactive < "$key"
