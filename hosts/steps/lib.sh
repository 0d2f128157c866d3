# shellcheck shell=sh
# Prepended to every remote step (components/remote-step.ts). POSIX sh: busybox ash runs it on the
# phones. K3OU_HOST and K3OU_STEP name the host and step in every message.
set -eu
umask 022

: "${K3OU_HOST:?host name}"
: "${K3OU_STEP:?step name}"

say() {
	printf 'k3s-over-usb: %s: %s: %s\n' "$K3OU_HOST" "$K3OU_STEP" "$*" >&2
}

# die WHAT REMEDY: the one way a step fails, naming host, step, problem and what to do.
die() {
	printf 'k3s-over-usb: %s: %s: FAILED: %s\n  fix: %s\n' "$K3OU_HOST" "$K3OU_STEP" "$1" "$2" >&2
	exit 1
}

need() {
	command -v "$1" >/dev/null 2>&1 || die "command '$1' is missing" "$2"
}

# same_content PATH CONTENT: the file exists and holds exactly CONTENT.
same_content() {
	[ -f "$1" ] && [ "$(cat "$1"; printf x)" = "${2}x" ]
}

# put_file PATH MODE CONTENT: writes atomically only when the content or mode differs. Sets
# CHANGED=1 when it wrote, so a step can tell "already" from "changed".
CHANGED=0
# shellcheck disable=SC2034 # steps read CHANGED
put_file() {
	_path=$1
	_mode=$2
	_content=$3
	if same_content "$_path" "$_content"; then
		if [ "$(stat -c %a "$_path")" = "$_mode" ]; then
			say "already: $_path"
			return 0
		fi
		chmod "$_mode" "$_path"
		CHANGED=1
		say "mode fixed: $_path"
		return 0
	fi
	mkdir -p "$(dirname "$_path")"
	_tmp="$_path.k3ou-tmp.$$"
	printf '%s' "$_content" > "$_tmp"
	chmod "$_mode" "$_tmp"
	mv -f "$_tmp" "$_path"
	CHANGED=1
	say "wrote: $_path"
}

# shellcheck disable=SC2034 # steps read CHANGED
remove_file() {
	if [ -e "$1" ] || [ -L "$1" ]; then
		rm -f "$1"
		CHANGED=1
		say "removed: $1"
	fi
}

# The init system the host really runs; a phone may be OpenRC or systemd postmarketOS.
detect_init() {
	if [ "${K3OU_INIT:-auto}" != auto ]; then
		printf '%s\n' "$K3OU_INIT"
	elif [ -d /run/systemd/system ]; then
		echo systemd
	elif [ -x /sbin/openrc-run ] || command -v openrc-run >/dev/null 2>&1; then
		echo openrc
	else
		die "neither systemd nor OpenRC is running" "set the host's init in the household config"
	fi
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls real readiness with a deadline, no fixed sleeps.
wait_for() {
	_deadline=$(( $(date +%s) + $1 ))
	_what=$2
	shift 2
	until "$@" >/dev/null 2>&1; do
		if [ "$(date +%s)" -ge "$_deadline" ]; then
			return 1
		fi
		sleep 1
	done
	say "ready: $_what"
}
