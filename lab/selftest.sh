#!/usr/bin/env bash
# shellcheck disable=SC2016 # remote commands are single-quoted on purpose
#
# Self-test of the lab: brings it up, checks the day-zero household through
# real SSH from the operator's namespace (the way Pulumi will reach it), then
# reboots, reflashes and upgrades hosts and checks what survives, checks what a
# kubelet needs in a host (cgroups, tunables, propagation) and runs Debian's
# containerd in two hosts, and finally tears the lab down and checks nothing is
# left (containers and shims included) and the machine is as it was.
#
#   lab/selftest.sh            (root; the lab must be down)
#
# The last line is "N passed, M failed"; the exit code is non-zero on failure.
set -uo pipefail

LAB_DIR=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
LAB="$LAB_DIR/lab.sh"
WORK=$(mktemp -d /tmp/k3ou-selftest.XXXXXX)
PASSED=0
FAILED=0

pass() {
	PASSED=$((PASSED + 1))
	printf 'ok   %s\n' "$1"
}
fail() {
	FAILED=$((FAILED + 1))
	printf 'FAIL %s\n' "$1"
	[ -n "${2:-}" ] && printf '     %s\n' "$2" | head -20
	return 0
}
check() { # name expected actual
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected [$2], got [$3]"; fi
}
check_contains() { # name needle haystack
	case $3 in *"$2"*) pass "$1" ;; *) fail "$1" "[$2] not in: $(printf '%s' "$3" | head -c 600)" ;; esac
}
finish() {
	rm -rf "$WORK"
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
	exit $?
}

if [ "$(id -u)" -ne 0 ]; then
	echo "selftest.sh: must run as root" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

