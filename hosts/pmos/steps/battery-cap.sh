# BatteryCap: the charge ceiling, as exact decimal microvolts, in the DTB that really boots
# (/boot/dtbs/..., appended into boot.img by boot-deploy), kept across kernel upgrades by a
# boot-deploy hook. Prints {"written":N,"live":N|null} for the stack's outputs.
: "${DTB:?DTB below /boot/dtbs}" "${NODE:?device tree node}" "${PROP:?property}" "${CAP:?microvolts}"
: "${SAFE_MIN:?}" "${SAFE_MAX:?}" "${HOOK_PATH:?}" "${HOOK:?}"

case $CAP in *[!0-9]*) die "cap $CAP is not a whole number of microvolts" "write e.g. 3800000 for 3.8 V" ;; esac
if [ "$CAP" -lt "$SAFE_MIN" ] || [ "$CAP" -gt "$SAFE_MAX" ]; then
	die "cap $CAP µV is outside $SAFE_MIN-$SAFE_MAX µV" "choose a value in that range; 3800000 holds about 70 %"
fi
need fdtget "install dtc (apk add dtc)"
need fdtput "install dtc (apk add dtc)"
need mkinitfs "postmarketOS's mkinitfs rebuilds the boot image"
[ -f "$DTB" ] || die "$DTB does not exist" "check the device profile's dtb against /usr/share/deviceinfo/deviceinfo (deviceinfo_dtb)"

# The original stays outside /boot/dtbs*: boot-deploy's find would pick up a copy there.
state=/var/lib/k3s-over-usb
backup="$state/dtb-orig/$(basename "$DTB")"
if [ ! -f "$backup" ]; then
	mkdir -p "$state/dtb-orig"
	cp "$DTB" "$backup.k3ou-tmp"
	mv -f "$backup.k3ou-tmp" "$backup"
	say "kept the original: $backup"
fi

CHANGED=0
put_file "$HOOK_PATH" 755 "$HOOK"
rebuild=$CHANGED

current=$(fdtget -t u "$DTB" "$NODE" "$PROP" 2>/dev/null) || die "$DTB has no $NODE $PROP" "this device tree does not describe the battery; check the device profile"
if [ "$current" = "$CAP" ]; then
	say "already: $PROP = $CAP in $DTB"
else
	fdtput -t u "$DTB" "$NODE" "$PROP" "$CAP"
	[ "$(fdtget -t u "$DTB" "$NODE" "$PROP")" = "$CAP" ] || die "fdtput did not take" "check that /boot is writable"
	say "wrote: $PROP $current -> $CAP in $DTB"
	rebuild=1
fi

# The marker records what the last successful boot image was built with, so an interrupted run
# rebuilds next time.
marker="$state/battery-cap.boot-image"
if [ "$rebuild" = 1 ] || [ "$(cat "$marker" 2>/dev/null)" != "$CAP" ]; then
	mkinitfs >/dev/null || die "mkinitfs failed; the boot image still has the old cap" "run mkinitfs on the phone and read its output"
	printf '%s\n' "$CAP" > "$marker"
	say "rebuilt the boot image with $CAP µV (takes effect at the next boot)"
fi

live_file="/sys/firmware/devicetree/base$NODE/$PROP"
live=null
if [ -r "$live_file" ]; then
	# Four big-endian bytes; od -tu4 would read host byte order, so go through hex.
	hex=$(od -An -tx1 "$live_file" | tr -d ' \n')
	live=$(printf '%d' "0x$hex")
fi
[ "$live" = "$CAP" ] || say "reboot pending: the running kernel still reports $live µV"
printf '{"written":%s,"live":%s}\n' "$CAP" "$live"
