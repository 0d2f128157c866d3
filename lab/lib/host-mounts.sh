#!/usr/bin/env bash
# Builds one lab host's filesystem view. Runs INSIDE the host's freshly
# unshared mount namespace (private propagation), so nothing here is visible to
# the machine or to any other host. Called by lab.sh at every boot.
#
#   host-mounts.sh KIND DISK LABDIR [PARTITION]
#
# KIND is phone|laptop. DISK is the host's persistent disk on the machine
# (/var/lib/k3s-over-usb-lab/<host>/disk). The order matters: DISK lives under
# /var, so /var is mounted last; LABDIR may live under /tmp, so it is bound
# before /tmp gets its tmpfs.
set -euo pipefail

kind=$1 disk=$2 lab=$3 partition=${4:-}

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
mount -o remount,bind,ro /sys

# The laptop is systemd-flavoured: systemd mounts the unified hierarchy early.
# Phones mount it from OpenRC's cgroups service.
if [ "$kind" = laptop ]; then
	mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
fi

mount --bind "$disk/var" /var
