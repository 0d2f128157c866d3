# BatteryCap: the cap in the DTB that boots, the hook that keeps it across kernel upgrades, and the
# value the running kernel reports (it changes at the next boot only).
written=$(fdtget -t u "$DTB" "$NODE" "$PROP" 2>/dev/null || echo none)
live_file="/sys/firmware/devicetree/base$NODE/$PROP"
live=unknown
[ -r "$live_file" ] && live=$(printf '%d' "0x$(od -An -tx1 "$live_file" | tr -d ' \n')")
if [ "$written" != "$CAP" ]; then
	fail battery "$DTB holds $written µV, not $CAP" up
elif ! same_file "$HOOK_PATH" "$HOOK"; then
	fail battery "$HOOK_PATH is missing or not what the stack wrote: a kernel upgrade would drop the cap" up
elif [ "$(cat "$K3OU_STATE/battery-cap.boot-image" 2>/dev/null)" != "$CAP" ]; then
	fail battery "the boot image was not rebuilt with $CAP µV" up
elif [ "$live" != "$CAP" ]; then
	warn battery "written $CAP µV; the running kernel reports $live µV until the next boot" reboot
else
	ok battery "$CAP µV written and live"
fi
