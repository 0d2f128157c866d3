#!/usr/bin/env bash
# Builds one lab host's filesystem view. Runs INSIDE the host's freshly
# unshared mount namespace (private propagation), so nothing here is visible to
# the machine or to any other host. Called by lab.sh at every boot.
#
#   K3OU_LAB_CGROUPS=PLAN host-mounts.sh KIND DISK LABDIR [PARTITION]
#
# KIND is phone|laptop. DISK is the host's persistent disk on the machine
# (/var/lib/k3s-over-usb-lab/<host>/disk). PLAN is the lab's cgroup plan
# (lib/common.sh cg_plan): the machine's hierarchies, mounted again here. The
# order matters: DISK lives under /var, so /var is mounted last; LABDIR may
# live under /tmp, so it is bound before /tmp gets its tmpfs.
set -euo pipefail

# Everything below mounts over the machine's paths: never in its namespace.
# (kthreadd, pid 2, always lives in the machine's first mount namespace.)
if [ "$(readlink /proc/self/ns/mnt)" = "$(readlink /proc/2/ns/mnt)" ]; then
	echo "host-mounts.sh: refusing to run in the machine's own mount namespace" >&2
	exit 2
fi

kind=$1 disk=$2 lab=$3 partition=${4:-}
plan=${K3OU_LAB_CGROUPS:-}
if [ ! -f "$plan" ]; then
	echo "host-mounts.sh: no cgroup plan (K3OU_LAB_CGROUPS=$plan)" >&2
	exit 2
fi

# /usr: the machine's /usr as a read-only lower layer, with the host's own
# changes (its "packages", stand-ins, removed tools) persisted in usr.upper.
mount -t overlay overlay -o "lowerdir=/usr,upperdir=$disk/usr.upper,workdir=$disk/usr.work" /usr

mkdir -p /usr/lib/k3ou-lab
mount --bind "$lab" /usr/lib/k3ou-lab
mount -o remount,bind,ro /usr/lib/k3ou-lab

# Replaces PATH with a bind mount of a lab stand-in, so `ls -l` shows an
# ordinary file at the real path, as on the real host.
standin() { # src-relative-to-lab dst
	local src=/usr/lib/k3ou-lab/$1 dst=$2
	mkdir -p "$(dirname "$dst")"
	if [ -L "$dst" ] || [ ! -e "$dst" ]; then
		rm -f "$dst"
		: >"$dst"
	fi
	chmod 0755 "$dst"
	mount --bind "$src" "$dst"
}

# Removes a tool the real host does not have (an overlay whiteout).
absent() {
	local f
	for f in "$@"; do rm -f "$f"; done
}

case $kind in
phone)
	# postmarketOS: busybox is /bin/sh and provides the everyday text tools;
	# no bash, no python, no sudo (v25.12 uses doas), no systemd tools.
	# Its busybox runs programs from PATH, as Alpine's does (lib/common.sh
	# PHONE_BUSYBOX), not the machine's busybox-static.
	if [ ! -x "${K3OU_LAB_BUSYBOX:-}" ]; then
		echo "host-mounts.sh: no phone busybox (K3OU_LAB_BUSYBOX=${K3OU_LAB_BUSYBOX:-}): run lab/setup.sh" >&2
		exit 2
	fi
	mount --bind "$K3OU_LAB_BUSYBOX" /usr/bin/busybox
	mount -o remount,bind,ro /usr/bin/busybox
	ln -sfn /bin/busybox /usr/bin/sh
	ln -sfn /bin/busybox /usr/bin/ash
	for a in awk sed grep egrep fgrep od tr cut head tail sort uniq wc xargs find \
		stat mktemp readlink basename dirname tee printf expr hexdump xxd timeout \
		seq diff cmp base64 md5sum sha256sum sha512sum which cpio; do
		ln -sfn /bin/busybox "/usr/bin/$a"
	done
	absent /usr/bin/bash /usr/bin/rbash /usr/bin/dash /usr/bin/python3 /usr/bin/python3.11 \
		/usr/bin/sudo /usr/bin/sudoedit /usr/bin/systemctl /usr/bin/journalctl \
		/usr/bin/hostnamectl /usr/bin/networkctl /usr/sbin/netplan /usr/bin/udevadm
	standin standins/phone/mkinitfs /usr/sbin/mkinitfs
	standin standins/phone/boot-deploy /usr/sbin/boot-deploy
	standin standins/phone/nmcli /usr/bin/nmcli
	standin standins/phone/rfkill /usr/sbin/rfkill
	standin standins/phone/apk /usr/sbin/apk
	;;
laptop)
	# Ubuntu: systemd tools (stand-ins, since PID 1 here is not systemd),
	# netplan; no OpenRC (k3s's installer picks OpenRC if /sbin/openrc-run
	# exists) and no doas.
	absent /usr/sbin/openrc /usr/sbin/openrc-init /usr/sbin/openrc-run /usr/sbin/openrc-shutdown \
		/usr/sbin/rc-service /usr/sbin/rc-update /usr/sbin/rc-sstat /usr/sbin/supervise-daemon \
		/usr/bin/rc-status /usr/bin/doas
	standin standins/laptop/udevadm /usr/bin/udevadm
	standin standins/laptop/systemctl /usr/bin/systemctl
	standin standins/laptop/netplan /usr/sbin/netplan
	standin standins/laptop/journalctl /usr/bin/journalctl
	standin standins/laptop/hostnamectl /usr/bin/hostnamectl
	standin standins/laptop/networkctl /usr/bin/networkctl
	;;
