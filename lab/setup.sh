#!/usr/bin/env bash
# Installs what the lab needs on a fresh Debian 12 machine (CI starts from one).
# Every package here was checked to be harmless on a machine whose PID 1 is not
# systemd: none of them replaces init, and service starts are blocked during the
# install so that no sshd ends up listening in the machine's own namespace.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "lab/setup.sh: must run as root (it installs Debian packages)" >&2
	exit 1
fi

packages=(
	iproute2 iputils-ping            # namespaces, veths, ping -6 ff02::1
	openssh-server openssh-client    # real sshd in every host, ssh/ssh-keyscan for tests
	nftables iptables                # per-netns firewalls (pmOS ruleset, laptop NAT)
	device-tree-compiler             # dtc/fdtget/fdtput for the phones' DTBs
	netplan.io                       # real `netplan generate` on the laptop
	openrc                           # real openrc/rc-update/rc-service on the phones
	opendoas busybox                 # pmOS userland: doas, busybox ash as /bin/sh
	sudo                             # the laptop's real sudo
	rfkill jq shellcheck             # rfkill(8) is shadowed on phones; jq for status; lint
	python3 python3-yaml             # the lab's bootloader and the laptop stand-ins
	gzip openssl procps kmod util-linux
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
	echo "lab/setup.sh: all packages already installed"
	exit 0
fi

# invoke-rc.d consults policy-rc.d; exit 101 means "do not start services".
# Keep an existing policy (Docker-style images ship one) and remove only ours.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	own_policy=1
fi
cleanup() { if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "lab/setup.sh: installed ${missing[*]}"
