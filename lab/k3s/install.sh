#!/bin/sh
# k3s-over-usb lab stand-in for k3s's official install script (get.k3s.io), air-gap path only.
# Around a binary already staged at /usr/local/bin/k3s it lays out the files the real script does
# (service, env file, symlinks, killall and uninstall scripts), enables and (re)starts the service,
# and refuses the options it does not implement instead of ignoring them. POSIX sh: busybox ash
# runs it on the phones, dash on the laptop. README.md lists exactly what it honours.
set -eu
# INSTALL_K3S_EXEC is split into words like the real script does, never expanded into file names.
set -f

BIN_DIR=/usr/local/bin
STANDIN="k3s-over-usb lab stand-in install script"

info() { echo "[INFO]  $*"; }
fatal() {
	echo "[ERROR]  $*" >&2
	exit 1
}

# The real script falls back to sudo; phones have doas only, so the program runs this as root.
[ "$(id -u)" -eq 0 ] || fatal "the $STANDIN runs as root only"

# An INSTALL_K3S_* option it silently ignored would make the lab pass where k3s would not.
for var in $(env | sed -n 's/^\(INSTALL_K3S_[A-Za-z0-9_]*\)=.*/\1/p'); do
	case $var in
	INSTALL_K3S_SKIP_DOWNLOAD | INSTALL_K3S_EXEC | INSTALL_K3S_VERSION | INSTALL_K3S_FORCE_RESTART) ;;
	*) fatal "$var is not supported by the $STANDIN (it honours INSTALL_K3S_SKIP_DOWNLOAD, INSTALL_K3S_EXEC, INSTALL_K3S_VERSION, INSTALL_K3S_FORCE_RESTART)" ;;
	esac
done

[ "${INSTALL_K3S_SKIP_DOWNLOAD:-}" = true ] ||
	fatal "the lab cannot download k3s: stage the binary at $BIN_DIR/k3s and set INSTALL_K3S_SKIP_DOWNLOAD=true"

# The real script's order: OpenRC wins when present (pmOS may have both), then systemctl.
if [ -x /sbin/openrc-run ]; then
	init=openrc
elif [ -x /bin/systemctl ] || command -v systemctl >/dev/null 2>&1; then
	init=systemd
else
	fatal "Can not find systemd or openrc to use as a process supervisor for k3s"
fi

case ${K3S_URL:-} in
"" | https://*) ;;
*) fatal "Only https:// URLs are supported for K3S_URL (have $K3S_URL)" ;;
esac

# Words of INSTALL_K3S_EXEC, then this script's arguments: "[server|agent] [flags...]".
# shellcheck disable=SC2086 # the split is the contract of INSTALL_K3S_EXEC
set -- ${INSTALL_K3S_EXEC:-} "$@"
case ${1:-} in
-* | "")
	# No command: agent when K3S_URL says where to join, else server, as the real script decides.
	if [ -n "${K3S_URL:-}" ]; then cmd=agent; else cmd=server; fi
	;;
server | agent)
	cmd=$1
	shift
	;;
*) fatal "the $STANDIN installs only 'server' or 'agent', not '$1'" ;;
esac
if [ "$cmd" = agent ] && [ -n "${K3S_URL:-}" ] && [ -z "${K3S_TOKEN:-}" ] && [ -z "${K3S_TOKEN_FILE:-}" ]; then
	fatal "K3S_URL is set for an agent, but neither K3S_TOKEN nor K3S_TOKEN_FILE is"
fi
if [ "$cmd" = server ] && [ -n "${K3S_URL:-}" ]; then
	fatal "K3S_URL is set for a server: joining a second server is not supported by the lab stand-in"
fi
if [ -n "${K3S_TOKEN_FILE:-}" ] && [ ! -f "$K3S_TOKEN_FILE" ]; then
	fatal "K3S_TOKEN_FILE $K3S_TOKEN_FILE does not exist"
fi

