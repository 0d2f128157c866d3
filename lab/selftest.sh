#!/usr/bin/env bash
# shellcheck disable=SC2016 # remote commands are single-quoted on purpose
#
# Self-test of the lab: brings it up, checks the day-zero household through
# real SSH from the operator's namespace (the way Pulumi will reach it), then
# reboots, reflashes and upgrades hosts and checks what survives, and finally
# tears the lab down and checks nothing is left.
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

if [ -n "${K3OU_SELFTEST_KEEP:-}" ]; then
	echo "K3OU_SELFTEST_KEEP is set: the lab stays up for inspection"
	finish
fi

# --- down -----------------------------------------------------------------------------------------
LAB_NS_RE='^k3ou-(lan|router|operator|laptop|pristine|one6t|one62|one61|phone[0-9][0-9])$'
lab_pids=$(for ns in $(ip netns list | awk '{ print $1 }' | grep -E "$LAB_NS_RE"); do ip netns pids "$ns"; done | sort -u | tr '\n' ' ')
if "$LAB" down >"$WORK/down.log" 2>&1; then pass "lab.sh down"; else fail "lab.sh down" "$(tail -5 "$WORK/down.log")"; fi
check "down: none of the lab's namespaces" "" "$(ip netns list | awk '{ print $1 }' | grep -E "$LAB_NS_RE" || true)"
check "down: no state dir" "" "$(ls -d /var/lib/k3s-over-usb-lab 2>/dev/null || true)"
# Killed processes may stay zombies until init reaps them: wait for that.
for _ in $(seq 1 50); do
	survivors=""
	for p in $lab_pids; do
		state=$(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null) || continue
		[ "$state" = Z ] || survivors="$survivors $p($(cat "/proc/$p/comm" 2>/dev/null))"
	done
	[ -z "$survivors" ] && break
	sleep 0.1
done
check "down: none of the lab's processes survive" "" "$survivors"
check "down: no lab mounts" "" "$(awk '{ print $5 }' /proc/self/mountinfo | grep -E 'k3s-over-usb-lab|/run/netns/k3ou-(lan|router|operator|laptop|pristine|one6t|one62|one61|phone[0-9][0-9])$' || true)"
check "down: no lab cgroups" "" "$(ls -d /sys/fs/cgroup/*/k3ou-lab 2>/dev/null || true)"
check "root namespace unchanged after down" "$(cat "$WORK/root-ns.before")" "$(root_ns)"

finish
