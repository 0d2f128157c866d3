# UsbLink, phone side, on delete: back to the day-zero network (172.16.42.1 on usb0, stock gadget MAC).
: "${DEVICEINFO_LINE:?}" "${USB0_SCRIPT_PATH:?}" "${OPENRC_HOOK_PATH:?}" "${SYSTEMD_UNIT_PATH:?}" "${SYSTEMD_UNIT_NAME:?}"

init=$(detect_init)
key=${DEVICEINFO_LINE%%=*}
if [ -f /etc/deviceinfo ] && grep -q "^$key=" /etc/deviceinfo; then
	grep -v "^$key=" /etc/deviceinfo > /etc/deviceinfo.k3ou-tmp || true
	mv -f /etc/deviceinfo.k3ou-tmp /etc/deviceinfo
	mkinitfs >/dev/null || die "mkinitfs failed" "run mkinitfs on the phone and read its output"
	say "unpinned: $key"
fi
if [ "$init" = systemd ]; then
	systemctl disable --quiet "$SYSTEMD_UNIT_NAME" 2>/dev/null || true
	remove_file "$SYSTEMD_UNIT_PATH"
	systemctl daemon-reload
	systemctl enable --quiet unudhcpd@usb0.service 2>/dev/null || true
fi
remove_file "$OPENRC_HOOK_PATH"
remove_file "$USB0_SCRIPT_PATH"
# This session runs over the /30: switch usb0 back once it has closed.
nohup sh -c "sleep 2; ip -4 addr flush dev usb0; ip addr add $K3OU_PMOS_USB_ADDRESS/16 dev usb0; ip route del default 2>/dev/null || true" >/dev/null 2>&1 &
say "ok: usb0 returns to $K3OU_PMOS_USB_ADDRESS in 2 s"
