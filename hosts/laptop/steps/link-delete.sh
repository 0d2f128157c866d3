# UsbLink, laptop side, on delete: take back everything link.sh put in place for this phone.
: "${LINK_FILE_PATH:?}" "${NETPLAN_PATH:?}" "${SYSCTL_PATH:?}" "${NAT_PATH:?}" "${NAT_TABLE:?}"
: "${NAT_UNIT_PATH:?}" "${NAT_UNIT_NAME:?}" "${IFACE:?}"

exec 9>/run/k3s-over-usb-links.lock
flock -w 300 9 || die "another link step held the lock for 5 minutes" "check for a stuck netplan or udevadm on the laptop"

if systemctl is-enabled --quiet "$NAT_UNIT_NAME" 2>/dev/null; then
	systemctl disable --quiet "$NAT_UNIT_NAME" || true
fi
systemctl stop "$NAT_UNIT_NAME" 2>/dev/null || true
if nft list table ip "$NAT_TABLE" >/dev/null 2>&1; then
	nft delete table ip "$NAT_TABLE"
	say "removed: table ip $NAT_TABLE"
fi
remove_file "$NAT_UNIT_PATH"
remove_file "$NAT_PATH"
systemctl daemon-reload || true
remove_file "$SYSCTL_PATH"
remove_file "$NETPLAN_PATH"
remove_file "$LINK_FILE_PATH"
netplan apply || say "netplan apply failed; the next boot applies the remaining config"
rmdir /etc/k3s-over-usb 2>/dev/null || true
if [ -e "/sys/class/net/$IFACE" ]; then
	# udev keeps a name userspace gave (NamePolicy "keep"): the cable gets its default name back when
	# the phone re-enumerates (replug or reboot).
	ip -4 addr flush dev "$IFACE" || true
	ip link set dev "$IFACE" down
	say "released: $IFACE (its default name returns when the phone is replugged or rebooted)"
fi
say "ok: link removed"
