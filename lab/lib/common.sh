# shellcheck shell=bash
# Shared constants and helpers for lab.sh. Sourced, never executed.
#
# Safety model (see README "Safety"): the machine's own network namespace is
# never touched. Every interface the lab creates is created with both ends
# already inside k3ou-* namespaces, and lab_link_add refuses any name that
# exists in the root namespace before it even asks the kernel.

# shellcheck disable=SC2034 # the constants are used by the files that source this one
STATE_DIR=${K3OU_LAB_STATE:-/var/lib/k3s-over-usb-lab}
NS_PREFIX=k3ou-
GLOBAL_LOCK=/run/k3ou-lab.lock

LAN_CIDR=192.168.100.0/24
LAN_GATEWAY=192.168.100.1
OPERATOR_IP=192.168.100.10
LAPTOP_IP=192.168.100.52
# The household's wan0 dongle (household.md names 9c:69:d3:4a:f4:a9 and c8:4d:44:35:0b:46).
LAPTOP_MAC=9c:69:d3:4a:f4:a9
LAPTOP_NAME=k3master
LAPTOP_USER=ubuntu
PHONE_USER=user
USB_CONTROLLER="pci-0000:00:14.0"
# The dongle sits on a root port of the same xHCI controller.
DONGLE_PORT=1

# Everything a host process sees in PATH, whatever the caller had.
HOST_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# The phones' busybox: Debian's dynamic build, which setup.sh takes out of its
# .deb (the machine has busybox-static, whose ash prefers its own applets).
PHONE_BUSYBOX=${K3OU_LAB_BUSYBOX:-/var/cache/k3s-over-usb/lab/busybox}

log() { printf 'lab: %s\n' "$*" >&2; }
die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }

need_root() {
	[ "$(id -u)" -eq 0 ] || die "must run as root (it creates network namespaces); try: sudo $0 $*"
}

# Mutating commands must run from the machine's own namespaces, or the
# before/after comparison of the "root" namespace would compare the wrong one.
need_root_ns() {
	# kthreadd (pid 2) always lives in the initial namespace; pid 1 may be
	# unreadable (this machine's init is not ours to inspect).
	local init_ns
	init_ns=$(readlink /proc/2/ns/net 2>/dev/null || readlink /proc/1/ns/net 2>/dev/null) ||
		die "cannot tell which network namespace is the machine's own"
	[ "$(readlink /proc/self/ns/net)" = "$init_ns" ] ||
		die "run lab.sh from the machine's root network namespace, not from inside a lab host"
}

ns_of() { printf '%s%s' "$NS_PREFIX" "$1"; }
host_dir() { printf '%s/%s' "$STATE_DIR" "$1"; }
runtime_dir() { printf '%s/%s/runtime' "$STATE_DIR" "$1"; }

ns_exists() { [ -e "/run/netns/$1" ]; }

# The namespaces this lab owns. Only these are ever created or deleted: other
# tools on the machine may use the same k3ou- prefix.
lab_namespaces() { # phone names...
	local p
	for p in lan router operator laptop pristine drawer "$@"; do
		printf '%s%s\n' "$NS_PREFIX" "$p"
	done
}

# Lab namespaces that exist now: the fixed ones and every phone name the lab
# can give (seed names, phone04..phone99), whatever lab.conf says.
existing_lab_namespaces() {
	local f n
	for f in /run/netns/"$NS_PREFIX"*; do
		[ -e "$f" ] || continue
		n=${f##*/}
		case ${n#"$NS_PREFIX"} in
		lan | router | operator | laptop | pristine | drawer | one6t | one62 | one61 | phone[0-9][0-9]) echo "$n" ;;
		esac
	done
}

# --- phones -----------------------------------------------------------------

# The seed's three phones, then phone04.. on further hub ports (7 per hub).
# Prints: name device hubPort
phone_spec() {
	local i=$1
	case $i in
	1) echo "one6t oneplus-fajita ${USB_CONTROLLER}-usb-0:5.2:1.0" ;;
	2) echo "one62 oneplus-enchilada ${USB_CONTROLLER}-usb-0:5.3:1.0" ;;
	3) echo "one61 oneplus-enchilada ${USB_CONTROLLER}-usb-0:5.1:1.0" ;;
	*)
		local k=$((i - 4)) dev=oneplus-enchilada
		[ $((i % 2)) -eq 1 ] && dev=oneplus-fajita
		printf 'phone%02d %s %s-usb-0:%d.%d:1.0\n' "$i" "$dev" "$USB_CONTROLLER" $((6 + k / 7)) $((k % 7 + 1))
		;;
	esac
}

