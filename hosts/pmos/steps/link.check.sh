# UsbLink, phone side: the gadget MAC pinned, usb0 up with the phone's end of the /30 (and nothing
# else) at every boot, the default route via the laptop.
init=$(check_init)
case $init in
systemd) hook_path=$SYSTEMD_UNIT_PATH hook=$SYSTEMD_UNIT ;;
*) hook_path=$OPENRC_HOOK_PATH hook=$OPENRC_HOOK ;;
esac
if ! grep -qxF "$DEVICEINFO_LINE" /etc/deviceinfo 2>/dev/null; then
	fail link "/etc/deviceinfo lacks $DEVICEINFO_LINE: the laptop sees a new MAC at every boot" up
elif bad=$(first_bad_file "$USB0_SCRIPT_PATH" "$USB0_SCRIPT" "$hook_path" "$hook"); then
	fail link "$bad is missing or not what the stack wrote" up
elif ! ip -o link show dev usb0 2>/dev/null | grep -q '[<,]UP[,>]'; then
	fail link "usb0 is down" up
else
	ok link "usb0 up"
fi
addrs=$(ip -4 -o addr show dev usb0 2>/dev/null | awk '{print $4}' | tr '\n' ' ')
if [ "$addrs" = "$PHONE_ADDR " ]; then
	ok address "usb0 $PHONE_ADDR"
else
	fail address "usb0 holds ${addrs:-nothing}, not only $PHONE_ADDR" up
fi
if ip route show default | grep -q "via $GATEWAY dev usb0"; then
	ok route "default via $GATEWAY"
else
	fail route "no default route via $GATEWAY on usb0" up
fi
