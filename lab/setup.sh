#!/usr/bin/env bash
# Installs what the lab needs on a fresh Debian 12 machine (CI starts from one).
# Every package here was checked to be harmless on a machine whose PID 1 is not
# systemd: none of them replaces init, and service starts are blocked during the
# install so that no sshd (nor etcd: etcd-server ships an init.d script) ends up
# running in the machine's own namespace. containerd ships only a systemd unit.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "lab/setup.sh: must run as root (it installs Debian packages)" >&2
	exit 1
fi

packages=(
	iproute2 iputils-ping            # namespaces, veths, ping -6 ff02::1
	openssh-server openssh-client    # real sshd in every host, ssh/ssh-keyscan for tests
	nftables iptables                # per-netns firewalls (pmOS ruleset, laptop NAT), kube-proxy
	device-tree-compiler             # dtc/fdtget/fdtput for the phones' DTBs
	netplan.io                       # real `netplan generate` on the laptop
	openrc                           # real openrc/rc-update/rc-service on the phones
	opendoas                         # pmOS's doas
	busybox-static                   # static busybox: pods' images (conflicts with busybox,
	                                 # whose binary the phones' /bin/sh is: see below)
	sudo                             # the laptop's real sudo
	rfkill jq shellcheck             # rfkill(8) is shadowed on phones; jq for status; lint
	python3 python3-yaml             # the lab's bootloader and the laptop stand-ins
	gzip openssl procps kmod util-linux
	# What the lab's k3s launcher runs inside each host (lab/README.md, "The
	# cluster: what is real"): etcd, containerd + runc + CNI plugins, and the
	# tools kube-proxy and flannel call.
	etcd-server containerd runc containernetworking-plugins
	conntrack ipset
)

# Daemons a package could start, running in the machine's own network and
# mount namespaces (not a lab host's, not a test's private one).
daemons() {
	local pid
	for pid in $(pgrep -x 'containerd|etcd|sshd' || true); do
		[ "$(readlink "/proc/$pid/ns/net")" = "$(readlink /proc/2/ns/net)" ] &&
			[ "$(readlink "/proc/$pid/ns/mnt")" = "$(readlink /proc/2/ns/mnt)" ] && echo "$pid"
	done
	return 0
}

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

# invoke-rc.d consults policy-rc.d; exit 101 means "do not start services".
# Keep an existing policy (Docker-style images ship one) and remove only ours.
policy=/usr/sbin/policy-rc.d
own_policy=0
cleanup() { if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive
updated=0

if [ "${#missing[@]}" -gt 0 ]; then
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 0755 "$policy"
		own_policy=1
	fi
	before=" $(daemons | tr '\n' ' ') "
	apt-get update -qq
	updated=1
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
	echo "lab/setup.sh: installed ${missing[*]}"
	# Nothing may run in the machine's own namespaces because of the install
	# (policy-rc.d prevents it; this says so if it ever does not).
	new=""
	for pid in $(daemons); do
		case $before in *" $pid "*) ;; *) new="$new $pid($(cat "/proc/$pid/comm" 2>/dev/null))" ;; esac
	done
	if [ -n "$new" ]; then
		echo "lab/setup.sh: daemons appeared in the machine's own namespaces during the install:$new; stop them (they would clash with the lab's hosts)" >&2
		exit 1
	fi
else
	echo "lab/setup.sh: all packages already installed"
fi

# The phones' /bin/sh is Debian's dynamic busybox, as the lab was built on,
# not busybox-static: that one's ash runs its own applets before PATH (`ip`
# is busybox's, not iproute2's; Alpine's ash does not do that), and OpenRC's
# init.sh, whose /proc test (`VAR=a md5sum /proc/self/environ`) then sees no
# difference, mounts a fresh /proc over the host's read-only /proc/sys. The
# two packages conflict, so the binary comes out of busybox's .deb, next to
# the machine's other build caches; lab.sh binds it over the phones' busybox.
bb_dir=/var/cache/k3s-over-usb/lab
bb_version=$(apt-cache policy busybox 2>/dev/null | awk '$1 == "Candidate:" { print $2 }')
if [ -z "$bb_version" ] || [ "$bb_version" = "(none)" ]; then
	[ "$updated" = 1 ] || apt-get update -qq
	bb_version=$(apt-cache policy busybox | awk '$1 == "Candidate:" { print $2 }')
fi
if [ ! -x "$bb_dir/busybox" ] || [ "$(cat "$bb_dir/busybox.version" 2>/dev/null)" != "$bb_version" ]; then
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get download -o APT::Sandbox::User=root -qq "busybox=$bb_version")
	dpkg-deb -x "$tmp"/busybox_*.deb "$tmp/x"
	mkdir -p "$bb_dir"
	install -m 0755 "$tmp/x/bin/busybox" "$bb_dir/busybox"
	echo "$bb_version" >"$bb_dir/busybox.version"
	rm -rf "$tmp"
	echo "lab/setup.sh: the phones' busybox $bb_version is $bb_dir/busybox"
fi