root_ns() { ip -br link; echo ---; ip -br addr; echo ---; ip route; }
root_ns >"$WORK/root-ns.before"
# The machine's own kernel tunables and mounts: hosts must change neither.
TUNABLES="vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys kernel/keys/root_maxbytes"
tunables() { for k in $TUNABLES; do printf '%s=%s ' "$k" "$(cat "/proc/sys/$k")"; done; }
tunables >"$WORK/tunables.before"
findmnt -n -o PROPAGATION / >"$WORK/propagation.before"
cat /proc/self/mountinfo >"$WORK/mountinfo.before"
# Root mounts that are not the lab's own (its state tmpfs, the phones' /boot partitions in it, its
# netns files).
machine_mounts() { grep -v -E ' (/var/lib/k3s-over-usb-lab(/[a-z0-9]+/disk/boot)?|/run/netns/k3ou-[a-z0-9]+|/run/netns) ' "$1" || true; }
# A process that is neither gone nor a zombie waiting for init.
alive() { [ -n "$1" ] && [ -e "/proc/$1" ] && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
# Those of the given processes still running (a zombie has ended), as "pid(comm)", after up to 5 s:
# a killed process leaves its cgroups and namespaces before it has finished exiting, and stays a
# zombie until its new parent reaps it.
still_running() {
	local left p
	for _ in $(seq 1 50); do
		left=""
		for p in "$@"; do
			alive "$p" && left="$left $p($(cat "/proc/$p/comm" 2>/dev/null))"
		done
		[ -z "$left" ] && break
		sleep 0.1
	done
	printf '%s' "$left"
}
t_start=$(date +%s.%N)

# --- up -----------------------------------------------------------------------------
t0=$(date +%s.%N)
if ! "$LAB" up >"$WORK/up.log" 2>&1; then
	fail "lab.sh up succeeds" "$(tail -20 "$WORK/up.log")"
	finish
fi
up_s=$(awk -v s="$t0" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
pass "lab.sh up succeeds (${up_s} s)"
if awk -v t="$up_s" 'BEGIN { exit !(t < 60) }'; then pass "up with 3 phones takes < 60 s"; else fail "up with 3 phones takes < 60 s" "$up_s s"; fi
check "root namespace unchanged after up" "$(cat "$WORK/root-ns.before")" "$(root_ns)"

"$LAB" status --json >"$WORK/status.json" 2>"$WORK/status.err" || fail "status --json" "$(cat "$WORK/status.err")"
J() { jq -r "$1" "$WORK/status.json"; }
check "status --json: 3 phones" 3 "$(J '.phones | length')"
check "status --json: laptop" "k3master 192.168.100.52 ubuntu wan0 9c:69:d3:4a:f4:a9 pci-0000:00:14.0" \
	"$(J '[.laptop.name, .laptop.address, .laptop.user, .laptop.lanInterface, .laptop.lanMac, .laptop.usbControllerPath] | join(" ")')"
check "status --json: seed phones, ports, day-zero names" \
	"one6t oneplus-fajita pci-0000:00:14.0-usb-0:5.2:1.0 enp0s20f0u5u2 one62 oneplus-enchilada pci-0000:00:14.0-usb-0:5.3:1.0 enp0s20f0u5u3 one61 oneplus-enchilada pci-0000:00:14.0-usb-0:5.1:1.0 enp0s20f0u5u1" \
	"$(J '[.phones[] | .name, .device, .hubPort, .laptopIfaceDayZero] | join(" ")')"
check "status --json: lan and operator" "192.168.100.0/24 192.168.100.1 k3ou-operator 192.168.100.10" \
	"$(J '[.lan.cidr, .lan.gateway, .operatorNetns, .operator.address] | join(" ")')"
key_mode=$(stat -c %a "$(J .sshPrivateKeyPath)")
check "operator private key is 0600" 600 "$key_mode"

KEY=$(J .sshPrivateKeyPath)
OPNS=$(J .operatorNetns)
LAPTOP=$(J .laptop.address)
known_hosts() {
	"$LAB" status --json >"$WORK/status.json"
	{
		echo "$LAPTOP $(J .laptop.hostKey)"
		J '.phones[] | .name + " " + .hostKey'
	} >"$WORK/known_hosts"
}
known_hosts
ssh_opts() { # known_hosts-file
	SSH_OPTS=(-i "$KEY" -o UserKnownHostsFile="$1" -o StrictHostKeyChecking=yes
		-o BatchMode=yes -o ConnectTimeout=5 -o LogLevel=ERROR)
}
ssh_opts "$WORK/known_hosts"
# For ProxyJump (whose jump connection takes no command-line options).
cat >"$WORK/ssh_config" <<EOF
Host k3master
	HostName $LAPTOP
	User ubuntu
Host *
	IdentityFile $KEY
	UserKnownHostsFile $WORK/known_hosts
	StrictHostKeyChecking yes
	BatchMode yes
	ConnectTimeout 5
	LogLevel ERROR
EOF
laptop_ssh() { ip netns exec "$OPNS" ssh "${SSH_OPTS[@]}" "ubuntu@$LAPTOP" "$@"; }
# A phone by its link-local address on the laptop's interface, through the
# laptop (direct-tcpip to a scoped address), host key checked by alias.
phone_ssh() { # phone ll iface cmd
	local phone=$1 ll=$2 ifc=$3
	shift 3
	ip netns exec "$OPNS" ssh "${SSH_OPTS[@]}" -o HostKeyAlias="$phone" \
		-o ProxyCommand="ssh ${SSH_OPTS[*]} -W [%h]:%p ubuntu@$LAPTOP" "user@$ll%$ifc" "$@"
}
# Finds the phone on a laptop interface: up the link, ping all nodes, take
# the answer that is not the laptop's own address.
find_phone() { # iface -> fe80 address of the phone
	laptop_ssh "sudo ip link set $1 up
		own=\$(ip -6 -o addr show dev $1 scope link | awk '{ print \$4 }' | cut -d/ -f1)
		for i in \$(seq 1 50); do
			ll=\$(ping -6 -c2 -W1 ff02::1%$1 2>/dev/null | sed -n 's/.*bytes from \\(fe80::[0-9a-f:]*\\)%.*/\\1/p' | grep -vx \"\$own\" | head -n1)
			[ -n \"\$ll\" ] && { echo \"\$ll\"; exit 0; }
			sleep 0.2
		done
		exit 1"
}

# --- laptop ---------------------------------------------------------------------------
out=$(laptop_ssh 'hostname; id -un; sudo -n id -u; ip -br -4 addr show wan0; ip route show default' 2>&1)
check "laptop over ssh: hostname, user, passwordless sudo, wan0, default route" \
	"k3master ubuntu 0 wan0 192.168.100.52/24 default via 192.168.100.1" \
	"$(echo "$out" | awk '{ $0 = $0; if ($1 ~ /^wan0/) print "wan0", $3; else if ($1 == "default") print $1, $2, $3; else print $1 }' | tr '\n' ' ' | sed 's/ $//')"

# --- isolation ---------------------------------------------------------------------------
check "operator namespace has only lo and lan0" "lan0 lo" \
	"$(ip -n "$OPNS" -br link | awk '{ print $1 }' | sed 's/@.*//' | sort | tr '\n' ' ' | sed 's/ $//')"
if ip netns exec "$OPNS" ping -c1 -W1 172.16.42.1 >/dev/null 2>&1; then
	fail "operator cannot reach a phone directly (172.16.42.1)"
else
	pass "operator cannot reach a phone directly (172.16.42.1)"
fi
check "router has no default route (no uplink)" "" "$(ip -n k3ou-router route show default)"

# --- day zero on the laptop ----------------------------------------------------------------
links=$(laptop_ssh 'ip -br link' | awk '{ print $1 }' | sed 's/@.*//' | sort | tr '\n' ' ')
for ifc in $(J '.phones[].laptopIfaceDayZero'); do
	check_contains "day zero: laptop link $ifc has its path name" "$ifc " "$links"
done
props=$(laptop_ssh 'udevadm info -q property -p /sys/class/net/enp0s20f0u5u2')
for want in ID_PATH=pci-0000:00:14.0-usb-0:5.2:1.0 ID_NET_DRIVER=cdc_ncm ID_SERIAL=OnePlus_OnePlus_6T_postmarketOS \
	ID_VENDOR_ID=18d1 ID_MODEL_ID=d001; do
	check_contains "udevadm info on the laptop: $want" "$want" "$props"
done

# --- day zero on each phone, found by link-local ---------------------------------------------
declare -A LL
for i in 0 1 2; do
	phone=$(J ".phones[$i].name")
	dev=$(J ".phones[$i].device")
	ifc=$(J ".phones[$i].laptopIfaceDayZero")
	if ! LL[$phone]=$(find_phone "$ifc") || [ -z "${LL[$phone]}" ]; then
		fail "$phone: found from the laptop by ping -6 ff02::1%$ifc"
		continue
	fi
	pass "$phone: found from the laptop by ping -6 ff02::1%$ifc (${LL[$phone]})"
	out=$(phone_ssh "$phone" "${LL[$phone]}" "$ifc" '
		echo "hostname=$(hostname) file=$(cat /etc/hostname)"
		echo "sh=$(readlink /bin/sh)"
		echo "groups=$(id -Gn)"
		echo "usb0=$(ip -4 -o addr show usb0 | awk "{ print \$4 }")"
		echo "fdt=$(fdtget -t u /boot/dtbs/qcom/sdm845-'"$dev"'.dtb /battery voltage-max-design-microvolt)"
		echo "live=$(od -An -tx1 /sys/firmware/devicetree/base/battery/voltage-max-design-microvolt)"
		doas nft list chain inet filter forward
		doas rc-update show default
		echo "bash=$(command -v bash || echo none)"
	' 2>&1)
	check_contains "$phone: ssh through the laptop by link-local, hostname is the device name" "hostname=$dev file=$dev" "$out"
	check_contains "$phone: /bin/sh is busybox" "sh=/bin/busybox" "$out"
	check_contains "$phone: user is in wheel" "wheel" "$out"
	check_contains "$phone: usb0 is 172.16.42.1/16" "usb0=172.16.42.1/16" "$out"
	check_contains "$phone: fdtget reads 4400000" "fdt=4400000" "$out"
	check_contains "$phone: live device tree bytes 00 43 23 80" "live= 00 43 23 80" "$out"
	check_contains "$phone: doas nft: forward policy drop" "type filter hook forward priority filter; policy drop;" "$out"
	check_contains "$phone: nftables in the default runlevel" "nftables | default" "$out"
	check_contains "$phone: no bash (pmOS)" "bash=none" "$out"
done

# --- reboot keeps /etc, drops runtime state ----------------------------------------------------
P=one62
IFC=$(J '.phones[] | select(.name == "one62") | .laptopIfaceDayZero')
if [ -n "${LL[$P]:-}" ]; then
	phone_ssh "$P" "${LL[$P]}" "$IFC" 'echo one62 | doas tee /etc/hostname >/dev/null
		doas ip addr add 10.0.2.2/30 dev usb0
		doas nmcli radio wifi off
		doas rfkill block bluetooth' || fail "$P: runtime changes before reboot"
	mac_before=$(laptop_ssh "cat /sys/class/net/$IFC/address")
	if "$LAB" reboot "$P" >"$WORK/reboot.log" 2>&1; then pass "lab.sh reboot $P"; else fail "lab.sh reboot $P" "$(tail -5 "$WORK/reboot.log")"; fi
	mac_after=$(laptop_ssh "cat /sys/class/net/$IFC/address" 2>&1)
	if [ -n "$mac_after" ] && [ "$mac_after" != "$mac_before" ]; then
		pass "$P reboot: the laptop link is back as $IFC with a new MAC"
	else
		fail "$P reboot: the laptop link is back as $IFC with a new MAC" "before $mac_before after $mac_after"
	fi
	if LL[$P]=$(find_phone "$IFC") && [ -n "${LL[$P]}" ]; then
		out=$(phone_ssh "$P" "${LL[$P]}" "$IFC" 'hostname; ip -4 -o addr show usb0 | awk "{ print \$4 }" | tr "\n" " "; echo; nmcli radio wifi; rfkill list bluetooth | grep Soft')
		check "$P reboot: /etc/hostname edit kept, added address dropped, nmcli persisted, rfkill reset" \
			"one62|172.16.42.1/16 |disabled|	Soft blocked: no" "$(echo "$out" | tr '\n' '|' | sed 's/|$//')"
	else
		fail "$P reboot: phone found again by link-local"
	fi
	# Pinning the gadget's host_addr takes /etc/deviceinfo + mkinitfs + reboot;
	# /etc/local.d/*.start runs at boot.
	if [ -n "${LL[$P]:-}" ]; then
		phone_ssh "$P" "${LL[$P]}" "$IFC" 'doas sh -s' <<-'EOF' || fail "$P: pin host_addr, add a local.d script"
			set -e
			echo 'deviceinfo_usb_network_host_addr="02:50:4d:06:00:02"' >>/etc/deviceinfo
			mkinitfs >/dev/null
			printf '#!/bin/sh\nip addr add 10.0.2.2/30 dev usb0\n' >/etc/local.d/usb0.start
			chmod +x /etc/local.d/usb0.start
		EOF
		"$LAB" reboot "$P" >/dev/null 2>&1 || fail "lab.sh reboot $P (pinned)"
		check "$P: after mkinitfs + reboot the laptop sees the pinned host_addr" 02:50:4d:06:00:02 \
			"$(laptop_ssh "cat /sys/class/net/$IFC/address" 2>&1)"
		check_contains "$P: /etc/local.d/usb0.start ran at boot" "10.0.2.2/30" "$("$LAB" exec "$P" -- ip -4 addr show usb0)"
	fi
fi

# --- laptop reboot keeps the phones' runtime state ------------------------------------------------
P=one6t
IFC=enp0s20f0u5u2
if [ -n "${LL[$P]:-}" ]; then
	laptop_ssh "sudo ip addr add 10.0.1.1/30 dev $IFC" && phone_ssh "$P" "${LL[$P]}" "$IFC" 'doas ip addr add 10.0.1.2/30 dev usb0'
	out=$(ip netns exec "$OPNS" ssh -F "$WORK/ssh_config" -o HostKeyAlias=one6t -o ProxyJump=k3master user@10.0.1.2 hostname 2>&1)
	check "ssh -J through the laptop to a phone's /30 address" oneplus-fajita "$out"
	if "$LAB" reboot laptop >"$WORK/reboot-laptop.log" 2>&1; then pass "lab.sh reboot laptop"; else fail "lab.sh reboot laptop" "$(tail -5 "$WORK/reboot-laptop.log")"; fi
	out=$(laptop_ssh "ip -br link show $IFC >/dev/null && echo name-ok; ip -4 addr show dev $IFC | grep -c inet" 2>&1)
	check "laptop reboot: link back as $IFC, its runtime address gone" "name-ok|0" "$(echo "$out" | tr '\n' '|' | sed 's/|$//')"
	check_contains "laptop reboot: the phone kept 10.0.1.2 on usb0" "10.0.1.2/30" "$("$LAB" exec one6t -- ip -4 addr show usb0)"
fi

# --- battery cap chain: fdtput + mkinitfs + reboot, then a kernel upgrade -------------------------
P=one61
IFC=enp0s20f0u5u1
# The laptop's reboot left the unconfigured phone links down again.
if LL[$P]=$(find_phone "$IFC") && [ -n "${LL[$P]}" ]; then
	phone_ssh "$P" "${LL[$P]}" "$IFC" 'doas fdtput -t u /boot/dtbs/qcom/sdm845-oneplus-enchilada.dtb /battery voltage-max-design-microvolt 3800000 && doas mkinitfs >/dev/null' ||
		fail "$P: fdtput + mkinitfs"
	"$LAB" reboot "$P" >/dev/null 2>&1 || fail "lab.sh reboot $P"
	check "$P: after fdtput + mkinitfs + reboot the live tree reads 00 39 fb c0" " 00 39 fb c0" \
		"$("$LAB" exec "$P" -- od -An -tx1 /sys/firmware/devicetree/base/battery/voltage-max-design-microvolt)"
	"$LAB" kernel-upgrade "$P" >/dev/null 2>&1 || fail "lab.sh kernel-upgrade $P"
	check "$P: a kernel upgrade puts the stock DTB back" 4400000 \
		"$("$LAB" exec "$P" -- fdtget -t u /boot/dtbs/qcom/sdm845-oneplus-enchilada.dtb /battery voltage-max-design-microvolt)"
	"$LAB" reboot "$P" >/dev/null 2>&1 || fail "lab.sh reboot $P"
	check "$P: after the kernel upgrade and a reboot the live tree is stock again" " 00 43 23 80" \
		"$("$LAB" exec "$P" -- od -An -tx1 /sys/firmware/devicetree/base/battery/voltage-max-design-microvolt)"
fi

# --- reflash: new host key, day zero again ---------------------------------------------------------
old_key=$(J '.phones[] | select(.name == "one61") | .hostKey')
cp "$WORK/known_hosts" "$WORK/known_hosts.old"
if "$LAB" reflash one61 >"$WORK/reflash.log" 2>&1; then pass "lab.sh reflash one61"; else fail "lab.sh reflash one61" "$(tail -5 "$WORK/reflash.log")"; fi
known_hosts
new_key=$(J '.phones[] | select(.name == "one61") | .hostKey')
if [ -n "$new_key" ] && [ "$new_key" != "$old_key" ]; then pass "reflash changes the host key"; else fail "reflash changes the host key"; fi
if ll=$(find_phone enp0s20f0u5u1) && [ -n "$ll" ]; then
	check "reflashed one61 answers with its new key, at day zero" "oneplus-enchilada 4400000" \
		"$(phone_ssh one61 "$ll" enp0s20f0u5u1 'echo $(hostname) $(fdtget -t u /boot/dtbs/qcom/sdm845-oneplus-enchilada.dtb /battery voltage-max-design-microvolt)' 2>&1)"
	ssh_opts "$WORK/known_hosts.old"
	if out=$(phone_ssh one61 "$ll" enp0s20f0u5u1 true 2>&1); then
		fail "the old host key of one61 is rejected after reflash"
	else
		check_contains "the old host key of one61 is rejected after reflash" "Host key verification failed" "$out"
	fi
	ssh_opts "$WORK/known_hosts"
else
	fail "reflashed one61 found by link-local"
fi

# --- what containerd, runc and a kubelet need in every host ----------------------------------------
# (lab/README.md, "Running a kubelet in a host")
# The machine's cgroup mounts, by their name under /sys/fs/cgroup: every host mounts the same.
cg_mounts='{ for (i = 7; i <= NF; i++) if ($i == "-") break }
	$5 ~ "^/sys/fs/cgroup/" && $4 == "/" && ($(i + 1) == "cgroup" || $(i + 1) == "cgroup2") { sub("^/sys/fs/cgroup/", "", $5); print $5 }'
machine_cg=$(awk "$cg_mounts" /proc/self/mountinfo | sort | tr '\n' ' ')
# Every process in a host's network namespace, in the host's cgroup in every hierarchy
# (from the machine's view): prints those that are not.
outside_host_cgroups() { # host
	local p
	for p in $(ip netns pids "k3ou-$1"); do
		awk -F: -v h="$1" '$3 !~ ("/k3ou-lab/" h "(/|$)") { bad = 1 } END { exit !bad }' "/proc/$p/cgroup" 2>/dev/null &&
			printf '%s(%s) ' "$p" "$(cat "/proc/$p/comm")"
	done
	return 0
}
for H in laptop one6t one62 one61; do
	check "$H: every process (sshd, its sessions, services) is in k3ou-lab/$H in every hierarchy" "" "$(outside_host_cgroups "$H")"
done
check "laptop: an ssh session's cgroup is / in every hierarchy" "/" "$(laptop_ssh 'cut -d: -f3 /proc/self/cgroup | sort -u')"
for H in laptop one6t; do
	out=$("$LAB" exec "$H" -- sh -s "$cg_mounts" <<-'EOF' 2>&1
		echo "cgroup=$(cut -d: -f3 /proc/self/cgroup | sort -u | tr '\n' ' ')"
		echo "mounts=$(awk "$1" /proc/self/mountinfo | sort | tr '\n' ' ')"
		t=""
		for k in vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys kernel/keys/root_maxbytes; do
			t="$t$k=$(cat /proc/sys/$k) "
		done
		echo "tunables=$t"
		echo "propagation=$(findmnt -n -o PROPAGATION /)"
		echo "proc=$(awk '$5 == "/proc"' /proc/self/mountinfo | wc -l) procsys=$(awk '$5 == "/proc/sys" { split($6, o, ","); print o[1] }' /proc/self/mountinfo)"
		echo "sysfs=$(awk '$5 == "/sys" { split($6, o, ","); print o[1] }' /proc/self/mountinfo)"
		echo "kmsg-read=$(dd if=/dev/kmsg bs=16384 count=1 2>/dev/null | wc -c | awk '{ print ($1 > 0) ? "yes" : "no" }')"
		if (: >/dev/kmsg) 2>/dev/null; then echo kmsg-write=yes; else echo kmsg-write=no; fi
	EOF
	)
	check_contains "$H: its cgroup namespace is rooted at its cgroup in every hierarchy" "cgroup=/ " "$out"
	check_contains "$H: the machine's cgroup mounts again (${machine_cg% }), rooted at the host" "mounts=$machine_cg" "$out"
	check_contains "$H: /proc/sys holds the values a kubelet wants" \
		"tunables=vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000 " "$out"
	check_contains "$H: / has shared propagation" "propagation=shared" "$out"
	check_contains "$H: one /proc, /proc/sys read-only, after its init ran" "proc=1 procsys=ro" "$out"
	check_contains "$H: /sys read-only" "sysfs=ro" "$out"
	check_contains "$H: /dev/kmsg readable, not writable" "kmsg-read=yes|kmsg-write=no" "$(echo "$out" | grep kmsg | tr '\n' '|')"
done
check "the machine's tunables are its own" "$(cat "$WORK/tunables.before")" "$(tunables)"
check "the machine's / propagation is unchanged" "$(cat "$WORK/propagation.before")" "$(findmnt -n -o PROPAGATION /)"
check "the machine's mounts: only the lab's state and netns files added" \
	"$(machine_mounts "$WORK/mountinfo.before")" "$(cat /proc/self/mountinfo >"$WORK/mountinfo.up"; machine_mounts "$WORK/mountinfo.up")"

# OpenRC as PmosNode leaves it (rc_cgroup_mode="unified", cgroups in default): a
# supervise-daemon service runs inside the phone's cgroups.
"$LAB" exec one6t -- sh -s <<-'EOF' >"$WORK/probe.log" 2>&1 || fail "one6t: a supervise-daemon service starts" "$(tail -5 "$WORK/probe.log")"
	set -e
	sed -i 's/^#*rc_cgroup_mode=.*/rc_cgroup_mode="unified"/' /etc/rc.conf
	printf '#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=/bin/sleep\ncommand_args=4242\n' >/etc/init.d/k3ou-probe
	chmod 0755 /etc/init.d/k3ou-probe
	rc-service k3ou-probe start
EOF
probe=""
for _ in $(seq 1 50); do
	for p in $(ip netns pids k3ou-one6t); do
		[ "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" = "/bin/sleep 4242 " ] && probe=$p
	done
	[ -n "$probe" ] && break
	sleep 0.1
done
if [ -n "$probe" ]; then
	check "one6t: a supervise-daemon service (rc_cgroup_mode=unified) is in k3ou-lab/one6t in every hierarchy" "" \
		"$(awk -F: '$3 !~ "/k3ou-lab/one6t(/|$)"' "/proc/$probe/cgroup")"
else
	fail "one6t: a supervise-daemon service (rc_cgroup_mode=unified) is in k3ou-lab/one6t in every hierarchy" "no /bin/sleep 4242 in k3ou-one6t"
fi
"$LAB" exec one6t -- rc-service k3ou-probe stop >/dev/null 2>&1 || fail "one6t: rc-service k3ou-probe stop"

# Debian's containerd (the config the lab's k3s writes: restrict_oom_score_adj, its own
# root and state) runs a container from an image made here (a static busybox).
img=$WORK/image
mkdir -p "$img/rootfs/bin" "$img/blobs/sha256"
cp /usr/bin/busybox "$img/rootfs/bin/busybox"
blob() { # file -> "digest size", moved into the blobs
	local d s
	d=$(sha256sum "$1" | cut -d' ' -f1)
	s=$(stat -c %s "$1")
	mv "$1" "$img/blobs/sha256/$d"
	echo "$d $s"
}
tar -C "$img/rootfs" --numeric-owner --owner=0 --group=0 --mtime=@0 -cf "$img/layer" bin
read -r layer layer_size <<<"$(blob "$img/layer")"
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/busybox","sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$layer" >"$img/config"
read -r config config_size <<<"$(blob "$img/config")"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%d}]}' \
	"$config" "$config_size" "$layer" "$layer_size" >"$img/manifest"
read -r manifest manifest_size <<<"$(blob "$img/manifest")"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"io.containerd.image.name":"docker.io/k3ou/busybox:selftest","org.opencontainers.image.ref.name":"selftest"}}]}' \
	"$manifest" "$manifest_size" >"$img/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$img/oci-layout"
