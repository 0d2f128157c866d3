# UsbLink, phone side: pin the gadget's host MAC the supported way (/etc/deviceinfo + mkinitfs) and
# make usb0 hold the /30 with a default route via the laptop, at every boot, on OpenRC or systemd.
: "${DEVICEINFO_LINE:?deviceinfo assignment}"
: "${USB0_SCRIPT_PATH:?}" "${USB0_SCRIPT:?boot script for usb0}"
: "${OPENRC_HOOK_PATH:?}" "${OPENRC_HOOK:?}" "${SYSTEMD_UNIT_PATH:?}" "${SYSTEMD_UNIT:?}" "${SYSTEMD_UNIT_NAME:?}"
: "${PHONE_ADDR:?phone end with prefix}" "${GATEWAY:?laptop end}"

init=$(detect_init)

# /etc/deviceinfo overrides /usr/share/deviceinfo/deviceinfo; mkinitfs packs it into the initramfs,
# whose gadget setup writes host_addr before the function is linked (later writes get -EBUSY).
key=${DEVICEINFO_LINE%%=*}
touch /etc/deviceinfo
if grep -qxF "$DEVICEINFO_LINE" /etc/deviceinfo; then
	say "already: $DEVICEINFO_LINE"
else
	need mkinitfs "postmarketOS's mkinitfs is required to pin the gadget MAC"
	{ grep -v "^$key=" /etc/deviceinfo || true; printf '%s\n' "$DEVICEINFO_LINE"; } > /etc/deviceinfo.k3ou-tmp
	mv -f /etc/deviceinfo.k3ou-tmp /etc/deviceinfo
	mkinitfs >/dev/null || die "mkinitfs failed after pinning the gadget MAC" "run mkinitfs on the phone and read its output"
	say "pinned: $DEVICEINFO_LINE (the laptop sees it after the next reboot)"
fi

put_file "$USB0_SCRIPT_PATH" 755 "$USB0_SCRIPT"
case $init in
openrc)
	put_file "$OPENRC_HOOK_PATH" 755 "$OPENRC_HOOK"
	if ! rc-update show default 2>/dev/null | grep -qw local; then
		rc-update add local default >/dev/null
		say "enabled: local (runs /etc/local.d at boot)"
	fi
	;;
systemd)
	CHANGED=0
	put_file "$SYSTEMD_UNIT_PATH" 644 "$SYSTEMD_UNIT"
	[ "$CHANGED" = 1 ] && systemctl daemon-reload
	systemctl is-enabled --quiet "$SYSTEMD_UNIT_NAME" || systemctl enable --quiet "$SYSTEMD_UNIT_NAME"
	# pmOS's systemd preset serves DHCP on usb0 at 172.16.42.x; the /30 replaces it.
	if systemctl is-enabled --quiet unudhcpd@usb0.service 2>/dev/null; then
		systemctl disable --now --quiet unudhcpd@usb0.service
		say "disabled: unudhcpd@usb0"
	fi
	;;
esac

# Now, without dropping the address this session may be using: remove others, add ours.
for a in $(ip -4 -o addr show dev usb0 | awk '{print $4}'); do
	[ "$a" = "$PHONE_ADDR" ] && continue
	ip addr del "$a" dev usb0
	say "removed from usb0: $a"
done
ip -4 -o addr show dev usb0 | grep -q " $PHONE_ADDR " || ip addr add "$PHONE_ADDR" dev usb0
if ip route show default | grep -q "via $GATEWAY dev usb0"; then
	say "already: default route via $GATEWAY"
else
	ip route replace default via "$GATEWAY" dev usb0
	say "default route via $GATEWAY"
fi
say "ok: usb0 holds $PHONE_ADDR"
