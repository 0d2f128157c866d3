# UsbLink, phone side, first contact: gives usb0 the phone's end of the /30 for the running boot, so
# every later step reaches the phone at a fixed address. Reached at whatever address locate-phone
# printed (on a fresh phone: its IPv6 link-local through the laptop). The persistent config is link.sh's.
: "${PHONE_ADDR:?phone end of the /30 with prefix}"

ip link show usb0 >/dev/null 2>&1 || die "this phone has no usb0" "check the USB gadget network (deviceinfo_usb_network_function)"
if ip -4 -o addr show dev usb0 | grep -q " $PHONE_ADDR "; then
	say "already: usb0 holds $PHONE_ADDR"
else
	ip addr add "$PHONE_ADDR" dev usb0
	say "usb0 now also holds $PHONE_ADDR"
fi