*)
	echo "host-mounts.sh: unknown kind $kind" >&2
	exit 2
	;;
esac

for d in etc boot root home opt; do
	mount --bind "$disk/$d" "/$d"
done

mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp

# A private /dev, as a container gets: the machine's devtmpfs would expose its
# disks. Only the character devices a userland needs, and its own ptys.
mount -t tmpfs -o mode=0755,nosuid,size=1m tmpfs /dev
mknod -m 0666 /dev/null c 1 3
mknod -m 0666 /dev/zero c 1 5
mknod -m 0666 /dev/full c 1 7
mknod -m 0666 /dev/random c 1 8
mknod -m 0666 /dev/urandom c 1 9
mknod -m 0666 /dev/tty c 5 0
mkdir -m 0755 /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts /dev/pts
ln -s pts/ptmx /dev/ptmx
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
if awk '$1 == "cgroup" && $3 ~ /(^|,)devices(,|$)/ { found = 1 } END { exit !found }' "$plan"; then
	# The kubelet does not start without /dev/kmsg (its OOM watcher opens
	# it). The machine's kernel log, readable only: the host's devices cgroup
	# denies writing it (lib/common.sh cg_create).
	mknod -m 0644 /dev/kmsg c 1 11
fi
if [ -n "$partition" ]; then
	# The phone's boot partition: boot-deploy "flashes" boot.img here; the
	# lab's bootloader reads it at the next boot.
	mkdir -p /dev/disk/by-partlabel
	: >/dev/disk/by-partlabel/boot_a
	mount --bind "$partition" /dev/disk/by-partlabel/boot_a
fi

# Kernel-wide sysctls and sysfs belong to the machine: a host may change only
# its own network namespace's settings (net.*), like a container.
mount --bind /proc/sys /proc/sys
mount --bind /proc/sys/net /proc/sys/net
mount -o remount,bind,ro /proc/sys

# The kernel tunables a kubelet checks (and would write) are machine-wide: the
# host reads the values a kubelet wants, from read-only files. Their tmpfs is
# detached once they are bound, so no path but these reaches them.
tunables=$(mktemp -d /tmp/.k3ou-tunables.XXXXXX)
mount -t tmpfs -o size=64k,mode=0700 k3ou-tunables "$tunables"
for kv in vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 \
	kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000; do
	key=${kv%%=*}
	f=$tunables/${key//\//.}
	printf '%s\n' "${kv#*=}" >"$f"
	chmod 0644 "$f"
	mount --bind "$f" "/proc/sys/$key"
	mount -o remount,bind,ro "/proc/sys/$key"
done
umount -l "$tunables"
rmdir "$tunables"

# sysfs: the one `ip netns exec` mounted for this network namespace (its
# /sys/class/net is the host's), read-only, nothing of the machine's below it.
sys_type=$(awk '$5 == "/sys" { for (i = 7; i <= NF; i++) if ($i == "-") t = $(i + 1) } END { print t }' /proc/self/mountinfo)
if [ "$sys_type" != sysfs ] || awk '$5 ~ "^/sys/" { found = 1 } END { exit !found }' /proc/self/mountinfo; then
	umount -l /sys 2>/dev/null || true
	mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
fi
mount -o remount,bind,ro /sys

# cgroups: the machine's layout again (here: each v1 controller at
# /sys/fs/cgroup/<name>, cgroup2 at /sys/fs/cgroup/unified), each mount rooted
# at the host's own cgroup (its cgroup namespace), so /proc/self/cgroup and the
# mounts agree on "/" and runc and the kubelet see a hybrid v1 system. The
# cgroup mounts are writable (a kubelet and runc make cgroups); nothing above
# the host's subtree is reachable through them, and the kernel refuses a new
# hierarchy (net_cls, name=openrc, ...) from inside a cgroup namespace.
cgroup_root=/sys/fs/cgroup
if awk '$1 == "cgroup2" && $4 == "." { found = 1 } END { exit !found }' "$plan"; then
	mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$cgroup_root"
else
	if [ "$kind" = laptop ]; then
		mount -t tmpfs -o nosuid,nodev,noexec,mode=0755,size=1m tmpfs "$cgroup_root"
	else
		# As OpenRC's cgroups service mounts it (hybrid/legacy modes).
		mount -t tmpfs -o nosuid,nodev,noexec,mode=0755,size=10m cgroup_root "$cgroup_root"
	fi
	while read -r cgkind _ opts name; do
		[ "$name" = - ] && continue
		case $cgkind in
		cgroup)
			mkdir -p "$cgroup_root/$name"
			mount -t cgroup -o "nosuid,nodev,noexec,$opts" cgroup "$cgroup_root/$name"
			;;
		cgroup2)
			mkdir -p "$cgroup_root/$name"
			mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$cgroup_root/$name"
			;;
		link) ln -s "$opts" "$cgroup_root/$name" ;;
		esac
	done <"$plan"
	# systemd leaves the tmpfs read-only; OpenRC leaves it writable (see
	# rootfs/phone/etc/init.d/cgroups for what OpenRC makes there).
	if [ "$kind" = laptop ]; then
		mount -o remount,ro "$cgroup_root"
	fi
fi

mount --bind "$disk/var" /var

# Shared propagation inside the host, as on a machine booted by systemd: the
# kubelet and containerd need it (volume mounts, pods' mount propagation). The
# host's mounts are private copies (`unshare --propagation private`), so this
# makes new peer groups inside the host only: nothing reaches the machine.
mount --make-rshared /