tar -C "$img" -cf "$WORK/image.tar" oci-layout index.json blobs
cat >"$WORK/containerd.toml" <<-'EOF'
	version = 2
	root = "/var/lib/rancher/k3s/agent/containerd"
	state = "/run/k3s/containerd"
	[grpc]
	  address = "/run/k3s/containerd/containerd.sock"
	[plugins."io.containerd.grpc.v1.cri"]
	  restrict_oom_score_adj = true
	[plugins."io.containerd.grpc.v1.cri".containerd]
	  snapshotter = "overlayfs"
EOF
declare -A TASK SHIM
for H in laptop one6t; do
	"$LAB" exec "$H" -- sh -c 'mkdir -p /etc/k3ou-selftest /var/lib/k3ou-selftest && cat >/etc/k3ou-selftest/containerd.toml' <"$WORK/containerd.toml"
	"$LAB" exec "$H" -- sh -c 'cat >/var/lib/k3ou-selftest/image.tar' <"$WORK/image.tar"
	out=$("$LAB" exec "$H" -- sh -s <<-'EOF' 2>&1
		containerd --config /etc/k3ou-selftest/containerd.toml </dev/null >/var/log/k3ou-selftest-containerd.log 2>&1 &
		echo $! >/run/k3ou-selftest-containerd.pid
		C="ctr -a /run/k3s/containerd/containerd.sock -n k8s.io"
		for i in $(seq 1 100); do $C version >/dev/null 2>&1 && break; sleep 0.1; done
		echo "oom=$(containerd --config /etc/k3ou-selftest/containerd.toml config dump | grep -c 'restrict_oom_score_adj = true')"
		$C images import /var/lib/k3ou-selftest/image.tar >/dev/null
		echo "hello=$($C run --rm docker.io/k3ou/busybox:selftest k3ou-hello /bin/busybox echo hello)"
		$C run -d docker.io/k3ou/busybox:selftest k3ou-c1 /bin/busybox sleep 1000 >/dev/null
		echo "task=$($C task ls | awk '$1 == "k3ou-c1" { print $2 }')"
		kill "$(cat /run/k3ou-selftest-containerd.pid)"
	EOF
	)
	check_contains "$H: containerd's CRI config has restrict_oom_score_adj = true" "oom=1" "$out"
	check_contains "$H: ctr run --rm of an imported image (overlayfs snapshot) prints hello" "hello=hello" "$out"
	TASK[$H]=$(echo "$out" | sed -n 's/^task=//p')
	SHIM[$H]=$(awk '{ print $4 }' "/proc/${TASK[$H]:-x}/stat" 2>/dev/null)
	if alive "${TASK[$H]}"; then
		pass "$H: a detached container runs (pid ${TASK[$H]}, shim ${SHIM[$H]} $(cat "/proc/${SHIM[$H]}/comm" 2>/dev/null))"
		check "$H: the container's memory and pids cgroups are under k3ou-lab/$H (machine's view)" "memory pids" \
			"$(awk -F: -v h="$H" '$2 ~ /^(memory|pids)$/ && $3 ~ ("/k3ou-lab/" h "/k8s.io/k3ou-c1$") { print $2 }' "/proc/${TASK[$H]}/cgroup" | sort | tr '\n' ' ' | sed 's/ $//')"
	else
		fail "$H: a detached container runs" "$out"
	fi
