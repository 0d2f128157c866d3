# shellcheck shell=bash
# Day-zero disks: what each host's storage holds before anyone touched it.
# Sourced by lab.sh. A disk is a directory tree on the machine:
#   $STATE_DIR/<host>/disk/{etc,boot,var,root,home,opt}  bound over /etc, ...
#   $STATE_DIR/<host>/disk/usr.upper                      overlay on /usr
#   $STATE_DIR/<phone>/partitions/boot_a                  the phone's boot partition

# Drops the machine's own accounts (uid 1000..59999) from a copied /etc, so a
# host has only the users its real counterpart has.
strip_human_users() {
	local etc=$1 names f
	names=$(awk -F: '$3 >= 1000 && $3 < 60000 { print $1 }' "$etc/passwd")
	for f in passwd shadow group gshadow; do
		[ -f "$etc/$f" ] || continue
		awk -F: -v names=" $(echo "$names" | tr '\n' ' ') " 'BEGIN { OFS = ":" }
			index(names, " " $1 " ") { next }
			{ print }' "$etc/$f" >"$etc/$f.new"
		cat "$etc/$f.new" >"$etc/$f"
		rm -f "$etc/$f.new"
	done
}

free_gid() { # etc start
	local g=$2
	while awk -F: -v g="$g" '$3 == g { found = 1 } END { exit !found }' "$1/group"; do g=$((g + 1)); done
	echo "$g"
}

add_group() { # etc name gid
	echo "$2:x:$3:" >>"$1/group"
	[ -f "$1/gshadow" ] && echo "$2:!::" >>"$1/gshadow"
	return 0
}

add_user() { # etc name uid gid home shell hash supplementary-groups...
	local etc=$1 name=$2 uid=$3 gid=$4 home=$5 shell=$6 hash=$7 g
	shift 7
	echo "$name:x:$uid:$gid::$home:$shell" >>"$etc/passwd"
	echo "$name:$hash:20000:0:99999:7:::" >>"$etc/shadow"
	for g in "$@"; do
		awk -F: -v g="$g" -v u="$name" 'BEGIN { OFS = ":" }
			$1 == g { $4 = ($4 == "" ? u : $4 "," u) } { print }' "$etc/group" >"$etc/group.new"
		cat "$etc/group.new" >"$etc/group"
		rm -f "$etc/group.new"
	done
}

install_authorized_key() { # disk home-rel uid gid
	local dir=$1/$2/.ssh
	mkdir -p "$dir"
	cp "$STATE_DIR/operator/id_ed25519.pub" "$dir/authorized_keys"
	chmod 0700 "$dir"
	chmod 0600 "$dir/authorized_keys"
	chown -R "$3:$4" "$1/$2"
}

# The parts every host shares: a copy of the machine's /etc with its own
# identity (host key, machine-id, no foreign accounts), and empty /var etc.
make_base_disk() { # host hostname rootfs-template
	local host=$1 hostname=$2 tpl=$3 d
	d="$(host_dir "$host")/disk"
	mkdir -p "$d"/{boot,root,home,opt,usr.upper,usr.work}
	cp -a /etc "$d/etc"
	rm -rf "$d/etc/netns" "$d/etc/ssh/ssh_host_"* "$d/etc/ssh/sshd_config.d"
	mkdir -p "$d/etc/ssh/sshd_config.d"
	ssh-keygen -q -t ed25519 -N '' -C "root@$hostname" -f "$d/etc/ssh/ssh_host_ed25519_key"
	od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$d/etc/machine-id"
	echo >>"$d/etc/machine-id"
	strip_human_users "$d/etc"
	echo "$hostname" >"$d/etc/hostname"
	rm -f "$d/etc/os-release" "$d/etc/resolv.conf"
	chmod 0700 "$d/root"

	# /var: a fresh one; /var/run and /var/lock point into the per-boot /run.
	mkdir -p "$d/var"/{lib,log,cache,spool,opt,local,mail,backups,empty}
	mkdir "$d/var/tmp"
	chmod 1777 "$d/var/tmp"
	ln -s /run "$d/var/run"
	ln -s /run/lock "$d/var/lock"

	cp -a "$tpl/etc/." "$d/etc/"
	cp -a "$tpl/usr/." "$d/usr.upper/"
}

