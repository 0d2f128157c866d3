#!/usr/bin/env bash
# The k3s-over-usb lab: the seed's household (a laptop and pmOS phones, each
# phone on its own USB cable to the laptop) simulated in network namespaces on
# this machine, so the project's remote steps run for real over SSH.
#
#   lab.sh up [--phones N]        build the household at day zero and boot it
#   lab.sh down                   remove everything the lab made
#   lab.sh status [--json]        hosts, state, and the contract for tests
#   lab.sh reboot HOST            reboot one host (keeps its disk)
#   lab.sh reflash PHONE          back to day zero (new host key), then boot
#   lab.sh kernel-upgrade PHONE   stock DTBs over /boot/dtbs, then mkinitfs
#   lab.sh unplug PHONE           pull its USB cable (the phone runs on, on battery)
#   lab.sh plug PHONE             plug it back in (the laptop enumerates it anew)
#   lab.sh exec HOST -- CMD...    run a command inside a host, as root
#   lab.sh pids HOST              every process of a host (its pods included)
#
# HOST is laptop (or k3master) or a phone name (one6t, one62, one61, phone04..);
# exec also takes router and operator (network namespaces only).
# See lab/README.md for what is real and what stands in for hardware.
set -euo pipefail

LAB_DIR=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
# shellcheck source=lib/common.sh
. "$LAB_DIR/lib/common.sh"
# shellcheck source=lib/disk.sh
. "$LAB_DIR/lib/disk.sh"
# shellcheck source=lib/hosts.sh
. "$LAB_DIR/lib/hosts.sh"

usage() {
	sed -n '6,19p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-2}"
}

host_arg() { # name -> canonical host id
	case $1 in
	laptop | "$LAPTOP_NAME") echo laptop ;;
	*)
		is_phone "$1" || die "unknown host '$1' (hosts: laptop ${PHONES[*]})"
		echo "$1"
		;;
	esac
}

# --- up -------------------------------------------------------------------------