# systemd's path naming (udev-builtin-net_id) for a USB NIC behind the xHCI
# controller at 00:14.0: pci-0000:00:14.0-usb-0:5.2:1.0 -> enp0s20f0u5u2.
# Config 1 and interface 0 are left out of the name, as systemd does.
path_ifname() {
	local id=$1 pci usb bus slot fn ports cfg intf name
	pci=${id%%-usb-*}   # pci-0000:00:14.0
	usb=${id#*-usb-0:}  # 5.2:1.0
	pci=${pci#pci-}
	bus=${pci#*:}
	bus=${bus%%:*}
	slot=${pci##*:}
	fn=${slot#*.}
	slot=${slot%.*}
	ports=${usb%%:*}
	cfg=${usb#*:}
	intf=${cfg#*.}
	cfg=${cfg%.*}
	name=$(printf 'enp%ds%df%du%s' "$((16#$bus))" "$((16#$slot))" "$fn" "${ports//./u}")
	[ "$cfg" != 1 ] && name="${name}c$cfg"
	[ "$intf" != 0 ] && name="${name}i$intf"
	printf '%s' "$name"
}

device_model() {
	case $1 in
	oneplus-fajita) echo "OnePlus 6T" ;;
	oneplus-enchilada) echo "OnePlus 6" ;;
	*) die "unknown device $1" ;;
	esac
}

# Hosts known to the running lab (from lab.conf written by `up`).
load_conf() {
	[ -f "$STATE_DIR/lab.conf" ] || die "the lab is not up (no $STATE_DIR/lab.conf); run: lab.sh up"
	# shellcheck source=/dev/null
	. "$STATE_DIR/lab.conf"
	index_phones
}

is_phone() {
	local p
	for p in "${PHONES[@]}"; do [ "$p" = "$1" ] && return 0; done
	return 1
}

declare -A PHONE_DEVICE=() PHONE_PORT=()

# Fills PHONE_DEVICE/PHONE_PORT for phones 1..PHONE_COUNT (call in the main
# shell: lookups run in command substitutions).
index_phones() {
	local i name dev port
	for i in $(seq 1 "$PHONE_COUNT"); do
		read -r name dev port <<<"$(phone_spec "$i")"
		PHONE_DEVICE[$name]=$dev
		PHONE_PORT[$name]=$port
	done
}

phone_field() { # phone field(device|port)
	[ -n "${PHONE_PORT[$1]:-}" ] || return 1
	case $2 in device) echo "${PHONE_DEVICE[$1]}" ;; port) echo "${PHONE_PORT[$1]}" ;; esac
}

random_laa_mac() {
	# Locally administered, unicast: what eth_random_addr() gives a gadget.
	local b
	b=$(od -An -N6 -tx1 /dev/urandom | tr -s ' ' | sed 's/^ //')
	# shellcheck disable=SC2086 # split the six bytes into $1..$6
	set -- $b
	printf '%02x:%s:%s:%s:%s:%s' $(((16#$1 & 0xfe) | 0x02)) "$2" "$3" "$4" "$5" "$6"
}

# --- cgroups ------------------------------------------------------------------
# Each host has its own cgroup, `<base>/k3ou-lab/<host>`, in EVERY cgroup
# hierarchy of the machine (cgroup v1 here: cpu, cpuacct, cpuset, memory,
# devices, freezer, blkio, pids, name=systemd; and the unified one). The anchor
# enters it before `unshare --cgroup`, so the host's cgroup namespace is rooted
# there in all of them: inside, /proc/self/cgroup reads "/" everywhere and the
# host's own cgroup mounts (host-mounts.sh) show only its subtree, so a
# kubelet/runc in the host nests pods under it. The lab finds every process of
# a host there, wherever its other namespaces are (containers, shims), to kill
# it at reboot and down.
#
# <base> is, in a v1 hierarchy, the cgroup lab.sh runs in (a tool that makes
# cgroups keeps them inside its caller's accounting: this workplace puts each
# session in memory:/process_api/<id>); in a v2 hierarchy it is the root (v2
# forbids processes in a cgroup whose children use controllers, so nesting
# under a busy cgroup would keep the hosts from using any). `up` writes the
# plan to $STATE_DIR/cgroups; every later command uses it.

# One line per hierarchy mounted on the machine (its first whole-hierarchy
# mount): MOUNTPOINT KIND KEY OPTIONS
#   KIND     cgroup (v1) or cgroup2
#   KEY      its controllers as /proc/self/cgroup names them (cpu,
#            name=systemd, ...), "-" for cgroup2
#   OPTIONS  what mounts the same hierarchy again (v1), "-" for cgroup2
cg_hierarchies() {
	awk -v subsys="$(awk 'NR > 1 { print $1 }' /proc/cgroups | tr '\n' ' ')" '
		BEGIN { n = split(subsys, s, " "); for (i = 1; i <= n; i++) known[s[i]] = 1 }
		{
			for (i = 7; i <= NF; i++) if ($i == "-") break
			fstype = $(i + 1)
			if ($4 != "/" || (fstype != "cgroup" && fstype != "cgroup2")) next
			key = "-"; opts = "-"
			if (fstype == "cgroup") {
				key = ""; opts = ""; name = ""
				m = split($(i + 3), o, ",")
				for (j = 1; j <= m; j++) {
					if (o[j] == "rw" || o[j] == "ro" || o[j] ~ /^release_agent=/) continue
					if (o[j] in known) key = key (key == "" ? "" : ",") o[j]
					else if (o[j] ~ /^name=/) name = o[j]
					opts = opts (opts == "" ? "" : ",") o[j]
				}
				if (key == "") opts = "none," opts
				if (name != "") key = key (key == "" ? "" : ",") name
			}
			if (key in seen) next
			seen[key] = 1
			print $5, fstype, key, opts
		}' /proc/self/mountinfo
}

# The plan `up` writes to $STATE_DIR/cgroups, one line per hierarchy:
#   KIND LABDIR OPTIONS NAME
# LABDIR is <base>/k3ou-lab; NAME is where the hierarchy is mounted relative to
# /sys/fs/cgroup ("." for /sys/fs/cgroup itself), which host-mounts.sh mirrors.
# Symlinks in the machine's /sys/fs/cgroup (cpu -> cpu,cpuacct on systemd
# machines) are lines "link - TARGET NAME".
cg_plan() {
	local mp kind key opts own name l
	while read -r mp kind key opts; do
		own=""
		if [ "$kind" = cgroup ]; then
			own=$(awk -F: -v k="$key" '{ p = $3; for (i = 4; i <= NF; i++) p = p ":" $i }
				$2 == k { print p; exit }' /proc/self/cgroup)
			case $own in */k3ou-lab | */k3ou-lab/*) die "lab.sh runs inside a lab host's cgroup ($own)" ;; esac
		fi
		own=${own%/}
		case $mp in
		/sys/fs/cgroup) name=. ;;
		/sys/fs/cgroup/*) name=${mp#/sys/fs/cgroup/} ;;
		*) name=- ;;
		esac
		printf '%s %s %s %s\n' "$kind" "$mp$own/k3ou-lab" "$opts" "$name"
	done < <(cg_hierarchies)
	for l in /sys/fs/cgroup/*; do
		[ -L "$l" ] && printf 'link - %s %s\n' "$(readlink "$l")" "${l##*/}"
	done
	return 0
}

# Every k3ou-lab directory: the plan's, and any other one a previous lab
# left (a half-built `up`, a lab brought up from another cgroup).
cg_lab_dirs() {
	local d
	{
		[ -f "$STATE_DIR/cgroups" ] && awk '$1 ~ /^cgroup/ { print $2 }' "$STATE_DIR/cgroups"
		local mp
		while read -r mp _; do
			find "$mp" -maxdepth 4 -type d -name k3ou-lab -prune -print 2>/dev/null
		done < <(cg_hierarchies)
	} | awk '!seen[$0]++' | while read -r d; do [ -d "$d" ] && echo "$d"; done
}

# The hosts' cgroup in every hierarchy (from the plan).
cg_host_dirs() { # host...
	[ -f "$STATE_DIR/cgroups" ] || return 0
	awk -v hosts="$*" 'BEGIN { n = split(hosts, h, " ") }
		$1 ~ /^cgroup/ { for (i = 1; i <= n; i++) print $2 "/" h[i] }' "$STATE_DIR/cgroups"
}

cg_create() { # host
	local host=$1 kind lab opts parent
	[ -f "$STATE_DIR/cgroups" ] || die "no cgroup plan ($STATE_DIR/cgroups): run lab.sh down, then up"
	while read -r kind lab opts _; do
		case $kind in cgroup | cgroup2) ;; *) continue ;; esac
		mkdir -p "$lab/$host" || die "$host: cannot create its cgroup $lab/$host"
		[ "$kind" = cgroup ] || continue
		parent=${lab%/k3ou-lab}
		if [ -f "$parent/cpuset.cpus" ]; then
			# cgroup v1 cpuset refuses tasks until cpus/mems are set.
			cat "$parent/cpuset.cpus" >"$lab/cpuset.cpus"
			cat "$parent/cpuset.mems" >"$lab/cpuset.mems"
			cat "$lab/cpuset.cpus" >"$lab/$host/cpuset.cpus"
			cat "$lab/cpuset.mems" >"$lab/$host/cpuset.mems"
		fi
		if [ -f "$lab/devices.deny" ]; then
			# Hosts get the real /dev/kmsg (a kubelet will not start without
			# it) but may only read it: no host writes the machine's kernel
			# log. Children (pods) inherit the exception and cannot lift it.
			echo 'c 1:11 w' >"$lab/devices.deny" || die "cannot make /dev/kmsg read-only in $lab"
		fi
	done <"$STATE_DIR/cgroups"
}

# Moves a process into the host's cgroup in every hierarchy.
cg_join() { # host pid
	local d
	while read -r d; do
		echo "$2" >"$d/cgroup.procs" || { log "cannot move $2 into $d"; return 1; }
	done < <(cg_host_dirs "$1")
}

cg_pids() { # host...
	local d dirs=()
	while read -r d; do [ -d "$d" ] && dirs+=("$d"); done < <(cg_host_dirs "$@")
	[ "${#dirs[@]}" -gt 0 ] || return 0
	find "${dirs[@]}" -name cgroup.procs -exec cat {} + 2>/dev/null || true
}

# Processes in any k3ou-lab cgroup (for `down`, whatever lab.conf says).
cg_lab_pids() {
	local d dirs=()
	while read -r d; do dirs+=("$d"); done < <(cg_lab_dirs)
	[ "${#dirs[@]}" -gt 0 ] || return 0
	find "${dirs[@]}" -name cgroup.procs -exec cat {} + 2>/dev/null || true
}

# Removes a cgroup tree, deepest first. A cgroup whose last task is still
# exiting is busy for a moment: retry.
cg_rmtree() { # dir
	local i
	for i in $(seq 1 100); do
		find "$1" -depth -type d -exec rmdir {} + 2>/dev/null
		[ -d "$1" ] || return 0
		sleep 0.02
	done
	log "cannot remove cgroup $1 (still in use: $(find "$1" -name cgroup.procs -exec cat {} + 2>/dev/null | tr '\n' ' '))"
	return 1
}

cg_remove() { # host (or empty for every k3ou-lab tree)
	local d pids=() rc=0 p
	while read -r d; do
		[ -d "$d" ] || continue
		# One hierarchy each, in parallel: v1 rmdir waits for the kernel.
		cg_rmtree "$d" &
		pids+=($!)
	done < <(if [ -n "$1" ]; then cg_host_dirs "$1"; else cg_lab_dirs; fi)
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	return "$rc"
}

# --- host processes -----------------------------------------------------------

anchor_pid() {
	local f pid
	f="$(runtime_dir "$1")/anchor.pid"
	[ -f "$f" ] || return 1
	pid=$(cat "$f")
	[ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
	# A recycled pid would not be in the host's network namespace.
	[ "$(stat -L -c %i "/proc/$pid/ns/net" 2>/dev/null)" = "$(stat -L -c %i "/run/netns/$(ns_of "$1")" 2>/dev/null)" ] || return 1
	echo "$pid"
}

host_running() { anchor_pid "$1" >/dev/null 2>&1; }

# Every process of these hosts: in their cgroups, or in a network or mount
# namespace one of them has had since `up`. A few processes whatever the
# number of hosts (down with 30 phones calls this a few times).
host_pids() { # host...
	local h files=() nets=()
	for h in "$@"; do
		files+=("$(runtime_dir "$h")/ns.ids")
		[ -e "/run/netns/$(ns_of "$h")" ] && nets+=("/run/netns/$(ns_of "$h")")
	done
	{
		cg_pids "$@"
		# Their current network namespaces (in ns.ids too, once an anchor ran).
		ns_member_pids "${files[@]}" <(if [ "${#nets[@]}" -gt 0 ]; then stat -L -c %i "${nets[@]}"; fi)
	} | sort -un | grep -vx -e "$$" -e "$BASHPID" -e '' || true
}

# Processes in any namespace listed in FILEs (lines "NET_INODE MNT_INODE").
ns_member_pids() { # file...
	local ids
	ids=$(cat "$@" 2>/dev/null | tr '\n' ' ')
	[ -n "${ids// /}" ] || return 0
	# One stat for every process (a stat per process costs seconds when the
	# machine runs a few hundred).
	stat -L -c '%n %i' /proc/[0-9]*/ns/net /proc/[0-9]*/ns/mnt 2>/dev/null |
		awk -v ids=" $ids " 'index(ids, " " $2 " ") { split($1, p, "/"); print p[3] }' |
		sort -un
}

kill_host() { # host...
	local i pids
	for i in $(seq 1 200); do
		pids=$(host_pids "$@")
		[ -z "$pids" ] && return 0
		# shellcheck disable=SC2086 # word splitting of the pid list is wanted
		kill -KILL $pids 2>/dev/null || true
		sleep 0.05
	done
	die "processes of $* survive SIGKILL: $pids"
}

# Runs a command inside a host: its network, mount, UTS and cgroup namespaces,
# its cgroup, a clean environment. stdin/stdout/stderr are the caller's.
in_host() {
	local host=$1 pid
	shift
	pid=$(anchor_pid "$host") || die "host $host is not running (try: lab.sh status)"
	(
		exec 8>&- 9>&-
		cg_join "$host" "$BASHPID" || exit 1
		cd /
		exec nsenter -t "$pid" -n -m -u -C -- env -i PATH="$HOST_PATH" HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 USER=root LOGNAME=root "$@"
	)
}

# --- links --------------------------------------------------------------------

# Creates a veth pair with each end born inside its lab namespace. Refuses any
# name that exists in the machine's root namespace and any namespace outside
# the lab, so no mistake here can ever reach eth0.
lab_link_add() { # ns1 name1 ns2 name2
	local ns1=$1 n1=$2 ns2=$3 n2=$4 n
	case $ns1 in "$NS_PREFIX"*) ;; *) die "refusing veth into non-lab namespace '$ns1'" ;; esac
	case $ns2 in "$NS_PREFIX"*) ;; *) die "refusing veth into non-lab namespace '$ns2'" ;; esac
	for n in "$n1" "$n2"; do
		[ "${#n}" -le 15 ] || die "interface name '$n' is longer than 15 characters"
		if ip link show dev "$n" >/dev/null 2>&1; then
			die "refusing to create '$n': that name exists in the machine's root namespace"
		fi
	done
	ip link add name "$n1" netns "$ns1" type veth peer name "$n2" netns "$ns2"
}

# --- root namespace guard -------------------------------------------------------

root_ns_snapshot() {
	ip -br link
	echo ---
	ip -br addr
	echo ---
	ip route
}

check_root_ns() { # baseline-file when
	local now
	now=$(root_ns_snapshot)
	if [ "$now" != "$(cat "$1")" ]; then
		log "ROOT NAMESPACE CHANGED $2. Before:"
		cat "$1" >&2
		log "After:"
		printf '%s\n' "$now" >&2
		die "the machine's own interfaces, addresses or routes changed $2"
	fi
}