make_laptop_disk() {
	local d gid
	d="$(host_dir laptop)/disk"
	make_base_disk laptop "$LAPTOP_NAME" "$LAB_DIR/rootfs/laptop"

	printf '127.0.0.1 localhost\n127.0.1.1 %s\n\n::1     ip6-localhost ip6-loopback\nfe00::0 ip6-localnet\nff00::0 ip6-mcastprefix\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n' \
		"$LAPTOP_NAME" >"$d/etc/hosts"
	# systemd-resolved's stub, as on Ubuntu; nothing answers it in the lab.
	printf 'nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n' >"$d/etc/resolv.conf"

	# Ubuntu's first user: uid 1000, in adm and sudo; sudo without password
	# comes from cloud-init's 90-cloud-init-users (in the template).
	gid=1000
	add_group "$d/etc" "$LAPTOP_USER" "$gid"
	add_user "$d/etc" "$LAPTOP_USER" 1000 "$gid" "/home/$LAPTOP_USER" /bin/bash '*' adm sudo
	install_authorized_key "$d" "home/$LAPTOP_USER" 1000 "$gid"
	chmod 0440 "$d/etc/sudoers.d/90-cloud-init-users"
	chmod 0600 "$d/etc/netplan/"*.yaml

	# Only what the household's laptop runs: sshd. The machine's own enabled
	# units (whatever they are) must not start inside the laptop.
	rm -rf "$d/etc/systemd/system" "$d/etc/systemd/network" "$d/etc/udev/rules.d"
	mkdir -p "$d/etc/systemd/system/multi-user.target.wants" "$d/etc/systemd/network" "$d/etc/udev/rules.d"
	ln -s /lib/systemd/system/ssh.service "$d/etc/systemd/system/multi-user.target.wants/ssh.service"
	ln -s /lib/systemd/system/ssh.service "$d/etc/systemd/system/sshd.service"
}

deviceinfo_for() { # device
	local dev=$1 name year
	name=$(device_model "$dev")
	year=2018
	cat <<EOF
# Reference: <https://postmarketos.org/deviceinfo>
# Please use double quotes only. You can source this file in shell scripts.
#
# Lab copy of device-$dev's deviceinfo: the boot chain values are the
# ones postmarketos.md 7.1 quotes; the rest is the usual shape of the file.

deviceinfo_format_version="0"
deviceinfo_name="$name"
deviceinfo_manufacturer="OnePlus"
deviceinfo_codename="$dev"
deviceinfo_year="$year"
deviceinfo_dtb="qcom/sdm845-$dev"
deviceinfo_arch="aarch64"

# Device related
deviceinfo_chassis="handset"
deviceinfo_keyboard="false"
deviceinfo_external_storage="false"
deviceinfo_screen_width="1080"
deviceinfo_screen_height="2280"
deviceinfo_gpu_accelerated="true"

# Bootloader related
deviceinfo_flash_method="fastboot"
deviceinfo_kernel_cmdline="console=ttyMSM0,115200"
deviceinfo_generate_bootimg="true"
deviceinfo_bootimg_qcdt="false"
deviceinfo_flash_offset_base="0x00000000"
deviceinfo_flash_offset_kernel="0x00008000"
deviceinfo_flash_offset_ramdisk="0x01000000"
deviceinfo_flash_offset_second="0x00f00000"
deviceinfo_flash_offset_tags="0x00000100"
deviceinfo_flash_pagesize="4096"
deviceinfo_flash_sparse="true"
deviceinfo_append_dtb="true"
deviceinfo_flash_kernel_on_update="true"
EOF
}