# The flags go into a service file unquoted; refuse what would need quoting rather than risk it.
exec_line=$cmd
for arg in "$@"; do
	case $arg in
	*[!A-Za-z0-9_./:=,@+%-]* | "") fatal "cannot write the argument '$arg' into a service file safely (letters, digits and _./:=,@+%- only)" ;;
	esac
	exec_line="$exec_line $arg"
done

if [ "$cmd" = server ]; then name=k3s; else name=k3s-agent; fi
case $init in
openrc)
	service_file=/etc/init.d/$name
	env_file=/etc/rancher/k3s/$name.env
	;;
systemd)
	service_file=/etc/systemd/system/$name.service
	env_file=/etc/systemd/system/$name.service.env
	;;
esac
uninstall_sh=$BIN_DIR/$name-uninstall.sh
killall_sh=$BIN_DIR/k3s-killall.sh

[ -x "$BIN_DIR/k3s" ] || fatal "Executable k3s binary not found at $BIN_DIR/k3s"
info "Skipping k3s download and verify"
staged=$("$BIN_DIR/k3s" --version | awk 'NR == 1 {print $3}')
if [ -n "${INSTALL_K3S_VERSION:-}" ] && [ "$INSTALL_K3S_VERSION" != "$staged" ]; then
	info "INSTALL_K3S_VERSION=$INSTALL_K3S_VERSION is ignored with INSTALL_K3S_SKIP_DOWNLOAD; the staged binary is $staged"
fi

# What decides the restart below: the same three hashes the real script compares.
installed_hashes() {
	sha256sum "$BIN_DIR/k3s" "$service_file" "$env_file" 2>&1 || true
}
pre_hashes=$(installed_hashes)

for link in kubectl crictl ctr; do
	if [ -e "$BIN_DIR/$link" ] || [ -L "$BIN_DIR/$link" ]; then
		info "Skipping $BIN_DIR/$link symlink to k3s, already exists"
	elif found=$(command -v "$link" 2>/dev/null) && [ -n "$found" ]; then
		info "Skipping $BIN_DIR/$link symlink to k3s, command exists in PATH at $found"
	else
		info "Creating $BIN_DIR/$link symlink to k3s"
		ln -sf k3s "$BIN_DIR/$link"
	fi
done

info "Creating killall script $killall_sh"
cat >"$killall_sh" <<'EOF'
#!/bin/sh
# Written by the k3s-over-usb lab's k3s install script. Stops the k3s services, then what k3s's
# killall stops: every k3s process, containerd and its shims with their containers, and removes
# the mounts, links and iptables chains they made. The lab's hosts share one PID namespace, so
# processes are chosen by this host's mount namespace (a phone must not kill the laptop's
# server), and containers as descendants of this host's shims.
set -eu
[ "$(id -u)" -eq 0 ] || {
	echo "$0: run as root" >&2
	exit 1
}

for service in /etc/systemd/system/k3s*.service; do
	if [ -s "$service" ]; then
		systemctl stop "$(basename "$service")" || true
	fi
done
for service in /etc/init.d/k3s*; do
	if [ -x "$service" ]; then
		"$service" stop || true
	fi
done

