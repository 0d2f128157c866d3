# UsbLink, laptop side: name the cable's interface by hub port, give it the laptop end of the /30,
# route and NAT the phone's traffic out of the LAN interface, persistently and before k3s starts.
: "${LINK_FILE_PATH:?path of the .link file}" "${LINK_FILE:?content of the .link file}"
: "${NETPLAN_PATH:?path of the netplan drop-in}" "${NETPLAN:?content of the netplan drop-in}"
: "${SYSCTL_PATH:?path of the sysctl drop-in}" "${SYSCTL:?content of the sysctl drop-in}"
: "${NAT_PATH:?path of the nft file}" "${NAT:?content of the nft file}" "${NAT_TABLE:?nft table}"
: "${NAT_UNIT_PATH:?path of the NAT unit}" "${NAT_UNIT:?content of the NAT unit}" "${NAT_UNIT_NAME:?NAT unit}"
: "${HUB_PORT:?udev ID_PATH of the hub port}" "${IFACE:?stable interface name}" "${LAPTOP_ADDR:?laptop end with prefix}"

need netplan "install netplan.io (the laptop is expected to be Ubuntu-like)"
need nft "install nftables"
need udevadm "the laptop needs systemd-udev"
need systemctl "the laptop needs systemd"
need flock "install util-linux"

# One link at a time: netplan apply re-triggers udev on every link that is down, renaming cables
# that another phone's step is renaming at that moment.
exec 9>/run/k3s-over-usb-links.lock
flock -w 300 9 || die "another link step held the lock for 5 minutes" "check for a stuck netplan or udevadm on the laptop"

put_file "$LINK_FILE_PATH" 644 "$LINK_FILE"
link_changed=$CHANGED
CHANGED=0
put_file "$NETPLAN_PATH" 600 "$NETPLAN"
netplan_changed=$CHANGED

CHANGED=0
put_file "$SYSCTL_PATH" 644 "$SYSCTL"
sysctl -p "$SYSCTL_PATH" >/dev/null || die "sysctl rejected $SYSCTL_PATH" "run sysctl -p $SYSCTL_PATH on the laptop and read its error"

# NAT: the unit (ordered before k3s.service) loads the table at boot; load it now too.
nft -c -f "$NAT_PATH" >/dev/null 2>&1 || true
CHANGED=0
put_file "$NAT_PATH" 644 "$NAT"
nat_changed=$CHANGED
nft -c -f "$NAT_PATH" || die "nft rejects $NAT_PATH" "report this as a bug of k3s-over-usb"
CHANGED=0
put_file "$NAT_UNIT_PATH" 644 "$NAT_UNIT"
if [ "$CHANGED" = 1 ]; then
	systemctl daemon-reload
fi
if ! systemctl is-enabled --quiet "$NAT_UNIT_NAME"; then
	systemctl enable --quiet "$NAT_UNIT_NAME"
	say "enabled: $NAT_UNIT_NAME"
fi
# The live table must hold every rule of the file: a rule deleted by hand reloads the table.
nat_live() {
	_live=$(nft list table ip "$NAT_TABLE" 2>/dev/null) || return 1
	[ "$(printf '%s\n' "$_live" | grep -c masquerade)" -ge "$(grep -c masquerade "$NAT_PATH")" ]
}
if [ "$nat_changed" = 1 ] || [ "$CHANGED" = 1 ] || ! systemctl is-active --quiet "$NAT_UNIT_NAME" || ! nat_live; then
	systemctl restart "$NAT_UNIT_NAME" || die "$NAT_UNIT_NAME did not start" "journalctl -u $NAT_UNIT_NAME on the laptop"
	say "NAT loaded: table ip $NAT_TABLE"
else
	say "already: NAT table ip $NAT_TABLE"
fi

# The interface currently on the hub port, whatever its name.
port_iface() {
	for dev in /sys/class/net/*; do
		[ -e "$dev" ] || continue
		if udevadm info -q property -p "$dev" 2>/dev/null | grep -qx "ID_PATH=$HUB_PORT"; then
			basename "$dev"
			return 0
		fi
	done
	return 1
}

current=$(port_iface || true)
if [ -z "$current" ]; then
	say "no interface on hub port $HUB_PORT yet (phone unplugged?): naming and address apply when it appears"
	exit 0
fi
if [ "$current" != "$IFACE" ]; then
	# udev renames on "add" only, and only a link that is down.
	udevadm control --reload
	ip link set dev "$current" down
	udevadm trigger --action=add --subsystem-match=net --sysname-match="$current"
	udevadm settle
	[ -e "/sys/class/net/$IFACE" ] ||
		die "the interface on $HUB_PORT is still called $current, not $IFACE" "check $LINK_FILE_PATH against \`udevadm info -q property -p /sys/class/net/$current\`"
	say "renamed: $current -> $IFACE"
	link_changed=1
fi
if [ "$link_changed" = 1 ] || [ "$netplan_changed" = 1 ] || ! ip -4 -o addr show dev "$IFACE" | grep -q " $LAPTOP_ADDR "; then
	netplan apply || die "netplan apply failed" "run \`netplan generate\` on the laptop and fix $NETPLAN_PATH"
	say "applied: netplan for $IFACE"
fi
# A link set down by hand keeps its address but loses its route: bring it up.
if ! ip -o link show dev "$IFACE" | grep -q '[<,]UP[,>]'; then
	ip link set dev "$IFACE" up
	say "brought up: $IFACE"
fi
ip -4 -o addr show dev "$IFACE" | grep -q " $LAPTOP_ADDR " ||
	die "$IFACE does not hold $LAPTOP_ADDR after netplan apply" "check \`networkctl status $IFACE\` on the laptop"
say "ok: $IFACE holds $LAPTOP_ADDR"
