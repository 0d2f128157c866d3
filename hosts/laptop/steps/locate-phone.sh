# UsbLink: finds the phone behind a hub port and prints the address to reach it by, through the
# laptop. A configured phone answers on its /30; a fresh or reflashed one sits at 172.16.42.1 like
# every other fresh phone, so it is reached by its IPv6 link-local address, scoped to this cable.
: "${IFACE:?stable interface name}" "${PHONE_ADDR:?phone end of the /30}" "${PHONE:?phone name}"

[ -e "/sys/class/net/$IFACE" ] ||
	die "no interface $IFACE: is $PHONE plugged into its hub port and booted?" "plug it in, wait for it to boot, then run pulumi up again"
ip link set dev "$IFACE" up
if ping -c 1 -W 2 -I "$IFACE" "$PHONE_ADDR" >/dev/null 2>&1; then
	say "found: $PHONE at $PHONE_ADDR"
	printf '%s\n' "$PHONE_ADDR"
	exit 0
fi

# Duplicate address detection leaves a fresh link-local tentative for a moment.
own_ll() {
	ip -6 -o addr show dev "$IFACE" scope link | awk '$0 !~ /tentative/ {split($4, a, "/"); print a[1]}'
}
wait_for 10 "link-local address on $IFACE" sh -c "[ -n \"\$(ip -6 -o addr show dev '$IFACE' scope link | grep -v tentative)\" ]" ||
	die "$IFACE has no IPv6 link-local address" "enable IPv6 link-local on $IFACE (netplan link-local: [ipv6])"
mine=$(own_ll)
peers=$(ping -6 -c 2 -W 2 "ff02::1%$IFACE" 2>/dev/null |
	sed -n 's/^[0-9]* bytes from \(fe80:[0-9a-f:]*\).*/\1/p' | sort -u | grep -v -x -F "$mine" || true)
count=$(printf '%s' "$peers" | grep -c . || true)
if [ "$count" -eq 0 ]; then
	die "$PHONE answers neither at $PHONE_ADDR nor by IPv6 link-local on $IFACE" "check that it booted and its USB network is up (on the phone: ip addr show usb0)"
fi
if [ "$count" -gt 1 ]; then
	die "more than one host answers on $IFACE: $(echo "$peers" | tr '\n' ' ')" "a hub port carries exactly one phone; check the cabling"
fi
say "found: $PHONE by link-local $peers on $IFACE"
printf '%s%%%s\n' "$peers" "$IFACE"