cmd_up() {
	local n=3 start i name dev port hash failed=0
	while [ $# -gt 0 ]; do
		case $1 in
		--phones)
			n=${2:-}
			shift
			;;
		--phones=*) n=${1#*=} ;;
		*) die "up: unknown argument '$1'" ;;
		esac
		shift
	done
	if ! [[ $n =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ] || [ "$n" -gt 99 ]; then die "up: --phones must be 1..99, got '$n'"; fi
	need_root up
	need_root_ns
	[ -x "$PHONE_BUSYBOX" ] || die "no $PHONE_BUSYBOX (the phones' busybox): run lab/setup.sh"
	if [ -e "$STATE_DIR/lab.conf" ] || [ -n "$(existing_lab_namespaces)" ]; then
		die "the lab is already up (or left over): run lab.sh down first"
	fi
	start=$(date +%s.%N)
	mkdir -p "$STATE_DIR"
	chmod 0700 "$STATE_DIR"
	# The lab's disks live in memory: the machine's disk is mounted with
	# discard, which makes creating and deleting thousands of small files
	# (a copy of /etc per host) slow. Hosts keep their disks across reboots;
	# `down` throws everything away anyway. The size is a cap, not a reservation:
	# a host with the lab's k3s installed holds about 1 GB (the binary and the
	# air-gap images with MetalLB's, staged and installed, and containerd's
	# unpacked images).
	if [ -z "${K3OU_LAB_STATE_ON_DISK:-}" ]; then
		mount -t tmpfs -o "mode=0700,size=$((1024 + 1100 * (n + 1)))m" k3ou-lab-state "$STATE_DIR"
	fi
	mkdir -p "$STATE_DIR/operator" "$STATE_DIR/dtb"
	# Every host's k3s (containerd, kubelet, kube-proxy, flannel) holds inotify instances, all of them
	# root's, and the kernel allows 128 per user by default: about 20 phones ran it out (kubelet:
	# "inotify_init: too many open files", the node never Ready). A larger household raises the
	# limit for as long as the lab is up (as kind's documentation advises for many nodes); down
	# puts the machine's value back. Three phones never change it.
	local inotify_need inotify_now
	inotify_need=$((64 + 16 * (n + 1)))
	inotify_now=$(cat /proc/sys/fs/inotify/max_user_instances)
	if [ "$inotify_now" -lt "$inotify_need" ]; then
		echo "$inotify_now" >"$STATE_DIR/inotify-instances-was"
		echo "$inotify_need" >/proc/sys/fs/inotify/max_user_instances
		log "fs.inotify.max_user_instances: $inotify_now -> $inotify_need while the lab is up ($n phones)"
	fi
	cg_plan >"$STATE_DIR/cgroups"
	root_ns_snapshot >"$STATE_DIR/root-ns.before"
	if mountpoint -q /run/netns 2>/dev/null; then echo yes; else echo no; fi >"$STATE_DIR/run-netns-was-mounted"

	PHONES=()
	for i in $(seq 1 "$n"); do
		read -r name _ _ <<<"$(phone_spec "$i")"
		PHONES+=("$name")
	done
	PHONE_COUNT=$n
	index_phones
	{
		echo "# written by lab.sh up; read by every other command"
		printf 'PHONE_COUNT=%d\n' "$n"
		printf 'PHONES=(%s)\n' "${PHONES[*]}"
		printf 'LAB_DIR_AT_UP=%q\n' "$LAB_DIR"
	} >"$STATE_DIR/lab.conf"
	# A failure part-way must not leave a half-built lab behind.
	UP_DONE=0
	trap 'if [ "$UP_DONE" = 0 ]; then log "up failed; tearing the lab down (set K3OU_LAB_KEEP_FAILED=1 to keep it)"; [ -n "${K3OU_LAB_KEEP_FAILED:-}" ] || cmd_down >/dev/null 2>&1 || true; fi' EXIT

	log "operator key, device trees, sysctl defaults"
	ssh-keygen -q -t ed25519 -N '' -C k3s-over-usb-lab-operator -f "$STATE_DIR/operator/id_ed25519"
	chmod 0600 "$STATE_DIR/operator/id_ed25519"
	for dev in enchilada fajita; do
		dtc -q -I dts -O dtb -o "$STATE_DIR/dtb/sdm845-oneplus-$dev.dtb" "$LAB_DIR/devicetree/sdm845-oneplus-$dev.dts"
	done
	snapshot_sysctl_defaults
	# The phone user's password as pmbootstrap would set it (the lab uses keys).
	hash=$(openssl passwd -6 147147)

	log "household LAN: switch, router, operator workstation, laptop's dongle"
	make_lan

	log "laptop ($LAPTOP_NAME): day-zero disk, boot"
	make_laptop_disk
	boot_laptop

	log "phones: day-zero disks (${PHONES[*]})"
	for i in $(seq 1 "$n"); do
		read -r name dev port <<<"$(phone_spec "$i")"
		make_phone_disk "$name" "$dev" "$hash"
	done

	log "phones: factory flash and boot"
	# Boot in parallel, a few at a time: each boot is mostly waiting on
	# processes, and the machine has 2 cores.
	# Each boot's exit status goes to a file: `wait -n` reaps jobs, and a later `wait PID` of a reaped
	# job can fail ("not a child of this shell") however that boot went. (A bare `wait` would also
	# wait for the laptop's own background processes, for ever.)
	local jobs=${K3OU_LAB_PARALLEL:-6} boots=() b
	for name in "${PHONES[@]}"; do
		while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
		{
			set +e
			(
				set -e
				boot_phone "$name"
			)
			echo "$?" >"$STATE_DIR/boot-status.$name"
		} &
		boots+=($!)
	done
	for b in "${boots[@]}"; do wait "$b" 2>/dev/null || true; done
	for name in "${PHONES[@]}"; do
		[ "$(cat "$STATE_DIR/boot-status.$name" 2>/dev/null)" = 0 ] || failed=1
	done
	[ "$failed" -eq 0 ] || die "at least one phone failed to boot (see $STATE_DIR/<phone>/runtime/boot.log)"

	wait_ssh_all
	UP_DONE=1
	check_root_ns "$STATE_DIR/root-ns.before" "after up"
	log "up: $n phones in $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s"
	cmd_status
}

