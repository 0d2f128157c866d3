# shellcheck shell=bash
# Booting and stopping lab hosts. Sourced by lab.sh.

# Starts the host's "init": a process that holds the host's namespaces (its
# network namespace, plus its own UTS, mount and cgroup namespaces) for as
# long as the host is up. Everything else enters them with nsenter.
start_anchor() { # host
	local host=$1 ns pid rt i
	ns=$(ns_of "$host")
	rt=$(runtime_dir "$host")
	mkdir -p "$rt"
	cg_create "$host"
	(
		exec 8>&- 9>&-
		cg_join "$host" "$BASHPID" || exit 1
		exec setsid ip netns exec "$ns" unshare --uts --mount --cgroup --propagation private -- sleep infinity
	) </dev/null >/dev/null 2>&1 &
	pid=$!
	for i in $(seq 1 200); do
		if [ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" != "$(readlink /proc/self/ns/mnt)" ] &&
			[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sleep ]; then
			echo "$pid" >"$rt/anchor.pid"
			# Every boot's namespaces, kept until `down`: a process of the host
			# that left its cgroups (only a root process reaching the machine's
			# cgroupfs could) is still found by them, even after a reboot
			# replaced the host's namespaces.
			echo "$(stat -L -c %i "/proc/$pid/ns/net") $(stat -L -c %i "/proc/$pid/ns/mnt")" >>"$rt/ns.ids"
			return 0
		fi
		[ -d "/proc/$pid" ] || break
		sleep 0.02
	done
	die "could not start the namespaces of $host (pid $pid, after $i tries)"
}

# Enters the anchor's namespaces before the host's /usr etc. are mounted
# (for host-mounts.sh, which must see the machine's paths).
in_anchor_raw() { # host cmd...
	local host=$1 pid
	shift
	pid=$(anchor_pid "$host") || die "no anchor for $host"
	(
		exec 8>&- 9>&-
		cg_join "$host" "$BASHPID" || exit 1
		cd /
		exec nsenter -t "$pid" -n -m -u -C -- "$@"
	)
}

# --- network reset ------------------------------------------------------------

# Network sysctls of a freshly booted kernel: read once per `up` from a new,
# empty namespace, used to reset the laptop's namespace at reboot (its
# namespace must survive the reboot because the phones' USB links live in it).
snapshot_sysctl_defaults() {
	local ns=${NS_PREFIX}pristine
	ip netns add "$ns"
	# shellcheck disable=SC2016 # the script runs inside the namespace
	ip netns exec "$ns" sh -c '
		cd /proc/sys/net || exit 1
		find . -type f -perm -u=w | sort | while read -r f; do
			case $f in */lo/* | */route/flush | */stable_secret) continue ;; esac
			v=$(cat "$f" 2>/dev/null) || continue
			printf "%s=%s\n" "${f#./}" "$v"
		done' >"$STATE_DIR/sysctl-net-defaults"
	ip netns del "$ns"
}

