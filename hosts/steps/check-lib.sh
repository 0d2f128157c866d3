# shellcheck shell=sh
# Prepended to every check (doctor/), after K3OU_CHECK_KEY is set. A check only reads the host: it
# never changes anything. It reports one line per column it owns:
#   K3OU-CHECK <tab> key <tab> column <tab> ok|fail|warn|skip <tab> detail <tab> fix
# FIX is "up" when re-running the step (what pulumi up does for a drifted step) repairs it,
# "reboot" when only a reboot of the host does, or a command for the operator.
set -u

report() {
	printf 'K3OU-CHECK\t%s\t%s\t%s\t%s\t%s\n' "$K3OU_CHECK_KEY" "$1" "$2" "$(printf '%s' "$3" | tr '\t\n' '  ')" "${4:-}"
}
ok() { report "$1" ok "$2"; }
fail() { report "$1" fail "$2" "$3"; }
warn() { report "$1" warn "$2" "$3"; }
skip() { report "$1" skip "$2"; }

# same_file PATH EXPECTED: the file holds exactly EXPECTED, given as the content or as
# "sha256:<hex>" (the doctor sends long contents as their digest).
same_file() {
	[ -f "$1" ] || return 1
	case $2 in
	sha256:*) [ "sha256:$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ] ;;
	*) [ "$(cat "$1"; printf x)" = "${2}x" ] ;;
	esac
}

# first_bad_file PATH EXPECTED [PATH EXPECTED...]: prints the first PATH that is missing or differs.
first_bad_file() {
	while [ $# -ge 2 ]; do
		same_file "$1" "$2" || { printf '%s\n' "$1"; return 0; }
		shift 2
	done
	return 1
}

# sysctl_mismatch CONTENT: (a sysctl file's text) prints the first "key = value" line of a sysctl file the kernel disagrees with.
sysctl_mismatch() {
	printf '%s\n' "$1" | while IFS= read -r _line; do
		case $_line in '' | '#'* | ';'*) continue ;; esac
		_k=$(printf '%s' "${_line%%=*}" | tr -d ' ')
		_v=$(printf '%s' "${_line#*=}" | sed 's/^ *//; s/ *$//')
		[ "$(sysctl -n "$_k" 2>/dev/null)" = "$_v" ] || { printf '%s is %s, not %s\n' "$_k" "$(sysctl -n "$_k" 2>/dev/null || echo unset)" "$_v"; break; }
	done
}

# sysctl_check COLUMN PATH CONTENT OK-DETAIL: a sysctl drop-in as the stack wrote it, and the kernel
# agreeing with every line of it.
sysctl_check() {
	if _bad=$(first_bad_file "$2" "$3"); then
		fail "$1" "$_bad is missing or not what the stack wrote" up
	elif _bad=$(sysctl_mismatch "$(cat "$2")") && [ -n "$_bad" ]; then
		fail "$1" "$_bad" up
	else
		ok "$1" "$4"
	fi
}

# node_status NAME: the node's STATUS as `kubectl get nodes` prints it (Ready, NotReady,
# Ready,SchedulingDisabled), "missing", or "unknown" when the API does not answer. One kubectl call per
# run of a host's checks, however many nodes are asked about ($$ is the script's, in every subshell;
# the host's script reads it before its checks start side by side). Checks running at once may each
# fill a cache: each writes its own file (named by its key) and renames it into place.
node_status() {
	_cache="${TMPDIR:-/tmp}/k3ou-doctor-nodes.$$"
	if [ ! -f "$_cache" ]; then
		/usr/local/bin/k3s kubectl get nodes > "$_cache.$K3OU_CHECK_KEY" 2>/dev/null || { rm -f "$_cache.$K3OU_CHECK_KEY"; echo unknown; return 0; }
		mv -f "$_cache.$K3OU_CHECK_KEY" "$_cache"
	fi
	awk -v n="$1" 'NR > 1 && $1 == n { print $2; found = 1 } END { if (!found) print "missing" }' "$_cache"
}

# iface_on_port ID_PATH: the interface udev sees on that hub port, whatever its name; one udevadm call
# per interface per run of a host's checks, however many ports are asked about.
iface_on_port() {
	_ports="${TMPDIR:-/tmp}/k3ou-doctor-ports.$$"
	if [ ! -f "$_ports" ]; then
		for _dev in /sys/class/net/*; do
			_p=$(udevadm info -q property -p "$_dev" 2>/dev/null | sed -n 's/^ID_PATH=//p')
			[ -z "$_p" ] || printf '%s %s\n' "$_p" "${_dev##*/}"
		done > "$_ports.$K3OU_CHECK_KEY"
		mv -f "$_ports.$K3OU_CHECK_KEY" "$_ports"
	fi
	awk -v p="$1" '$1 == p { print $2; exit }' "$_ports"
}

# Run once after all checks of a host.
check_cleanup() {
	rm -f "${TMPDIR:-/tmp}/k3ou-doctor-nodes.$$" "${TMPDIR:-/tmp}/k3ou-doctor-ports.$$"
}

# service_state NAME INIT: running, stopped or missing.
service_state() {
	case $2 in
	openrc)
		[ -f "/etc/init.d/$1" ] || { echo missing; return; }
		if rc-service "$1" status >/dev/null 2>&1; then echo running; else echo stopped; fi
		;;
	*)
		_u=${1%.service}.service
		{ [ -f "/etc/systemd/system/$_u" ] || [ -f "/lib/systemd/system/$_u" ] || [ -f "/usr/lib/systemd/system/$_u" ]; } ||
			{ echo missing; return; }
		if systemctl is-active --quiet "$1"; then echo running; else echo stopped; fi
		;;
	esac
}

# The init the host runs, as lib.sh's detect_init decides it, without failing.
check_init() {
	if [ "${K3OU_INIT:-auto}" != auto ]; then
		printf '%s\n' "$K3OU_INIT"
	elif [ -d /run/systemd/system ]; then
		echo systemd
	else
		echo openrc
	fi
}
