#!/usr/bin/env bash
# Points a stack at the running lab: its config from the lab's hosts (tools/lab-stack.ts), the stack
# selected (created when new), the lab's SSH key as the secret sshPrivateKey, read from stdin so it
# never appears on a command line. The caller has sourced tools/pulumi-engine/env.sh and set the
# backend and passphrase.
# Usage: tools/lab-stack.sh STACK K3S_BINARY
set -euo pipefail
cd "$(dirname "$0")/.."

stack=${1:?usage: tools/lab-stack.sh STACK K3S_BINARY}
binary=${2:?usage: tools/lab-stack.sh STACK K3S_BINARY}

npx ts-node --transpile-only tools/lab-stack.ts "$binary" lab/k3s-standin/install.sh "$stack"
pulumi stack select "$stack" --create --non-interactive
key=$(bash lab/lab.sh status --json | jq -r .sshPrivateKeyPath)
pulumi config set --secret sshPrivateKey --stack "$stack" --non-interactive < "$key"