mine=$(readlink /proc/self/ns/mnt)
# own_pids EXE...: processes of this host running one of these programs.
own_pids() {
	for exe in /proc/[0-9]*/exe; do
		pid=${exe#/proc/}
		pid=${pid%/exe}
		target=$(readlink "$exe" 2>/dev/null || true)
		target=${target% (deleted)}
		for want in "$@"; do
			[ "$target" = "$want" ] || continue
			[ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null || true)" = "$mine" ] && echo "$pid"
		done
	done
	return 0
}
# descendants PID...: the PIDs and every process below them.
descendants() {
	all=$(for st in /proc/[0-9]*/stat; do
		sed -n 's/^\([0-9]*\) .*) [A-Za-z] \([0-9]*\) .*/\1 \2/p' "$st" 2>/dev/null || true
	done)
	todo="$*"
	while [ -n "$todo" ]; do
		next=
		for p in $todo; do
			echo "$p"
			next="$next $(echo "$all" | awk -v p="$p" '$2 == p { print $1 }')"
		done
		todo=$(echo "$next" | tr -s ' ')
		todo=${todo# }
		todo=${todo% }
	done
}
stop_pids() { # description pids...
	what=$1
	shift
	[ "$#" -gt 0 ] || return 0
	kill "$@" 2>/dev/null || true
	deadline=$(($(date +%s) + 10))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		alive=
		for p in "$@"; do [ -d "/proc/$p" ] && alive=1; done
		[ -n "$alive" ] || return 0
		sleep 1
	done
	echo "$what did not stop within 10 s; killing" >&2
	kill -9 "$@" 2>/dev/null || true
}

# shellcheck disable=SC2046 # one PID per word
stop_pids "k3s" $(own_pids /usr/local/bin/k3s)
# shellcheck disable=SC2046
stop_pids "containerd" $(own_pids /usr/bin/containerd)
# Shims keep pods running across a k3s restart, as in k3s; killall ends them and their containers.
# shellcheck disable=SC2046
stop_pids "containers" $(descendants $(own_pids /usr/bin/containerd-shim-runc-v2 /usr/bin/containerd-shim))

# Deepest first, so a mount inside another comes off before it.
awk '{ print $2 }' /proc/self/mounts | grep -E '^(/run/k3s|/var/lib/rancher/k3s|/var/lib/kubelet|/run/netns/cni-)' | sort -r |
	while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
rm -rf /run/netns/cni-* 2>/dev/null || true
for link in cni0 flannel.1 flannel-v6.1; do
	ip link delete "$link" 2>/dev/null || true
done
for tables in iptables ip6tables; do
	if command -v "$tables-save" >/dev/null 2>&1; then
		"$tables-save" | grep -v KUBE- | grep -v CNI- | grep -iv flannel | "$tables-restore" || true
	fi
done
rm -rf /var/lib/cni
EOF
chmod 755 "$killall_sh"

info "Creating uninstall script $uninstall_sh"
cat >"$uninstall_sh" <<EOF
#!/bin/sh
# Written by the k3s-over-usb lab's k3s install script; removes what k3s's uninstall removes.
# /etc/rancher/node (the node password) stays, as it does with k3s: to rejoin under the same name
# with a new password, delete the node on the server first.
set -eu
[ "\$(id -u)" -eq 0 ] || {
	echo "\$0: run as root" >&2
	exit 1
}

$killall_sh

if command -v systemctl >/dev/null 2>&1; then
	systemctl disable $name >/dev/null 2>&1 || true
	systemctl reset-failed $name >/dev/null 2>&1 || true
	systemctl daemon-reload || true
fi
if command -v rc-update >/dev/null 2>&1; then
	rc-update delete $name default >/dev/null 2>&1 || true
fi
rm -f $service_file $env_file

remove_uninstall() {
	rm -f $uninstall_sh
}
trap remove_uninstall EXIT

for other in /etc/systemd/system/k3s*.service /etc/init.d/k3s*; do
	if [ -e "\$other" ]; then
		echo "Additional k3s services installed, skipping uninstall of k3s"
		exit 0
	fi
done

for cmd in kubectl crictl ctr; do
	if [ -L "$BIN_DIR/\$cmd" ] && [ "\$(readlink "$BIN_DIR/\$cmd")" = k3s ]; then
		rm -f "$BIN_DIR/\$cmd"
	fi
done

rm -rf /etc/rancher/k3s /run/k3s /run/flannel /var/lib/rancher/k3s /var/lib/kubelet
rm -f $BIN_DIR/k3s $killall_sh
EOF
chmod 755 "$uninstall_sh"

# The real script removes the old unit before writing the new one.
if [ "$init" = systemd ]; then
	systemctl disable "$name" >/dev/null 2>&1 || true
	rm -f "$service_file" "$env_file"
fi

# The service's environment: every K3S_*, CONTAINERD_* and proxy variable, as the real script
# captures them. With K3S_TOKEN_FILE only the file's path is written, never the token.
info "env: Creating environment file $env_file"
mkdir -p "$(dirname "$env_file")"
env_tmp=$env_file.tmp.$$
(umask 077 && : >"$env_tmp")
captured=$({
	env | grep -E '^(K3S|CONTAINERD)_[A-Za-z0-9_]*=' || true
	env | grep -Ei '^(no|http|https)_proxy=' || true
} | cut -d= -f1 | LC_ALL=C sort -u)
for var in $captured; do
	# A line of env's output may come from inside another variable's multi-line value.
	isset="" value=""
	eval "isset=\${$var+set}"
	[ "$isset" = set ] || continue
	eval "value=\${$var}"
	case $value in
	*"'"* | *"
"*) fatal "cannot write $var into $env_file safely (it holds a quote or a newline)" ;;
	esac
	printf "%s='%s'\n" "$var" "$value" >>"$env_tmp"
done
chmod 600 "$env_tmp"
mv -f "$env_tmp" "$env_file"

case $init in
openrc)
	info "openrc: Creating service file $service_file"
	log_file=/var/log/$name.log
	# supervise-daemon restarts a crashed k3s as the real service does; without it (an OpenRC
	# built without it) start-stop-daemon backgrounds k3s with a pidfile instead.
	if [ -x /sbin/supervise-daemon ] || command -v supervise-daemon >/dev/null 2>&1; then
		supervisor="supervisor=supervise-daemon
respawn_delay=5
respawn_max=0"
	else
		supervisor="command_background=true"
	fi
	cat >"$service_file" <<EOF
#!/sbin/openrc-run
# Written by the k3s-over-usb lab stand-in install script, laid out as k3s's install.sh does.

depend() {
	after network-online
	want cgroups
}

$supervisor
name=$name
command="$BIN_DIR/k3s"
command_args="$exec_line"

output_log=$log_file
error_log=$log_file

pidfile="/var/run/$name.pid"

set -a
if [ -f /etc/environment ]; then . /etc/environment; fi
if [ -f $env_file ]; then . $env_file; fi
set +a
EOF
	chmod 755 "$service_file"
	mkdir -p /etc/logrotate.d
	printf '%s {\n\tmissingok\n\tnotifempty\n\tcopytruncate\n}\n' "$log_file" >"/etc/logrotate.d/$name"
	info "openrc: Enabling $name service for default runlevel"
	rc-update add "$name" default >/dev/null
	;;
systemd)
	info "systemd: Creating service file $service_file"
	exec_args=""
	for word in $exec_line; do
		exec_args="$exec_args \\
	'$word'"
	done
	cat >"$service_file" <<EOF
