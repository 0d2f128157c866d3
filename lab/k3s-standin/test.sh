#!/usr/bin/env bash
# Tests the lab's k3s stand-in. Run as root (it makes namespaces):  bash lab/k3s-standin/test.sh
#
#  1. Go unit tests (parsers, token, node passwords, kubectl against the API) and shellcheck.
#  2. A server and agents in two throwaway network namespaces joined by a veth: join and Ready,
#     wrong token, wrong CA hash, an address outside tls-san, duplicate name, the node-remove
#     sequence and rejoin, restart, a changed token, a silent agent turning Unknown.
#  3. install.sh and the scripts it writes, in private mount+PID+network namespaces over overlays
#     of /etc, /usr and /var: OpenRC with the machine's real openrc-run and supervise-daemon under
#     busybox sh (as on a phone), and systemd with a recording systemctl under dash (as on the
#     laptop).
#
# Nothing touches the machine's interfaces, /etc/rancher or services; every namespace and process
# is removed on exit, even on failure. The last line is "N passed, M failed".
# shellcheck disable=SC2317 # small predicates are defined next to their check and called through it
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VERSION=v1.35.5+k3s1
READY_JSONPATH='jsonpath={.status.conditions[?(@.type=="Ready")].status}'
passed=0
failed=0

pass() {
	passed=$((passed + 1))
	echo "ok    $1"
}
fail() {
	failed=$((failed + 1))
	echo "FAIL  $1"
	shift
	local line
	for line in "$@"; do printf '      %s\n' "$line"; done
}
# check NAME COMMAND...: passes when COMMAND succeeds.
check() {
	local name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name"; fi
}
# check_output NAME WANT_RC WANT_TEXT RC OUTPUT: exit code and a piece of the output.
check_output() {
	if [ "$4" = "$2" ] && [[ $5 == *"$3"* ]]; then
		pass "$1"
	else
		fail "$1" "want exit $2 and output containing: $3" "got exit $4, output:" "${5:0:1500}"
	fi
}
# wait_until SECONDS COMMAND...: polls COMMAND until it succeeds or the deadline passes.
wait_until() {
	local deadline=$(($(date +%s) + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 0.5
	done
}
file_is() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }
mode_is() { [ "$(stat -c %a "$1" 2>/dev/null)" = "$2" ]; }

# ---------------------------------------------------------------- install.sh (inside namespaces)

# Runs inside `unshare --mount --pid --net --fork`: everything mounted or started here disappears
# with the namespace.
install_tests() {
	local work=$1 bin=$2 out
	local scratch=$work/ns
	mkdir -p "$scratch"
	mount -t tmpfs tmpfs "$scratch" || return 1
	local d
	for d in etc usr var; do
		mkdir -p "$scratch/$d.up" "$scratch/$d.work"
		mount -t overlay overlay -o "lowerdir=/$d,upperdir=$scratch/$d.up,workdir=$scratch/$d.work" "/$d" || return 1
	done
	mount -t tmpfs tmpfs /run
	# openrc-run would put services into cgroups of the machine's hierarchy; give it an empty one.
	mount -t tmpfs tmpfs /sys/fs/cgroup
	ip link set lo up
	# The state OpenRC keeps after `openrc default` on a booted host; booting it for real here
	# would run the machine's sysinit services.
	for d in daemons deptree exclusive failed hotplugged inactive options scheduled started starting stopping tmp wasinactive; do
		mkdir -p "/run/openrc/$d"
	done
	echo default >/run/openrc/softlevel
	printf 'rc_controller_cgroups="NO"\n' >>/etc/rc.conf
	rm -f /etc/init.d/cgroups
	# A phone has no kubectl of its own, so the script links one (the machine may have one).
	rm -f /usr/bin/kubectl /usr/local/bin/kubectl /usr/local/bin/crictl /usr/local/bin/ctr
	rm -rf /etc/rancher /var/lib/rancher
	# Busybox applets first in PATH, as the tools install.sh finds on postmarketOS.
	mkdir -p "$scratch/bb"
	busybox --install -s "$scratch/bb"
	local phone_path=$scratch/bb:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	local laptop_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	local token tokfile=/etc/rancher/k3s/k3s-over-usb.token
	token=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')

	# The way the program's k3s-install step calls the script: a clean environment, sh FILE.
	inst() { env -i HOME=/root "$@"; }
	put_server_config() {
		mkdir -p /etc/rancher/k3s
		printf '%s\n' "$token" >"$tokfile"
		chmod 600 "$tokfile"
		printf 'node-name: ns-laptop\nnode-ip: 127.0.0.1\nflannel-iface: lo\ntoken-file: %s\nwrite-kubeconfig-mode: "0600"\n' "$tokfile" >/etc/rancher/k3s/config.yaml
	}
	k3s_pid() { # PID of the running `k3s ROLE` in this namespace
		local p
		for p in /proc/[0-9]*; do
			[ "$(readlink "$p/exe" 2>/dev/null)" = /usr/local/bin/k3s ] || continue
			tr '\0' ' ' <"$p/cmdline" | grep -q "k3s $1" && {
				echo "${p#/proc/}"
				return 0
			}
		done
		return 1
	}
	readyz() { [ "$(/usr/local/bin/kubectl get --raw=/readyz 2>/dev/null)" = ok ]; }
	node_ready() { [ "$(/usr/local/bin/kubectl get node "$1" -o "$READY_JSONPATH" 2>/dev/null)" = True ]; }

	echo "--- install.sh, OpenRC (busybox sh, real openrc-run and supervise-daemon)"
	put_server_config
	out=$(inst PATH="$phone_path" INSTALL_K3S_SKIP_DOWNLOAD=true INSTALL_K3S_EXEC=server busybox sh "$here/install.sh" 2>&1)
	check_output "install.sh: refuses without a staged binary" 1 "Executable k3s binary not found at /usr/local/bin/k3s" $? "$out"
	install -m 755 "$bin" /usr/local/bin/k3s
	out=$(inst PATH="$phone_path" INSTALL_K3S_EXEC=server busybox sh "$here/install.sh" 2>&1)
	check_output "install.sh: refuses to download (INSTALL_K3S_SKIP_DOWNLOAD unset)" 1 "the lab cannot download k3s" $? "$out"
	out=$(inst PATH="$phone_path" INSTALL_K3S_SKIP_DOWNLOAD=true INSTALL_K3S_NAME=x busybox sh "$here/install.sh" 2>&1)
	check_output "install.sh: refuses an option it does not implement" 1 "INSTALL_K3S_NAME is not supported" $? "$out"
	out=$(inst PATH="$phone_path" INSTALL_K3S_SKIP_DOWNLOAD=true K3S_URL=http://10.0.1.1:6443 K3S_TOKEN=x busybox sh "$here/install.sh" 2>&1)
	check_output "install.sh: K3S_URL must be https://" 1 "Only https:// URLs are supported for K3S_URL" $? "$out"
	out=$(inst PATH="$phone_path" INSTALL_K3S_SKIP_DOWNLOAD=true INSTALL_K3S_EXEC=agent K3S_URL=https://10.0.1.1:6443 busybox sh "$here/install.sh" 2>&1)
	check_output "install.sh: an agent with K3S_URL needs a token or token file" 1 "neither K3S_TOKEN nor K3S_TOKEN_FILE" $? "$out"
	out=$(inst PATH="$phone_path" INSTALL_K3S_SKIP_DOWNLOAD=true INSTALL_K3S_EXEC=etcd-snapshot busybox sh "$here/install.sh" 2>&1)
	check_output "install.sh: installs only server or agent" 1 "installs only 'server' or 'agent'" $? "$out"
	out=$(inst PATH="$phone_path" INSTALL_K3S_SKIP_DOWNLOAD=true INSTALL_K3S_EXEC="server --node-label=a\$b" busybox sh "$here/install.sh" 2>&1)
	check_output "install.sh: refuses an argument it cannot quote" 1 "cannot write the argument" $? "$out"
	check "install.sh: the refusals wrote no service" test ! -e /etc/init.d/k3s

	out=$(inst PATH="$phone_path" INSTALL_K3S_SKIP_DOWNLOAD=true INSTALL_K3S_EXEC=server INSTALL_K3S_VERSION=$VERSION \
		K3S_TOKEN_FILE=$tokfile busybox sh "$here/install.sh" 2>&1)
	check_output "install.sh server (OpenRC): succeeds and starts the service" 0 "[INFO]  openrc: Starting k3s" $? "$out"
	check "install.sh server (OpenRC): /etc/init.d/k3s runs 'k3s server' under supervise-daemon, logging to /var/log/k3s.log" \
		grep -qxF 'command_args="server"' /etc/init.d/k3s
	openrc_script_ok() {
		grep -qxF supervisor=supervise-daemon /etc/init.d/k3s && grep -qxF output_log=/var/log/k3s.log /etc/init.d/k3s &&
			grep -qxF 'command="/usr/local/bin/k3s"' /etc/init.d/k3s && grep -qxF 'if [ -f /etc/rancher/k3s/k3s.env ]; then . /etc/rancher/k3s/k3s.env; fi' /etc/init.d/k3s &&
			sh -n /etc/init.d/k3s && test -x /etc/init.d/k3s
	}
	check "install.sh server (OpenRC): init script: supervise-daemon, the binary, the log, sources the env file" openrc_script_ok
	check "install.sh server (OpenRC): env file holds the token file's path, never the token" \
		file_is /etc/rancher/k3s/k3s.env "K3S_TOKEN_FILE='$tokfile'"
	check "install.sh server (OpenRC): env file is 0600" mode_is /etc/rancher/k3s/k3s.env 600
	check "install.sh server (OpenRC): enabled in the default runlevel" test -L /etc/runlevels/default/k3s
	links_ok() { [ "$(readlink /usr/local/bin/kubectl)$(readlink /usr/local/bin/crictl)$(readlink /usr/local/bin/ctr)" = k3sk3sk3s ]; }
	check "install.sh server (OpenRC): kubectl, crictl and ctr link to k3s" links_ok
	check "install.sh server (OpenRC): killall and uninstall scripts, shellcheck-clean" \
		shellcheck -s sh /usr/local/bin/k3s-killall.sh /usr/local/bin/k3s-uninstall.sh
	check "install.sh server (OpenRC): the API answers through the kubectl symlink" wait_until 20 readyz
	check "install.sh server (OpenRC): its own node is Ready" wait_until 10 node_ready ns-laptop
	check "install.sh server (OpenRC): k3s.yaml is 0600 (write-kubeconfig-mode)" mode_is /etc/rancher/k3s/k3s.yaml 600
	local pid_before
	pid_before=$(k3s_pid server)
	out=$(inst PATH="$phone_path" INSTALL_K3S_SKIP_DOWNLOAD=true INSTALL_K3S_EXEC=server INSTALL_K3S_VERSION=$VERSION \
		K3S_TOKEN_FILE=$tokfile busybox sh "$here/install.sh" 2>&1)
	check_output "install.sh server (OpenRC): a second identical run skips the restart" 0 "No change detected so skipping service start" $? "$out"
	same_server() { [ -n "$pid_before" ] && [ "$(k3s_pid server)" = "$pid_before" ]; }
	check "install.sh server (OpenRC): ... and the same k3s process still serves" same_server

	mkdir -p /etc/k3s-test
	printf 'server: https://127.0.0.1:6443\ntoken-file: %s\nnode-name: ns-phone\nnode-ip: 127.0.0.1\nflannel-iface: lo\n' "$tokfile" >/etc/k3s-test/agent.yaml
	out=$(inst PATH="$phone_path" INSTALL_K3S_SKIP_DOWNLOAD=true INSTALL_K3S_EXEC="agent --config=/etc/k3s-test/agent.yaml" \
		INSTALL_K3S_VERSION=$VERSION K3S_URL=https://127.0.0.1:6443 K3S_TOKEN_FILE=$tokfile busybox sh "$here/install.sh" 2>&1)
	check_output "install.sh agent (OpenRC): succeeds, keeps the existing links" 0 "Skipping /usr/local/bin/kubectl symlink to k3s, already exists" $? "$out"
	check "install.sh agent (OpenRC): /etc/init.d/k3s-agent runs 'k3s agent --config=...'" \
		grep -qxF 'command_args="agent --config=/etc/k3s-test/agent.yaml"' /etc/init.d/k3s-agent
	check "install.sh agent (OpenRC): env file holds K3S_TOKEN_FILE and K3S_URL only" \
		file_is /etc/rancher/k3s/k3s-agent.env "K3S_TOKEN_FILE='$tokfile'
K3S_URL='https://127.0.0.1:6443'"
	check "install.sh agent (OpenRC): k3s-agent-uninstall.sh written" test -x /usr/local/bin/k3s-agent-uninstall.sh
	check "install.sh agent (OpenRC): the node joins and is Ready" wait_until 20 node_ready ns-phone

	out=$(/usr/local/bin/k3s-agent-uninstall.sh 2>&1)
	check_output "k3s-agent-uninstall.sh: keeps the server's files" 0 "Additional k3s services installed, skipping uninstall of k3s" $? "$out"
	agent_removed() {
		! [ -e /etc/init.d/k3s-agent ] && ! [ -e /etc/rancher/k3s/k3s-agent.env ] && ! [ -e /usr/local/bin/k3s-agent-uninstall.sh ] &&
			! [ -L /etc/runlevels/default/k3s-agent ] && [ -x /usr/local/bin/k3s ] && [ -x /etc/init.d/k3s ]
	}
	check "k3s-agent-uninstall.sh: agent service, env file and itself removed; server's service and binary kept" agent_removed
	# As with k3s, its killall stops every k3s service on the host, the server's too.
	no_k3s() { ! k3s_pid server && ! k3s_pid agent; }
	check "k3s-agent-uninstall.sh: no k3s process left (killall stops every k3s service, as k3s's does)" no_k3s
	out=$(/usr/local/bin/k3s-uninstall.sh 2>&1)
	check_output "k3s-uninstall.sh: succeeds" 0 "" $? "$out"
	all_removed() {
		local f
		for f in /etc/init.d/k3s /etc/runlevels/default/k3s /etc/rancher/k3s /var/lib/rancher/k3s /usr/local/bin/k3s /usr/local/bin/kubectl \
			/usr/local/bin/crictl /usr/local/bin/ctr /usr/local/bin/k3s-killall.sh /usr/local/bin/k3s-uninstall.sh; do
			if [ -e "$f" ] || [ -L "$f" ]; then
				echo "      left: $f"
				return 1
			fi
		done
	}
	check "k3s-uninstall.sh: removes service, env, data, config, links, binary, killall and itself" all_removed
	check "k3s-uninstall.sh: keeps /etc/rancher/node/password, as k3s's uninstall does" test -s /etc/rancher/node/password
	check "k3s-uninstall.sh: no k3s process left" no_k3s

	echo "--- install.sh, systemd (dash, recording systemctl)"
	rm -f /usr/sbin/openrc-run /sbin/openrc-run
	rm -f /usr/bin/systemctl
	install -m 755 "$bin" /usr/local/bin/k3s
	out=$(inst PATH="$laptop_path" INSTALL_K3S_SKIP_DOWNLOAD=true INSTALL_K3S_EXEC=server dash "$here/install.sh" 2>&1)
	check_output "install.sh: without OpenRC or systemd it fails" 1 "Can not find systemd or openrc" $? "$out"
	printf '#!/bin/sh\necho "$*" >>/run/systemctl.calls\n' >/usr/bin/systemctl
	chmod 755 /usr/bin/systemctl
	put_server_config
	out=$(inst PATH="$laptop_path" INSTALL_K3S_SKIP_DOWNLOAD=true INSTALL_K3S_EXEC=server INSTALL_K3S_VERSION=$VERSION \
		K3S_TOKEN_FILE=$tokfile dash "$here/install.sh" 2>&1)
	check_output "install.sh server (systemd): succeeds" 0 "[INFO]  systemd: Starting k3s" $? "$out"
	check "install.sh server (systemd): disable, enable, daemon-reload, restart, in that order" \
		file_is /run/systemctl.calls "disable k3s
enable k3s
daemon-reload
restart k3s"
	local want_service
	want_service=$(
		cat <<-'EOF'
			[Service]
			Type=notify
			EnvironmentFile=-/etc/default/%N
			EnvironmentFile=-/etc/sysconfig/%N
			EnvironmentFile=-/etc/systemd/system/k3s.service.env
			KillMode=process
			Delegate=yes
			User=root
			LimitNOFILE=1048576
			TimeoutStartSec=0
			Restart=always
			RestartSec=5s
			ExecStart=/usr/local/bin/k3s \
		EOF
		printf "\t'server'"
	)
	service_section() { sed -n '/^\[Service\]/,$p' /etc/systemd/system/k3s.service | grep -v '^#'; }
	unit_ok() { [ "$(service_section)" = "$want_service" ]; }
	check "install.sh server (systemd): k3s.service's [Service] as k3s writes it (Type=notify, env file, ExecStart)" unit_ok
	check "install.sh server (systemd): env file next to the unit holds the token file's path only" \
		file_is /etc/systemd/system/k3s.service.env "K3S_TOKEN_FILE='$tokfile'"
	check "install.sh server (systemd): env file is 0600" mode_is /etc/systemd/system/k3s.service.env 600
	: >/run/systemctl.calls
	out=$(inst PATH="$laptop_path" INSTALL_K3S_SKIP_DOWNLOAD=true INSTALL_K3S_EXEC=server INSTALL_K3S_VERSION=$VERSION \
		K3S_TOKEN_FILE=$tokfile dash "$here/install.sh" 2>&1)
	check_output "install.sh server (systemd): a second identical run skips the restart" 0 "No change detected so skipping service start" $? "$out"
	check "install.sh server (systemd): ... and calls no restart" bash -c '! grep -q restart /run/systemctl.calls'
	out=$(inst PATH="$laptop_path" INSTALL_K3S_SKIP_DOWNLOAD=true INSTALL_K3S_EXEC="server --node-label=changed=yes" \
		K3S_TOKEN_FILE=$tokfile dash "$here/install.sh" 2>&1)
	check_output "install.sh server (systemd): a changed command line restarts" 0 "systemd: Starting k3s" $? "$out"
	out=$(inst PATH="$laptop_path" INSTALL_K3S_SKIP_DOWNLOAD=true K3S_URL=https://10.0.0.1:6443 K3S_TOKEN=the-token-value dash "$here/install.sh" 2>&1)
	check_output "install.sh agent (systemd): K3S_URL without a command means agent" 0 "systemd: Starting k3s-agent" $? "$out"
	check "install.sh agent (systemd): k3s-agent.service runs 'k3s agent'" grep -qxF "	'agent'" /etc/systemd/system/k3s-agent.service
	check "install.sh agent (systemd): a K3S_TOKEN given as a value is kept in the env file, as k3s does" \
		file_is /etc/systemd/system/k3s-agent.service.env "K3S_TOKEN='the-token-value'
K3S_URL='https://10.0.0.1:6443'"
	: >/run/systemctl.calls
	out=$(/usr/local/bin/k3s-agent-uninstall.sh 2>&1)
	check_output "k3s-agent-uninstall.sh (systemd): keeps the server's files" 0 "Additional k3s services installed" $? "$out"
	out=$(/usr/local/bin/k3s-uninstall.sh 2>&1)
	check_output "k3s-uninstall.sh (systemd): succeeds" 0 "" $? "$out"
	stopped_disabled() { grep -qxF "stop k3s.service" /run/systemctl.calls && grep -qxF "disable k3s" /run/systemctl.calls && grep -qxF daemon-reload /run/systemctl.calls; }
	check "k3s-uninstall.sh (systemd): stops, disables and reloads" stopped_disabled
	units_gone() { ! ls /etc/systemd/system/k3s* >/dev/null 2>&1 && ! [ -e /usr/local/bin/k3s ] && ! [ -e /etc/rancher/k3s ]; }
	check "k3s-uninstall.sh (systemd): unit, env, data and binary removed" units_gone

	# The laptop in the lab runs units with the lab's own systemctl stand-in; run the unit there too.
	local lab
	lab=$(cd "$here/.." && pwd)
	if [ -f "$lab/standins/laptop/systemctl" ] && command -v python3 >/dev/null; then
		echo "--- install.sh under the lab laptop's systemctl (lab/standins/laptop)"
		mkdir -p /usr/lib/k3ou-lab
		mount --bind "$lab" /usr/lib/k3ou-lab && mount -o remount,bind,ro /usr/lib/k3ou-lab
		mount --bind /usr/lib/k3ou-lab/standins/laptop/systemctl /usr/bin/systemctl
		install -m 755 "$bin" /usr/local/bin/k3s
		put_server_config
		out=$(inst PATH="$laptop_path" INSTALL_K3S_SKIP_DOWNLOAD=true INSTALL_K3S_EXEC=server INSTALL_K3S_VERSION=$VERSION \
			K3S_TOKEN_FILE=$tokfile dash "$here/install.sh" 2>&1)
		check_output "lab systemctl: install.sh server succeeds" 0 "systemd: Starting k3s" $? "$out"
		check "lab systemctl: the unit's k3s serves (EnvironmentFile, ExecStart read as systemd reads them)" wait_until 20 readyz
		check "lab systemctl: its node is Ready" wait_until 10 node_ready ns-laptop
		check "lab systemctl: k3s is active and enabled" bash -c 'systemctl is-active --quiet k3s && systemctl is-enabled --quiet k3s'
		out=$(/usr/local/bin/k3s-uninstall.sh 2>&1)
		check_output "lab systemctl: k3s-uninstall.sh succeeds" 0 "" $? "$out"
		lab_stopped() { ! systemctl is-active --quiet k3s && no_k3s; }
		check "lab systemctl: k3s stopped, no process left" lab_stopped
	else
		echo "(skipped: no lab/standins/laptop/systemctl or no python3)"
	fi
	return 0
}

if [ "${1:-}" = --install-tests ]; then
	install_tests "$2" "$3"
	echo "$passed $failed" >"$2/install-counts"
	exit 0
fi

# ---------------------------------------------------------------- main

[ "$(id -u)" -eq 0 ] || {
	echo "test.sh: run as root (it creates network and mount namespaces)" >&2
	exit 2
}
for tool in ip unshare busybox dash shellcheck sha256sum timeout od; do
	command -v "$tool" >/dev/null || {
		echo "test.sh: $tool is missing" >&2
		exit 2
	}
done
export PATH=$PATH:/usr/local/go/bin GOTOOLCHAIN=local

work=$(mktemp -d /tmp/k3s-standin-test.XXXXXX)
srv=k3ou-sti-srv-$$
agt=k3ou-sti-agt-$$
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	# Anything still running this test's own binary was started by this test.
	for p in /proc/[0-9]*; do
		if [ -n "${bin:-}" ] && [ "$(readlink "$p/exe" 2>/dev/null)" = "$bin" ]; then kill "${p#/proc/}" 2>/dev/null; fi
	done
	ip netns del "$srv" 2>/dev/null
	ip netns del "$agt" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "--- build, unit tests, shellcheck"
if "$here/build.sh" "$work/bin" "$VERSION" >/dev/null; then pass "build.sh builds the binary"; else
	fail "build.sh builds the binary"
	echo "$passed passed, $failed failed"
	exit 1
fi
bin=$work/bin/k3s
out=$(cd "$here" && go vet ./... 2>&1 && go test -count=1 ./... 2>&1)
check_output "go vet and go test ./..." 0 "ok" $? "$out"
out=$(shellcheck -s sh "$here/install.sh" 2>&1 && shellcheck "$here/build.sh" "$here/test.sh" 2>&1)
check_output "shellcheck install.sh build.sh test.sh" 0 "" $? "$out"
out=$("$here/build.sh" "$work/bin" "$VERSION")
check_output "build.sh keeps an up-to-date binary" 0 "is up to date" $? "$out"

version_out=$("$bin" --version)
version_ok() {
	[ "$(head -1 <<<"$version_out")" = "k3s version $VERSION (k3s-over-usb lab stand-in)" ] &&
		[ "$(awk 'NR == 1 {print $3}' <<<"$version_out")" = "$VERSION" ] &&
		[[ "$(sed -n 2p <<<"$version_out")" == "go version go"* ]]
}
check "--version: 'k3s version $VERSION (k3s-over-usb lab stand-in)', then the Go version" version_ok

mkdir -p "$work/empty"
out=$(K3OU_STANDIN_ROOT=$work/empty "$bin" server --xyz 2>&1)
check_output "server: an unknown flag is refused like k3s" 1 "unknown flag: --xyz" $? "$out"
out=$(K3OU_STANDIN_ROOT=$work/empty "$bin" agent --flannel-backend=vxlan 2>&1)
check_output "agent: a server-only flag is refused" 1 "unknown flag: --flannel-backend" $? "$out"
mkdir -p "$work/badcfg/etc/rancher/k3s"
printf 'node-name: x\nkubelet-arg: max-pods=10\n' >"$work/badcfg/etc/rancher/k3s/config.yaml"
out=$(K3OU_STANDIN_ROOT=$work/badcfg "$bin" server 2>&1)
check_output "server: an unknown config.yaml key is refused" 1 "unknown flag: --kubelet-arg (key \"kubelet-arg\" on line 2" $? "$out"

echo "--- server and agents in network namespaces $srv and $agt"
if ! ip netns add "$srv" || ! ip netns add "$agt"; then
	fail "create network namespaces"
	echo "$passed passed, $failed failed"
	exit 1
fi
# Both ends are created inside the namespaces; the machine's own namespace never sees them.
ip -n "$srv" link add name a type veth peer name b netns "$agt"
ip -n "$srv" addr add 10.99.0.1/24 dev a
ip -n "$srv" addr add 10.99.1.1/24 dev a
ip -n "$agt" addr add 10.99.0.2/24 dev b
ip -n "$agt" addr add 10.99.1.2/24 dev b
for ns in "$srv" "$agt"; do ip -n "$ns" link set lo up; done
ip -n "$srv" link set dev a up
ip -n "$agt" link set dev b up

token=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
srvroot=$work/srv
mkdir -p "$srvroot/etc/k3s-test" "$srvroot/etc/rancher/k3s"
printf '%s\n' "$token" >"$srvroot/etc/rancher/k3s/k3s-over-usb.token"
cat >"$srvroot/etc/k3s-test/config.yaml" <<'EOF'
# Managed by k3s-over-usb (pulumi up); local edits are overwritten.
# The k3s server on the laptop.
node-name: laptop
node-ip: 10.99.0.1
flannel-backend: vxlan
flannel-iface: a
cluster-cidr: 10.42.0.0/16
service-cidr: 10.43.0.0/16
disable:
  - servicelb
tls-san:
  - 10.99.0.1
  - laptop.lab
token-file: /etc/rancher/k3s/k3s-over-usb.token
write-kubeconfig-mode: "0600"
EOF

in_srv() { ip netns exec "$srv" env K3OU_STANDIN_ROOT="$srvroot" "$@"; }
kc() { in_srv "$bin" kubectl "$@"; }
start_server() {
	# Started directly, not through a function, so that $! is the server itself.
	ip netns exec "$srv" env K3OU_STANDIN_ROOT="$srvroot" "$bin" server --config /etc/k3s-test/config.yaml --data-dir /var/lib/k3s-test \
		>>"$work/server.log" 2>&1 &
	server_pid=$!
	pids+=("$server_pid")
}
stop_pid() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
readyz() { [ "$(kc get --raw=/readyz 2>/dev/null)" = ok ]; }
ready_status() { kc get node "$1" -o "$READY_JSONPATH" 2>/dev/null; }
node_is() { [ "$(ready_status "$1")" = "$2" ]; }
# agent_root DIR NAME TOKEN [SERVER_URL [NODE_IP [IFACE]]]: an agent's filesystem root.
agent_root() {
	mkdir -p "$1/etc/rancher/k3s"
	printf '%s\n' "$3" >"$1/etc/rancher/k3s/k3s-over-usb.token"
	cat >"$1/etc/rancher/k3s/config.yaml" <<EOF
server: ${4:-https://10.99.0.1:6443}
token-file: /etc/rancher/k3s/k3s-over-usb.token
node-name: $2
node-ip: ${5:-10.99.0.2}
flannel-iface: ${6:-b}
node-taint:
  - k3s-over-usb/phone=true:NoSchedule
EOF
}
start_agent() { # ROOT LOG
	ip netns exec "$agt" env K3OU_STANDIN_ROOT="$1" "$bin" agent >"$2" 2>&1 &
	pids+=("$!")
	agent_pid=$!
}
# run_agent ROOT SECONDS: runs an agent in the foreground until it exits or the time is up (124).
run_agent() {
	timeout "$2" ip netns exec "$agt" env K3OU_STANDIN_ROOT="$1" "$bin" agent 2>&1
}

start_server
check "server: the API answers /readyz through k3s kubectl" wait_until 20 readyz
kubeconfig=$srvroot/etc/rancher/k3s/k3s.yaml
check "server: k3s.yaml is 0600 (write-kubeconfig-mode \"0600\")" mode_is "$kubeconfig" 600
kubeconfig_ok() {
	grep -qxF '    server: https://127.0.0.1:6443' "$kubeconfig" && [ "$(grep -cE '^(  |- )name: default$' "$kubeconfig")" = 3 ] &&
		grep -qxF 'current-context: default' "$kubeconfig" && grep -q '^    certificate-authority-data: ' "$kubeconfig" &&
		grep -q '^    client-certificate-data: ' "$kubeconfig" && grep -q '^    client-key-data: ' "$kubeconfig"
}
check "server: k3s.yaml has k3s's layout (cluster, context and user 'default', server https://127.0.0.1:6443, inline certs)" kubeconfig_ok
nodetoken=$srvroot/var/lib/k3s-test/server/node-token
ca_hash=$(sha256sum "$srvroot/var/lib/k3s-test/server/tls/server-ca.crt" | cut -d' ' -f1)
check "server: node-token is K10<sha256 of the CA>::server:<token>" file_is "$nodetoken" "K10${ca_hash}::server:$token"
check "server: node-token is 0600" mode_is "$nodetoken" 600
check "server: its own node is Ready" node_is laptop True

agent_root "$work/agt1" one6t "$token"
start_agent "$work/agt1" "$work/agent1.log"
agent1_pid=$agent_pid
check "agent: joins and its node turns Ready (the node-ready step's jsonpath)" wait_until 20 node_is one6t True
check "agent: node password created once, 0600" mode_is "$work/agt1/etc/rancher/node/password" 600
check "agent: pinned the server's CA under its data dir" \
	cmp -s "$work/agt1/var/lib/rancher/k3s/agent/server-ca.crt" "$srvroot/var/lib/k3s-test/server/tls/server-ca.crt"
table_ok() {
	local t v=${VERSION//+/\\+}
	t=$(kc get nodes 2>&1)
	if grep -Eq "^laptop +Ready +control-plane +[0-9]+s +$v\$" <<<"$t" && grep -Eq "^one6t +Ready +<none> +[0-9]+s +$v\$" <<<"$t"; then
		return 0
	fi
	printf '      %s\n' "$t"
	return 1
}
check "kubectl get nodes: both nodes, Ready, with roles and version" table_ok
json_ok() {
	local j
	j=$(kc get node one6t -o json 2>&1)
	grep -q '"address": "10.99.0.2"' <<<"$j" && grep -q '"kubernetes.io/hostname": "one6t"' <<<"$j" && grep -q '"key": "k3s-over-usb/phone"' <<<"$j"
}
check "kubectl get node -o json: InternalIP, hostname label, taint" json_ok

agent_root "$work/wrongtoken" wrong-token "not-the-token"
out=$(run_agent "$work/wrongtoken" 20)
check_output "agent: a wrong token is rejected and the agent exits 1" 1 "token rejected" $? "$out"
agent_root "$work/wronghash" wrong-hash "K10$(printf '%064d' 0)::server:$token"
out=$(run_agent "$work/wronghash" 20)
check_output "agent: a K10 token for another CA is refused" 1 "token CA hash does not match" $? "$out"
agent_root "$work/nosan" nosan "$token" https://10.99.1.1:6443 10.99.1.2
out=$(run_agent "$work/nosan" 6)
check_output "agent: an address outside tls-san fails TLS verification (and keeps retrying)" 124 "certificate is valid for" $? "$out"
agent_root "$work/noiface" noiface "$token" https://10.99.0.1:6443 10.99.0.2 usb0
out=$(run_agent "$work/noiface" 20)
check_output "agent: a missing flannel-iface stops the agent" 1 "unable to find interface usb0" $? "$out"
agent_root "$work/agt2" one6t "$(cat "$nodetoken")"
out=$(run_agent "$work/agt2" 20)
check_output "agent: a second machine claiming one6t is refused" 1 \
	"Node password rejected, duplicate hostname or contents of '/etc/rancher/node/password' may not match server node-passwd entry" $? "$out"

echo "--- the node-remove sequence, then the reflashed phone rejoins"
stop_pid "$agent1_pid"
out=$(kc drain one6t --ignore-daemonsets --delete-emptydir-data --force --timeout=90s 2>&1)
check_output "kubectl drain: cordons and reports drained" 0 "node/one6t drained" $? "$out"
out=$(kc get nodes 2>&1)
check "kubectl get nodes: the drained node shows SchedulingDisabled" grep -Eq '^one6t +Ready,SchedulingDisabled ' <<<"$out"
out=$(kc delete node one6t --wait=true 2>&1)
check_output "kubectl delete node --wait=true" 0 'node "one6t" deleted' $? "$out"
out=$(kc -n kube-system delete secret one6t.node-password.k3s --ignore-not-found 2>&1)
check_output "kubectl delete secret --ignore-not-found: the node's deletion took the secret with it (k3s's node controller)" 0 "" $? "$out"
out=$(kc -n kube-system delete secret one6t.node-password.k3s 2>&1)
check_output "kubectl delete secret: a missing one fails without --ignore-not-found" 1 \
	'Error from server (NotFound): secrets "one6t.node-password.k3s" not found' $? "$out"
out=$(kc get node one6t 2>&1)
check_output "kubectl get node: a deleted node is NotFound" 1 'Error from server (NotFound): nodes "one6t" not found' $? "$out"
start_agent "$work/agt2" "$work/agent2.log"
agent2_pid=$agent_pid
check "agent: the machine refused before now joins as one6t (K10 token) and is Ready" wait_until 20 node_is one6t True
check "agent: ... having checked the CA against the token" bash -c "! grep -q 'carries no CA hash' '$work/agent2.log'"

out=$(printf 'apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n' | kc apply --dry-run=server -f - 2>&1)
check_output "kubectl apply --dry-run=server: refused, saying MetalLB is not in the lab" 1 \
	"the k3s-over-usb lab stand-in serves no custom resources (MetalLB is not run in the lab)" $? "$out"
out=$(kc describe node one6t 2>&1)
check_output "kubectl: an unsupported verb is named" 1 'does not support "describe node one6t"' $? "$out"

echo "--- restarts"
stop_pid "$server_pid"
start_server
check "server: restarts on the same data dir" wait_until 20 readyz
check "server: keeps its CA and token (node-token unchanged)" file_is "$nodetoken" "K10${ca_hash}::server:$token"
check "agent: heartbeats reach the restarted server; the node is Ready" wait_until 25 node_is one6t True
stop_pid "$server_pid"
printf 'another-token\n' >"$srvroot/etc/rancher/k3s/k3s-over-usb.token"
out=$(timeout 20 ip netns exec "$srv" env K3OU_STANDIN_ROOT="$srvroot" "$bin" server --config /etc/k3s-test/config.yaml --data-dir /var/lib/k3s-test 2>&1)
check_output "server: refuses to start with a token other than its bootstrap token" 1 "bootstrapped with a different token" $? "$out"
printf '%s\n' "$token" >"$srvroot/etc/rancher/k3s/k3s-over-usb.token"
start_server
wait_until 20 readyz
stop_pid "$agent2_pid"
check "server: a node whose agent stopped turns Ready=Unknown after 40 s" wait_until 60 node_is one6t Unknown

echo "--- install.sh in private mount, PID and network namespaces"
unshare --mount --pid --net --fork --mount-proc --propagation private -- bash "$here/test.sh" --install-tests "$work" "$bin"
if [ -f "$work/install-counts" ]; then
	read -r p f <"$work/install-counts"
	passed=$((passed + p))
	failed=$((failed + f))
else
	fail "install.sh tests ran to the end"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