# sshd of every host answers on its address (the laptop from the operator's
# LAN, each phone on its usb0 from inside itself: the operator cannot reach it).
wait_ssh_all() {
	local host deadline
	deadline=$((SECONDS + 30))
	for host in laptop "${PHONES[@]}"; do
		until port_open "$host"; do
			[ "$SECONDS" -lt "$deadline" ] || die "$host: sshd did not come up (see $(runtime_dir "$host")/boot.log)"
			sleep 0.1
		done
	done
}

port_open() { # host: is something listening on tcp/22 in its namespace?
	ip netns exec "$(ns_of "$1")" ss -Hltn 'sport = :22' 2>/dev/null | grep -q LISTEN
}

# --- down -------------------------------------------------------------------------

cmd_down() {
	need_root down
	need_root_ns
	local host ns
	if [ -f "$STATE_DIR/lab.conf" ]; then
		# shellcheck source=/dev/null
		. "$STATE_DIR/lab.conf"
	else
		PHONES=()
	fi
	# Every process of every host, wherever it is (pods would be in other
	# network namespaces, but in the host's cgroup).
	kill_host "${PHONES[@]}" laptop 2>/dev/null || true
	# Every namespace any host had since `up` (reboots included): nothing may
	# still run in one, wherever its parent went.
	local ids
	ids=$(mktemp)
	cat "$STATE_DIR"/*/runtime/ns.ids >"$ids" 2>/dev/null || true
	# shellcheck disable=SC2046 # one argument per pid
	kill -KILL $(ns_member_pids "$ids") 2>/dev/null || true
	for ns in $(existing_lab_namespaces); do
		for host in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$host" 2>/dev/null || true; done
		ip netns del "$ns"
	done
	# Whatever is still in a lab cgroup (containers of a host lab.conf does
	# not name, a lab brought up from another cgroup).
	local i pids
	for i in $(seq 1 100); do
		pids=$(cg_lab_pids)
		[ -z "$pids" ] && break
		# shellcheck disable=SC2086 # one argument per pid
		kill -KILL $pids 2>/dev/null || true
		sleep 0.05
	done
	cg_remove "" || true
	local before=""
	[ -f "$STATE_DIR/root-ns.before" ] && before=$(cat "$STATE_DIR/root-ns.before")
	if [ "$(cat "$STATE_DIR/run-netns-was-mounted" 2>/dev/null)" = no ] &&
		mountpoint -q /run/netns && [ -z "$(ls -A /run/netns)" ]; then
		umount /run/netns && rmdir /run/netns
	fi
	if [ -f "$STATE_DIR/inotify-instances-was" ]; then
		cat "$STATE_DIR/inotify-instances-was" >/proc/sys/fs/inotify/max_user_instances
	fi
	local boot
	for boot in "$STATE_DIR"/*/disk/boot; do
		if mountpoint -q "$boot"; then umount "$boot" || umount -l "$boot"; fi
	done
	if mountpoint -q "$STATE_DIR"; then
		umount "$STATE_DIR" || umount -l "$STATE_DIR"
	fi
	case $STATE_DIR in /var/lib/* | /tmp/*) rm -rf "$STATE_DIR" ;; *) die "refusing to remove unexpected state dir $STATE_DIR" ;; esac
	rm -f "$GLOBAL_LOCK"
	leftovers "$ids"
	if [ -n "$before" ]; then
		check_root_ns <(printf '%s\n' "$before") "after down"
	fi
	log "down: nothing of the lab is left"
}

# Fails if anything the lab makes still exists.
leftovers() { # ns-ids-file
	local bad=""
	sleep 0.1
	[ -z "$(ns_member_pids "$1")" ] || bad="$bad processes($(ns_member_pids "$1" | tr '\n' ' '))"
	rm -f "$1"
	[ -n "$(existing_lab_namespaces)" ] && bad="$bad namespaces"
	[ -e "$STATE_DIR" ] && bad="$bad state-dir"
	grep -q -e k3ou-lab -e k3s-over-usb-lab /proc/self/mountinfo && bad="$bad mounts"
	[ -n "$(cg_lab_dirs)" ] && bad="$bad cgroups($(cg_lab_dirs | tr '\n' ' '))"
	[ -z "$bad" ] || die "down left behind:$bad"
}

# --- status -------------------------------------------------------------------------

host_key() { cut -d' ' -f1,2 "$(host_dir "$1")/disk/etc/ssh/ssh_host_ed25519_key.pub"; }

host_state() {
	local rt
	rt=$(runtime_dir "$1")
	if host_running "$1"; then
		echo running
	elif [ -e "$rt/stuck" ]; then
		echo "stuck-in-bootloader"
	else
		echo stopped
	fi
}

cmd_status() {
	load_conf
	if [ "${1:-}" = --json ]; then
		status_json
		return
	fi
	[ "$#" -eq 0 ] || die "status: unknown argument '$1'"
	local name dev port
	printf '%-10s %-20s %-17s %-24s %-9s %s\n' HOST DEVICE NETNS ADDRESS STATE "LAPTOP IFACE"
	printf '%-10s %-20s %-17s %-24s %-9s %s\n' router - "$(ns_of router)" "$LAN_GATEWAY" up -
	printf '%-10s %-20s %-17s %-24s %-9s %s\n' operator - "$(ns_of operator)" "$OPERATOR_IP" up -
	printf '%-10s %-20s %-17s %-24s %-9s %s\n' laptop "$LAPTOP_NAME (ubuntu)" "$(ns_of laptop)" "$LAPTOP_IP (wan0)" "$(host_state laptop)" -
	for name in "${PHONES[@]}"; do
		dev=$(phone_field "$name" device)
		port=$(phone_field "$name" port)
		printf '%-10s %-20s %-17s %-24s %-9s %s\n' "$name" "$dev" "$(ns_of "$name")" "usb0 @ ${port#*-usb-0:}" \
			"$(host_state "$name")" "$(laptop_iface_of "$port")"
	done
	echo
	echo "operator: ip netns exec $(ns_of operator) ssh -i $STATE_DIR/operator/id_ed25519 $LAPTOP_USER@$LAPTOP_IP"
}

laptop_iface_of() { # port -> current laptop-side name of that phone's link
	[ -n "${LAPTOP_LINKS+set}" ] || LAPTOP_LINKS=$(link_table "$(ns_of laptop)" 2>/dev/null || true)
	printf '%s\n' "$LAPTOP_LINKS" | awk -F'\t' -v p="path=$1 " 'index($2 " ", p) { print $1 }'
}

status_json() {
	local name dev port phones=()
	for name in "${PHONES[@]}"; do
		dev=$(phone_field "$name" device)
		port=$(phone_field "$name" port)
		phones+=("$(jq -n --arg name "$name" --arg device "$dev" --arg netns "$(ns_of "$name")" \
			--arg hubPort "$port" --arg ifz "$(path_ifname "$port")" --arg user "$PHONE_USER" \
			--arg hostKey "$(host_key "$name")" --arg state "$(host_state "$name")" \
			--arg iface "$(laptop_iface_of "$port")" \
			'{name: $name, device: $device, netns: $netns, hubPort: $hubPort, laptopIfaceDayZero: $ifz,
			  user: $user, hostKey: $hostKey, dayZeroHostname: $device, initSystem: "openrc",
			  state: $state, laptopIface: $iface}')")
	done
	jq -n --arg stateDir "$STATE_DIR" --arg opns "$(ns_of operator)" \
		--arg key "$STATE_DIR/operator/id_ed25519" --arg pub "$(cut -d' ' -f1,2 "$STATE_DIR/operator/id_ed25519.pub")" \
		--arg cidr "$LAN_CIDR" --arg gw "$LAN_GATEWAY" --arg rns "$(ns_of router)" --arg opip "$OPERATOR_IP" \
		--arg lns "$(ns_of laptop)" --arg lip "$LAPTOP_IP" --arg luser "$LAPTOP_USER" \
		--arg lkey "$(host_key laptop)" --arg lmac "$LAPTOP_MAC" --arg usbc "$USB_CONTROLLER" \
		--arg lname "$LAPTOP_NAME" --arg lstate "$(host_state laptop)" \
		--argjson phones "$(printf '%s\n' "${phones[@]}" | jq -s .)" \
		'{stateDir: $stateDir, operatorNetns: $opns, sshPrivateKeyPath: $key, sshPublicKey: $pub,
		  lan: {cidr: $cidr, gateway: $gw},
		  router: {netns: $rns, address: $gw},
		  operator: {netns: $opns, address: $opip},
		  laptop: {name: $lname, netns: $lns, address: $lip, user: $luser, hostKey: $lkey,
		           lanInterface: "wan0", lanMac: $lmac, usbControllerPath: $usbc, state: $lstate},
		  phones: $phones}'
}

# --- reboot / reflash / kernel-upgrade / exec ----------------------------------------

cmd_reboot() {
	[ $# -eq 1 ] || die "usage: lab.sh reboot HOST"
	need_root reboot
	need_root_ns
	load_conf
	local host
	host=$(host_arg "$1")
	if [ "$host" = laptop ]; then
		stop_laptop
		boot_laptop
	else
		stop_phone "$host"
		boot_phone "$host"
	fi
	wait_ssh "$host"
	log "reboot: $host is up"
}

wait_ssh() {
	local deadline=$((SECONDS + 30))
	until port_open "$1"; do
		[ "$SECONDS" -lt "$deadline" ] || die "$1: sshd did not come up (see $(runtime_dir "$1")/boot.log)"
		sleep 0.1
	done
}

cmd_reflash() {
	[ $# -eq 1 ] || die "usage: lab.sh reflash PHONE"
	need_root reflash
	need_root_ns
	load_conf
	local phone dev
	phone=$(host_arg "$1")
	[ "$phone" != laptop ] || die "reflash: only phones can be reflashed"
	dev=$(phone_field "$phone" device)
	stop_phone "$phone"
	drop_phone_disk "$phone"
	make_phone_disk "$phone" "$dev" "$(openssl passwd -6 147147)"
	boot_phone "$phone"
	wait_ssh "$phone"
	log "reflash: $phone is back at day zero (new host key: $(host_key "$phone"))"
}

# The laptop's end of a phone's cable, found by the hardware alias lab.sh gave it: "NAME" in NS.
cable_end() { # ns phone
	link_table "$1" | awk -F'\t' -v want="phone=$2" '$2 ~ /^k3ou-hw/ { n = split($2, f, " "); for (i = 1; i <= n; i++) if (f[i] == want) { print $1; exit } }'
}

# Unplugged, the laptop's USB NIC disappears; the phone (on battery) keeps its gadget usb0, with
# no carrier and its address. The laptop's end waits in the drawer namespace, down, so that
# plugging back is the same gadget (same MAC) enumerated anew under a fresh kernel name.
cmd_unplug() {
	[ $# -eq 1 ] || die "usage: lab.sh unplug PHONE"
	need_root unplug
	need_root_ns
	load_conf
	local phone name drawer=${NS_PREFIX}drawer
	phone=$(host_arg "$1")
	[ "$phone" != laptop ] || die "unplug: only phones hang on a cable"
	host_running "$phone" || die "$phone is not running"
	name=$(cable_end "${NS_PREFIX}laptop" "$phone")
	[ -n "$name" ] || die "$phone: no cable in the laptop (already unplugged? lab.sh plug $phone)"
	ns_exists "$drawer" || ip netns add "$drawer"
	ip -n "${NS_PREFIX}laptop" link set dev "$name" down
	ip -n "${NS_PREFIX}laptop" link set dev "$name" netns "$drawer"
	log "unplug: $phone's cable is out (the laptop's $name is gone)"
}

cmd_plug() {
	[ $# -eq 1 ] || die "usage: lab.sh plug PHONE"
	need_root plug
	need_root_ns
	load_conf
	local phone name kname drawer=${NS_PREFIX}drawer
	phone=$(host_arg "$1")
	[ "$phone" != laptop ] || die "plug: only phones hang on a cable"
	host_running "$phone" || die "$phone is not running"
	name=""
	ns_exists "$drawer" && name=$(cable_end "$drawer" "$phone")
	[ -n "$name" ] || die "$phone: its cable is not unplugged"
	# shellcheck disable=SC2317,SC2329 # run through with_link_lock
	replug() {
		kname=$(alloc_kernel_name usb)
		ip -n "$drawer" link set dev "$name" name "$kname"
		ip -n "$drawer" link set dev "$kname" netns "${NS_PREFIX}laptop"
		echo "$kname"
	}
	kname=$(with_link_lock replug) || die "$phone: could not plug its cable back in"
	echo "$kname" >"$(runtime_dir "$phone")/usb-kernel-name"
	if host_running laptop; then
		in_host laptop /usr/bin/python3 /usr/lib/k3ou-lab/standins/laptop/lab-hotplug add "$kname" >>"$(runtime_dir laptop)/boot.log" 2>&1 ||
			log "$phone: the laptop's udev/networkd stand-in failed on $kname (see $(runtime_dir laptop)/boot.log)"
	fi
	log "plug: $phone's cable is back in (the laptop enumerated it as $kname)"
}

cmd_kernel_upgrade() {
	[ $# -eq 1 ] || die "usage: lab.sh kernel-upgrade PHONE"
	need_root kernel-upgrade
	load_conf
	local phone
	phone=$(host_arg "$1")
	[ "$phone" != laptop ] || die "kernel-upgrade: only phones run linux-postmarketos-qcom-sdm845"
	host_running "$phone" || die "$phone is not running"
	# What apk does for a kernel upgrade: the package's files replace the
	# DTBs (undoing any patch there), then the mkinitfs trigger runs.
	tar -C "$STATE_DIR/dtb" -cf - . | in_host "$phone" sh -c '
		set -e
		tar -C /boot/dtbs/qcom -xf - --no-same-owner
		echo "(1/1) Upgrading linux-postmarketos-qcom-sdm845 (lab: stock DTBs reinstalled)"
		echo "Executing postmarketos-mkinitfs trigger"
		mkinitfs'
}

cmd_pids() {
	[ $# -eq 1 ] || die "usage: lab.sh pids HOST"
	load_conf
	host_pids "$(host_arg "$1")"
}

cmd_exec() {
	[ $# -ge 1 ] || die "usage: lab.sh exec HOST -- CMD..."
	load_conf
	local host
	case $1 in
	router | operator)
		# Namespaces only (no filesystem of their own): the household's
		# router and the operator's workstation.
		host=$1
		shift
		[ "${1:-}" = -- ] && shift
		[ $# -ge 1 ] || die "usage: lab.sh exec HOST -- CMD..."
		exec ip netns exec "$(ns_of "$host")" "$@"
		;;
	esac
	host=$(host_arg "$1")
	shift
	[ "${1:-}" = -- ] && shift
	[ $# -ge 1 ] || die "usage: lab.sh exec HOST -- CMD..."
	in_host "$host" "$@"
}

main() {
	local cmd=${1:-}
	[ $# -gt 0 ] && shift
	case $cmd in -h | --help | help | "") ;; *) need_root "$cmd" ;; esac
	case $cmd in
	up | down | reboot | reflash | kernel-upgrade)
		# One mutating command at a time (tests may call reboot in parallel).
		# Every child closes fd 8 (see in_host), so no host keeps the lock.
		exec 8>"$GLOBAL_LOCK"
		flock 8
		;;
	esac
	case $cmd in
	up) cmd_up "$@" ;;
	down) cmd_down "$@" ;;
	status) cmd_status "$@" ;;
	reboot) cmd_reboot "$@" ;;
	reflash) cmd_reflash "$@" ;;
	kernel-upgrade) cmd_kernel_upgrade "$@" ;;
	unplug) cmd_unplug "$@" ;;
	plug) cmd_plug "$@" ;;
	exec) cmd_exec "$@" ;;
	pids) cmd_pids "$@" ;;
	-h | --help | help) usage 0 ;;
	*) usage ;;
	esac
}

main "$@"
