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
	for p in lan router operator laptop pristine "$@"; do
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
		lan | router | operator | laptop | pristine | one6t | one62 | one61 | phone[0-9][0-9]) echo "$n" ;;
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
# Each host gets its own cgroup, entered before the cgroup namespace is
# unshared, so the host sees it as its root (a kubelet in the host would nest
# under it) and the lab can find every process of a host, including ones in
# other network namespaces (pods), to kill them on reboot. Only the unified
# (v2) hierarchy is used: it is the one the hosts mount, and cgroup v1 rmdir
# is slow enough to dominate `down`. A machine without cgroup v2 falls back to
# the v1 pids hierarchy.

cg_roots() {
	# mountinfo has a variable number of optional fields before " - fstype".
	local roots
	roots=$(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i+1) == "cgroup2") print $5; break } }' /proc/self/mountinfo)
	if [ -z "$roots" ]; then
		roots=$(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i+1) == "cgroup" && $(i+3) ~ /(^|,)pids(,|$)/) print $5; break } }' /proc/self/mountinfo)
	fi
	printf '%s\n' "$roots" | head -n 1
}

cg_create() {
	local host=$1 r
	while read -r r; do
		[ -d "$r" ] || continue
		mkdir -p "$r/k3ou-lab/$host" 2>/dev/null || continue
		if [ -f "$r/cpuset.cpus" ]; then
			# cgroup v1 cpuset refuses tasks until cpus/mems are set.
			cat "$r/cpuset.cpus" >"$r/k3ou-lab/cpuset.cpus" 2>/dev/null || true
			cat "$r/cpuset.mems" >"$r/k3ou-lab/cpuset.mems" 2>/dev/null || true
			cat "$r/cpuset.cpus" >"$r/k3ou-lab/$host/cpuset.cpus" 2>/dev/null || true
			cat "$r/cpuset.mems" >"$r/k3ou-lab/$host/cpuset.mems" 2>/dev/null || true
		fi
	done < <(cg_roots | awk '!/\/k3ou-lab/')
}

cg_join() { # host pid
	local r
	while read -r r; do
		if [ -d "$r/k3ou-lab/$1" ]; then echo "$2" >"$r/k3ou-lab/$1/cgroup.procs" 2>/dev/null || true; fi
	done < <(cg_roots | awk '!/\/k3ou-lab/')
}

cg_pids() {
	local r
	while read -r r; do
		[ -d "$r/k3ou-lab/$1" ] || continue
		find "$r/k3ou-lab/$1" -name cgroup.procs -exec cat {} + 2>/dev/null || true
	done < <(cg_roots | awk '!/\/k3ou-lab/')
}

cg_remove() { # host (or empty for the whole lab tree)
	local r target
	while read -r r; do
		target="$r/k3ou-lab${1:+/$1}"
		[ -d "$target" ] || continue
		find "$target" -depth -type d -exec rmdir {} + 2>/dev/null || true
	done < <(cg_roots | awk '!/\/k3ou-lab/')
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

host_pids() {
	{
		ip netns pids "$(ns_of "$1")" 2>/dev/null || true
		cg_pids "$1"
		ns_member_pids "$(runtime_dir "$1")/ns.ids"
	} | sort -un | grep -vx -e "$$" -e "$BASHPID" -e '' || true
}

# Processes in any network or mount namespace a host has had since `up`
# (lines "NET_INODE MNT_INODE" in FILE).
ns_member_pids() { # file
	[ -s "$1" ] || return 0
	local f ids
	ids=" $(tr '\n' ' ' <"$1")"
	for f in /proc/[0-9]*; do
		case $ids in
		*" $(stat -L -c %i "$f/ns/net" 2>/dev/null || echo x) "* | *" $(stat -L -c %i "$f/ns/mnt" 2>/dev/null || echo x) "*)
			echo "${f#/proc/}" ;;
		esac
	done
}

kill_host() { # host...
	local i pids h
	for i in $(seq 1 200); do
		pids=$(for h in "$@"; do host_pids "$h"; done)
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
		cg_join "$host" "$BASHPID"
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
