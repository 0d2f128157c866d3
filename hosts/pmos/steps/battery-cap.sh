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

state=$K3OU_STATE
marker="$state/battery-cap.boot-image"
current=$(fdtget -t u "$DTB" "$NODE" "$PROP" 2>/dev/null) || die "$DTB has no $NODE $PROP" "this device tree does not describe the battery; check the device profile"

# Room on /boot first: boot-deploy writes boot.img, the initramfs files and the DTB anew, and a
# partition that fills up half way leaves a half-written set. Checked before anything is written,
# so a full /boot changes nothing and the phone keeps booting the image it has.
if [ "$current" != "$CAP" ] || [ "$(cat "$marker" 2>/dev/null)" != "$CAP" ] || ! same_content "$HOOK_PATH" "$HOOK"; then
	need_kib=64
	for f in /boot/boot.img /boot/initramfs /boot/initramfs-extra "$DTB"; do
		[ -f "$f" ] && need_kib=$((need_kib + ($(stat -c %s "$f") + 1023) / 1024))
	done
	free_kib=$(df -Pk /boot | awk 'NR == 2 {print $4}')
	if [ "$free_kib" -lt "$need_kib" ]; then
		die "/boot is full: $free_kib KiB free, rebuilding the boot image needs about $need_kib KiB; nothing was changed and the phone still boots its current image" \
			"free space on the phone's /boot (du -sh /boot/* shows what is there), then run pulumi up again"
	fi
fi

# The original stays outside /boot/dtbs*: boot-deploy's find would pick up a copy there.
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

if [ "$current" = "$CAP" ]; then
	say "already: $PROP = $CAP in $DTB"
else
	# Patched beside the original, then renamed over it: the DTB is never half written.
	cp "$DTB" "$DTB.k3ou-tmp" || { rm -f "$DTB.k3ou-tmp"; die "cannot write beside $DTB" "free space on the phone's /boot, then run pulumi up again"; }
	fdtput -t u "$DTB.k3ou-tmp" "$NODE" "$PROP" "$CAP"
	[ "$(fdtget -t u "$DTB.k3ou-tmp" "$NODE" "$PROP")" = "$CAP" ] || { rm -f "$DTB.k3ou-tmp"; die "fdtput did not take" "check that /boot is writable"; }
	mv -f "$DTB.k3ou-tmp" "$DTB"
	say "wrote: $PROP $current -> $CAP in $DTB"
	rebuild=1
fi

# The marker records what the last successful boot image was built with, so an interrupted run
# rebuilds next time.
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