reset_laptop_netns() {
	local ns=${NS_PREFIX}laptop link alias ifs
	# Links the laptop created (bridges, vxlan, veths into pods, ...) vanish
	# with the kernel that made them; USB hardware stays plugged in.
	while IFS=$'\t' read -r link alias; do
		[ "$link" = lo ] && continue
		case $alias in k3ou-hw*) continue ;; esac
		ip -n "$ns" link del "$link" 2>/dev/null || true
	done < <(link_table "$ns")

	ifs=$(hw_links)
	for link in $ifs; do
		ip -n "$ns" link set dev "$link" down
		ip -n "$ns" addr flush dev "$link"
		ip -n "$ns" link set dev "$link" addrgenmode eui64 mtu 1500 2>/dev/null || true
		ip -n "$ns" link set dev "$link" nomaster 2>/dev/null || true
	done
	ip -n "$ns" route flush table all 2>/dev/null || true
	ip -n "$ns" -6 route flush table all 2>/dev/null || true
	ip -n "$ns" rule flush 2>/dev/null || true
	ip -n "$ns" rule add pref 32766 table main 2>/dev/null || true
	ip -n "$ns" rule add pref 32767 table default 2>/dev/null || true
	ip -n "$ns" -6 rule flush 2>/dev/null || true
	ip -n "$ns" -6 rule add pref 32766 table main 2>/dev/null || true
	# lo last: the flush above took its local routes (127.0.0.1, ::1) too, and
	# bringing it up again restores them (a kubelet binds 127.0.0.1:10248).
	ip -n "$ns" link set lo down
	ip -n "$ns" addr flush dev lo
	ip -n "$ns" link set lo up
	ip netns exec "$ns" nft flush ruleset
	# Legacy xtables: flush only tables that exist (touching one creates it).
	local t bin names
	for bin in iptables-legacy ip6tables-legacy; do
		command -v "$bin" >/dev/null 2>&1 || continue
		names=/proc/net/ip_tables_names
		[ "$bin" = ip6tables-legacy ] && names=/proc/net/ip6_tables_names
		for t in $(ip netns exec "$ns" cat "$names" 2>/dev/null); do
			ip netns exec "$ns" "$bin" -t "$t" -F 2>/dev/null || true
			ip netns exec "$ns" "$bin" -t "$t" -X 2>/dev/null || true
		done
	done
	# shellcheck disable=SC2086 # one argument per interface
	reset_sysctls "$ns" $ifs
	# The kernel names the re-enumerated USB NICs again; udev renames them at boot.
	for link in $ifs; do
		rename_to_kernel_name "$link"
	done
}

# The laptop-side links that stand for hardware (USB NICs), by current name.
hw_links() {
	link_table "${NS_PREFIX}laptop" | awk -F'\t' '$2 ~ /^k3ou-hw/ { print $1 }'
}

# "name<TAB>alias" for every link of a namespace.
link_table() {
	ip -n "$1" -j link show | jq -r '.[] | [.ifname, (.ifalias // "")] | @tsv'
}