# Written by the k3s-over-usb lab stand-in install script, laid out as k3s's install.sh does.
[Unit]
Description=Lightweight Kubernetes (k3s-over-usb lab stand-in)
Documentation=https://k3s.io
Wants=network-online.target
After=network-online.target

[Install]
WantedBy=multi-user.target

[Service]
# The binary sends READY=1 once it serves (server) or has joined (agent), as k3s does.
Type=notify
EnvironmentFile=-/etc/default/%N
EnvironmentFile=-/etc/sysconfig/%N
EnvironmentFile=-$env_file
KillMode=process
Delegate=yes
User=root
LimitNOFILE=1048576
TimeoutStartSec=0
Restart=always
RestartSec=5s
ExecStart=$BIN_DIR/k3s$exec_args
EOF
	chmod 644 "$service_file"
	info "systemd: Enabling $name unit"
	systemctl enable "$name" >/dev/null
	systemctl daemon-reload >/dev/null
	;;
esac

if [ "$pre_hashes" = "$(installed_hashes)" ] && [ "${INSTALL_K3S_FORCE_RESTART:-}" != true ]; then
	info "No change detected so skipping service start"
	exit 0
fi
case $init in
openrc)
	info "openrc: Starting $name"
	"$service_file" restart
	;;
systemd)
	info "systemd: Starting $name"
	systemctl restart "$name"
	;;
esac