done
check "the machine's tunables are still its own" "$(cat "$WORK/tunables.before")" "$(tunables)"

# containerd is gone (killed above): a reboot must still end the shim and the container
# (other namespaces, found by their cgroups) and remove their cgroups.
if "$LAB" reboot one6t >"$WORK/reboot-ctr.log" 2>&1; then pass "lab.sh reboot one6t (containerd killed, container left)"; else fail "lab.sh reboot one6t (containerd killed, container left)" "$(tail -5 "$WORK/reboot-ctr.log")"; fi
check "one6t reboot: no container or shim survives" "" "$(still_running "${TASK[one6t]}" "${SHIM[one6t]}")"
check "one6t reboot: no container cgroup left" "" "$(find /sys/fs/cgroup -path '*/k3ou-lab/one6t/*' -name k8s.io 2>/dev/null)"
out=$("$LAB" exec one6t -- sh -c '
	[ -n "$(ls /var/lib/rancher/k3s/agent/containerd/io.containerd.content.v1.content/blobs/sha256)" ] && echo content=kept
	[ -e /run/k3s ] || echo run=empty
	rc-service cgroups status 2>&1 | tr -d " *"' 2>&1)
check_contains "one6t reboot: /var/lib/rancher kept (like a disk), /run/k3s gone (tmpfs)" "content=kept|run=empty" "$(echo "$out" | tr '\n' '|')"
check_contains "one6t reboot with rc_cgroup_mode=unified: the cgroups service started" "status:started" "$out"
check_contains "one6t reboot with rc_cgroup_mode=unified: the cgroup mounts are the machine's" "mounts=$machine_cg" \
	"$("$LAB" exec one6t -- sh -c 'echo "mounts=$(awk "$1" /proc/self/mountinfo | sort | tr "\n" " ")"' _ "$cg_mounts")"

if [ -n "${K3OU_SELFTEST_KEEP:-}" ]; then
	echo "K3OU_SELFTEST_KEEP is set: the lab stays up for inspection"
	finish
fi

# --- down -----------------------------------------------------------------------------------------
LAB_NS_RE='^k3ou-(lan|router|operator|laptop|pristine|one6t|one62|one61|phone[0-9][0-9])$'
lab_pids=$(for ns in $(ip netns list | awk '{ print $1 }' | grep -E "$LAB_NS_RE"); do ip netns pids "$ns"; done | sort -u | tr '\n' ' ')
# The laptop's container and its shim (containerd was killed): in no lab network namespace.
lab_pids="$lab_pids ${TASK[laptop]:-} ${SHIM[laptop]:-}"
t_down=$(date +%s.%N)
if "$LAB" down >"$WORK/down.log" 2>&1; then
	pass "lab.sh down ($(awk -v s="$t_down" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s)"
else
	fail "lab.sh down" "$(tail -5 "$WORK/down.log")"
fi
check "down: none of the lab's namespaces" "" "$(ip netns list | awk '{ print $1 }' | grep -E "$LAB_NS_RE" || true)"
check "down: no state dir" "" "$(ls -d /var/lib/k3s-over-usb-lab 2>/dev/null || true)"
# shellcheck disable=SC2086 # one pid per word
check "down: none of the lab's processes survive (the laptop's container and shim included)" "" "$(still_running $lab_pids)"
check "down: no lab mounts" "" "$(awk '{ print $5 }' /proc/self/mountinfo | grep -E 'k3s-over-usb-lab|/run/netns/k3ou-(lan|router|operator|laptop|pristine|one6t|one62|one61|phone[0-9][0-9])$' || true)"
check "down: no lab cgroups in any hierarchy" "" "$(find /sys/fs/cgroup -maxdepth 5 -type d -name k3ou-lab 2>/dev/null)"
check "root namespace unchanged after down" "$(cat "$WORK/root-ns.before")" "$(root_ns)"
check "the machine's mounts unchanged after down" "$(cat "$WORK/mountinfo.before")" "$(cat /proc/self/mountinfo)"
check "the machine's tunables unchanged after down" "$(cat "$WORK/tunables.before")" "$(tunables)"
echo "selftest: $(awk -v s="$t_start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0f", e - s }') s"

finish