make_phone_disk() { # phone device hash
	local phone=$1 dev=$2 hash=$3 d gid_user=10000 gid_wheel svc lvl
	d="$(host_dir "$phone")/disk"
	make_base_disk "$phone" "$dev" "$LAB_DIR/rootfs/phone"

	# pmbootstrap setup_hostname: /etc/hostname and the 127.0.0.1 line.
	printf '127.0.0.1\t%s localhost.localdomain localhost\n::1\t\tlocalhost localhost.localdomain\n' "$dev" >"$d/etc/hosts"
	: >"$d/etc/resolv.conf"

	gid_wheel=$(free_gid "$d/etc" 10)
	add_group "$d/etc" wheel "$gid_wheel"
	add_group "$d/etc" "$PHONE_USER" "$gid_user"
	add_user "$d/etc" "$PHONE_USER" 10000 "$gid_user" "/home/$PHONE_USER" /bin/ash "$hash" wheel
	install_authorized_key "$d" "home/$PHONE_USER" 10000 "$gid_user"
	chmod 0400 "$d/etc/doas.conf" "$d/etc/doas.d/10-postmarketos.conf"

	# OpenRC with pmOS's runlevels (postmarketos.md 5), nftables in default.
	rm -rf "$d/etc/runlevels" "$d/etc/sudoers" "$d/etc/sudoers.d"
	for lvl in sysinit boot default shutdown nonetwork; do mkdir -p "$d/etc/runlevels/$lvl"; done
	# init.d: only the template's scripts (Debian's LSB scripts are not pmOS's).
	rm -rf "$d/etc/init.d"
	cp -a "$LAB_DIR/rootfs/phone/etc/init.d" "$d/etc/init.d"
	for svc in devfs dmesg udev udev-trigger udev-settle; do ln -s "/etc/init.d/$svc" "$d/etc/runlevels/sysinit/$svc"; done
	for svc in hwclock modules sysctl hostname bootmisc logbookd tmpfs; do ln -s "/etc/init.d/$svc" "$d/etc/runlevels/boot/$svc"; done
	for svc in sshd swapfile local postmarketos-zram-swap udev-postmount \
		cgroups dbus haveged chronyd rfkill routewrangler networkmanager nftables; do
		ln -s "/etc/init.d/$svc" "$d/etc/runlevels/default/$svc"
	done
	rm -f "$d/etc/deviceinfo"
	mkdir -p "$d/var/lib/nftables" "$d/var/lib/NetworkManager" "$d/etc/NetworkManager/conf.d"

	# The device's package files (in /usr: they belong to device-$dev).
	mkdir -p "$d/usr.upper/share/deviceinfo"
	deviceinfo_for "$dev" >"$d/usr.upper/share/deviceinfo/deviceinfo"

	# /boot is a partition of its own on a phone (pmbootstrap's default size: 256 MiB), which can
	# fill up while the root has room: a size-limited tmpfs here, kept across reboots;
	# drop_phone_disk unmounts it.
	mountpoint -q "$d/boot" || mount -t tmpfs -o "size=${PHONE_BOOT_MB:-256}m,mode=0755" k3ou-boot "$d/boot"

	# /boot as the kernel package leaves it: every sdm845 DTB, and the kernel.
	mkdir -p "$d/boot/dtbs/qcom"
	cp "$STATE_DIR/dtb/"*.dtb "$d/boot/dtbs/qcom/"
	printf 'k3s-over-usb lab: stand-in for the linux-postmarketos-qcom-sdm845 Image.gz\n' | gzip -9n >"$d/boot/vmlinuz"

	# The boot partition, empty until the factory flash (mkinitfs at first boot).
	mkdir -p "$(host_dir "$phone")/partitions"
	truncate -s 64M "$(host_dir "$phone")/partitions/boot_a"
	: >"$(host_dir "$phone")/partitions/.factory-flash-pending"
}

# Removes a phone's disk, its /boot partition first.
drop_phone_disk() { # phone
	local boot
	boot="$(host_dir "$1")/disk/boot"
	if mountpoint -q "$boot"; then umount "$boot" || umount -l "$boot"; fi
	rm -rf "$(host_dir "$1")"
}