reset_sysctls() { # ns hw-ifs...
	local ns=$1
	shift
	# shellcheck disable=SC2016 # the script runs inside the namespace
	ip netns exec "$ns" bash -c '
		defaults=$1; shift
		cd /proc/sys/net || exit 1
		apply() { # path value
			[ -w "$1" ] || return 0
			cur=$(cat "$1" 2>/dev/null) || return 0
			[ "$cur" = "$2" ] || printf "%s" "$2" >"$1" 2>/dev/null || true
		}
		# Global and all/default first: writing conf/all/forwarding changes every interface.
		while IFS= read -r line; do
			apply "${line%%=*}" "${line#*=}"
		done <"$defaults"
		for ifname in "$@"; do
			while IFS= read -r line; do
				p=${line%%=*}
				case $p in */default/*) apply "${p/\/default\//\/$ifname\/}" "${line#*=}" ;; esac
			done <"$defaults"
		done' _ "$STATE_DIR/sysctl-net-defaults" "$@"
}

kernel_name_for() { # alias
	case $1 in
	*" role=dongle"*) echo eth ;;
	*) echo usb ;;
	esac
}

alloc_kernel_name() { # prefix
	local n=0
	while ip -n "${NS_PREFIX}laptop" link show dev "$1$n" >/dev/null 2>&1 || ip link show dev "$1$n" >/dev/null 2>&1; do
		n=$((n + 1))
	done
	# eth0 is the machine's own NIC in the root namespace: never reuse the name.
	[ "$1$n" = eth0 ] && n=1
	echo "$1$n"
}

rename_to_kernel_name() { # current-name
	local alias prefix new
	alias=$(ip -n "${NS_PREFIX}laptop" -j link show dev "$1" | jq -r '.[0].ifalias // ""')
	prefix=$(kernel_name_for "$alias")
	case $1 in "$prefix"[0-9]*) return 0 ;; esac
	new=$(alloc_kernel_name "$prefix")
	ip -n "${NS_PREFIX}laptop" link set dev "$1" name "$new"
}

with_link_lock() {
	(
		exec 9>"$STATE_DIR/.links.lock"
		flock 9
		"$@"
	)
}

# --- LAN ------------------------------------------------------------------------

make_lan() {
	local lan=${NS_PREFIX}lan router=${NS_PREFIX}router op=${NS_PREFIX}operator laptop=${NS_PREFIX}laptop ns
	for ns in "$lan" "$router" "$op" "$laptop"; do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
	done
	# The household switch. STP off, like a consumer switch: ports forward at once.
	ip -n "$lan" link add br0 type bridge stp_state 0
	ip -n "$lan" link set br0 up

	lab_link_add "$lan" lan-router "$router" lan0
	lab_link_add "$lan" lan-operator "$op" lan0
	# The laptop's USB dongle, born with a kernel name; the laptop's udev
	# (netplan's match/set-name rule) names it wan0 at boot.
	lab_link_add "$lan" lan-laptop "$laptop" eth1
	ip -n "$laptop" link set dev eth1 address "$LAPTOP_MAC"
	ip -n "$laptop" link set dev eth1 alias \
		"k3ou-hw bus=usb role=dongle path=${USB_CONTROLLER}-usb-0:${DONGLE_PORT}:1.0 driver=r8152 vid=0bda pid=8153 vendor=Realtek model=USB_10/100/1000_LAN serial=000001"
	for ns in lan-router lan-operator lan-laptop; do
		ip -n "$lan" link set "$ns" master br0 up
	done

	ip -n "$router" addr add "$LAN_GATEWAY/24" dev lan0
	ip -n "$router" link set lan0 up
	# No uplink, no default route: anything not for the LAN dies here.
	ip netns exec "$router" nft -f - <<-EOF
		table inet k3ou-router {
			chain forward {
				type filter hook forward priority 0; policy drop;
				counter comment "the lab router has no uplink: nothing is forwarded"
			}
		}
	EOF

	# The router's DNS resolver, as a household router has one: lan-dns.py answers the lab's own
	# names (registry.k3ou.lab) and recurses nowhere; its log names who asked. It must not keep the
	# lab's lock files (fds 8 and 9) open, or every later lab command would wait for it.
	mkdir -p "$(host_dir router)"
	ip netns exec "$router" setsid python3 "$LAB_DIR/lib/lan-dns.py" "$LAN_GATEWAY" "registry.k3ou.lab=$LAN_GATEWAY" \
		>"$(host_dir router)/dns.log" 2>&1 </dev/null 8>&- 9>&- &
	local i
	for i in $(seq 1 50); do
		ip netns exec "$router" ss -Hlun 'sport = :53' | grep -q . && break
		[ "$i" -lt 50 ] || die "router: its DNS stand-in did not start (see $(host_dir router)/dns.log)"
		sleep 0.1
	done

	ip -n "$op" addr add "$OPERATOR_IP/24" dev lan0
	ip -n "$op" link set lan0 up
	ip -n "$op" route add default via "$LAN_GATEWAY"
}

# --- laptop -----------------------------------------------------------------------

boot_laptop() {
	local rt d
	rt=$(runtime_dir laptop)
	d="$(host_dir laptop)/disk"
	start_anchor laptop
	in_anchor_raw laptop env K3OU_LAB_CGROUPS="$STATE_DIR/cgroups" bash "$LAB_DIR/lib/host-mounts.sh" laptop "$d" "$LAB_DIR" >>"$rt/boot.log" 2>&1 ||
		die "laptop: mounting its filesystems failed (see $rt/boot.log)"
	in_host laptop /usr/bin/python3 /usr/lib/k3ou-lab/standins/laptop/lab-boot >>"$rt/boot.log" 2>&1 ||
		die "laptop: boot failed (see $rt/boot.log)"
	date +%s >"$rt/booted"
}

stop_laptop() {
	local rt
	rt=$(runtime_dir laptop)
	if host_running laptop; then
		# A clean shutdown first, as `reboot` does: stop units in reverse order.
		in_host laptop timeout 20 /usr/bin/systemctl --lab-shutdown >>"$rt/boot.log" 2>&1 || true
	fi
	kill_host laptop
	rm -f "$rt/anchor.pid" "$rt/booted"
	# A rebooted machine starts with empty cgroups (no kubepods of the last boot).
	cg_remove laptop || die "laptop: its cgroups could not be removed"
	reset_laptop_netns
	echo "--- reboot $(date -u +%FT%TZ) ---" >>"$rt/boot.log"
}

# --- phones -------------------------------------------------------------------------

# Plugs the phone's USB gadget into the laptop: a new veth pair whose laptop
# end is a freshly enumerated USB NIC (kernel name usbN, MAC = the gadget's
# host_addr) and whose phone end is usb0 (a new random MAC every boot: there is
# no dev_addr knob, postmarketos.md 2.2).
plug_usb() { # phone host_addr serial product manufacturer vid pid driver
	local phone=$1 host_addr=$2 serial=$3 product=$4 mfr=$5 vid=$6 pid=$7 driver=$8 ns kname port
	ns=$(ns_of "$phone")
	port=$(phone_field "$phone" port)
	kname=$(alloc_kernel_name usb)
	lab_link_add "${NS_PREFIX}laptop" "$kname" "$ns" usb0
	ip -n "${NS_PREFIX}laptop" link set dev "$kname" address "$host_addr"
	ip -n "$ns" link set dev usb0 address "$(random_laa_mac)"
	ip -n "${NS_PREFIX}laptop" link set dev "$kname" alias \
		"k3ou-hw bus=usb role=gadget phone=$phone path=$port driver=$driver vid=$vid pid=$pid vendor=${mfr// /_} model=${product// /_} serial=${serial// /_}"
	echo "$kname"
}

boot_phone() { # phone
	local phone=$1 ns rt d part info k v kname host_addr serial product mfr vid pid driver host_ip
	ns=$(ns_of "$phone")
	rt=$(runtime_dir "$phone")
	d="$(host_dir "$phone")/disk"
	part="$(host_dir "$phone")/partitions/boot_a"
	mkdir -p "$rt"
	echo "--- boot $(date -u +%FT%TZ) ---" >>"$rt/boot.log"

	ip netns add "$ns"
	ip -n "$ns" link set lo up
	start_anchor "$phone"
	in_anchor_raw "$phone" env K3OU_LAB_CGROUPS="$STATE_DIR/cgroups" K3OU_LAB_BUSYBOX="$PHONE_BUSYBOX" bash "$LAB_DIR/lib/host-mounts.sh" phone "$d" "$LAB_DIR" "$part" >>"$rt/boot.log" 2>&1 ||
		die "$phone: mounting its filesystems failed (see $rt/boot.log)"

	if [ -e "$(host_dir "$phone")/partitions/.factory-flash-pending" ]; then
		# pmbootstrap install + flash: the factory image's boot.img is what
		# mkinitfs/boot-deploy produce from the installed files.
		echo "--- factory flash (pmbootstrap flasher flash_kernel) ---" >>"$rt/boot.log"
		in_host "$phone" mkinitfs >>"$rt/boot.log" 2>&1 || die "$phone: factory mkinitfs failed (see $rt/boot.log)"
		rm -f "$(host_dir "$phone")/partitions/.factory-flash-pending"
	fi

	# The bootloader: DTB and initramfs from the flashed boot partition.
	rm -rf "$rt/fw"
	mkdir -p "$rt/fw"
	if ! info=$(python3 "$LAB_DIR/lib/bootloader.py" "$part" "$rt/fw" 2>>"$rt/boot.log"); then
		echo "bootloader" >"$rt/stuck"
		die "$phone: does not boot: no valid boot image in its boot partition (see $rt/boot.log; fix: lab.sh reflash $phone)"
	fi
	rm -f "$rt/stuck"
	tar -C "$rt/fw" -cf - devicetree | in_host "$phone" sh -c '
		mount -t tmpfs -o mode=0755 tmpfs /sys/firmware &&
		tar -C /sys/firmware -xf - &&
		mount -o remount,ro /sys/firmware' >>"$rt/boot.log" 2>&1 ||
		die "$phone: could not publish its device tree (see $rt/boot.log)"

	host_addr="" serial=postmarketOS product="" mfr="" vid=18d1 pid=d001 driver=cdc_ncm host_ip=172.16.42.1
	while IFS='=' read -r k v; do
		case $k in
		deviceinfo_usb_network_host_addr) host_addr=$v ;;
		deviceinfo_usb_serialnumber) serial=$v ;;
		deviceinfo_name) product=$v ;;
		deviceinfo_manufacturer) mfr=$v ;;
		deviceinfo_usb_idVendor) vid=${v#0x} ;;
		deviceinfo_usb_idProduct) pid=${v#0x} ;;
		deviceinfo_usb_network_function) [ "${v%%.*}" = rndis ] && driver=rndis_host ;;
		unudhcpd_host_ip) host_ip=$v ;;
		esac
	done <<<"$info"
	printf '%s\n' "$info" >"$rt/bootinfo"
	vid=$(echo "$vid" | tr 'A-F' 'a-f')
	pid=$(echo "$pid" | tr 'A-F' 'a-f')
	if ! echo "$host_addr" | grep -Eq '^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$'; then
		host_addr=$(random_laa_mac)
	fi

	# Initramfs: the gadget appears on the laptop's bus, usb0 gets its address.
	if ! kname=$(with_link_lock plug_usb "$phone" "$host_addr" "$serial" "$product" "$mfr" "$vid" "$pid" "$driver") || [ -z "$kname" ]; then
		die "$phone: could not plug its USB link into the laptop"
	fi
	echo "$kname" >"$rt/usb-kernel-name"
	in_host "$phone" busybox ifconfig usb0 "$host_ip" up >>"$rt/boot.log" 2>&1 ||
		die "$phone: initramfs could not configure usb0 (see $rt/boot.log)"
	if host_running laptop; then
		in_host laptop /usr/bin/python3 /usr/lib/k3ou-lab/standins/laptop/lab-hotplug add "$kname" >>"$(runtime_dir laptop)/boot.log" 2>&1 ||
			log "$phone: the laptop's udev/networkd stand-in failed on $kname (see $(runtime_dir laptop)/boot.log)"
	fi

	# switch_root; OpenRC: sysinit, boot, default.
	in_host "$phone" sh -c 'openrc sysinit && openrc boot && openrc default' >>"$rt/boot.log" 2>&1 ||
		die "$phone: OpenRC boot failed (see $rt/boot.log)"
	date +%s >"$rt/booted"
}

stop_phone() { # phone
	local phone=$1 rt
	rt=$(runtime_dir "$phone")
	if host_running "$phone"; then
		# `reboot` runs the shutdown runlevel first (services' stop(): nftables
		# save_on_stop, rfkill SAVE_ON_STOP, local.d *.stop).
		in_host "$phone" timeout 20 openrc shutdown >>"$rt/boot.log" 2>&1 || true
	fi
	kill_host "$phone"
	rm -f "$rt/anchor.pid" "$rt/booted"
	# The phone's kernel is gone: its whole network namespace (usb0, routes,
	# nft ruleset, sysctls, vxlan/cni devices) goes with it, and the laptop
	# side of the USB link disappears (USB disconnect).
	if ns_exists "$(ns_of "$phone")"; then
		ip netns del "$(ns_of "$phone")"
	fi
	cg_remove "$phone" || die "$phone: its cgroups could not be removed"
}
