# UsbLink, laptop side: the cable's interface named by its port, up, holding the laptop end of the
# /30; forwarding on; the phone's NAT table loaded from its file and enabled at boot.
if [ -e "/sys/class/net/$IFACE" ]; then
	if bad=$(first_bad_file "$LINK_FILE_PATH" "$LINK_FILE"); then
		fail link "$bad is missing or not what the stack wrote" up
	elif ! ip -o link show dev "$IFACE" | grep -q '[<,]UP[,>]'; then
		fail link "$IFACE is down" up
	elif ! ip -o link show dev "$IFACE" | grep -q 'LOWER_UP'; then
		fail link "$IFACE has no carrier: the phone is off, rebooting or unplugged" "check the cable on hub port $HUB_PORT; reboot the phone"
	else
		ok link "$IFACE up"
	fi
	if bad=$(first_bad_file "$NETPLAN_PATH" "$NETPLAN"); then
		fail address "$bad is missing or not what the stack wrote" up
	elif ! ip -4 -o addr show dev "$IFACE" | grep -q " $LAPTOP_ADDR "; then
		fail address "$IFACE does not hold $LAPTOP_ADDR" up
	else
		ok address "$IFACE $LAPTOP_ADDR"
	fi
else
	found=$(iface_on_port "$HUB_PORT")
	if [ -n "$found" ]; then
		fail link "the interface on hub port $HUB_PORT is called $found, not $IFACE" up
	else
		fail link "no interface on hub port $HUB_PORT: the phone is unplugged or off" "plug the phone into hub port $HUB_PORT and boot it"
	fi
	skip address "no interface $IFACE"
fi

sysctl_check forward "$SYSCTL_PATH" "$SYSCTL" "ip_forward 1"

if bad=$(first_bad_file "$NAT_PATH" "$NAT" "$NAT_UNIT_PATH" "$NAT_UNIT"); then
	fail nat "$bad is missing or not what the stack wrote" up
elif ! live=$(nft list table ip "$NAT_TABLE" 2>/dev/null); then
	fail nat "table ip $NAT_TABLE is not loaded" up
elif [ "$(printf '%s\n' "$live" | grep -c masquerade)" -lt "$(grep -c masquerade "$NAT_PATH")" ]; then
	fail nat "table ip $NAT_TABLE has lost its masquerade rule" up
elif ! systemctl is-enabled --quiet "$NAT_UNIT_NAME"; then
	fail nat "$NAT_UNIT_NAME is not enabled: NAT would be gone after a reboot" up
else
	ok nat "table ip $NAT_TABLE"
fi
