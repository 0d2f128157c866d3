# BatteryCap, on delete: the stock ceiling back in the current kernel's DTB and the boot image.
: "${DTB:?}" "${NODE:?}" "${PROP:?}" "${HOOK_PATH:?}"

state=$K3OU_STATE
backup="$state/dtb-orig/$(basename "$DTB")"
remove_file "$HOOK_PATH"
if [ -f "$backup" ]; then
	# Restore the value, not the file: a kernel upgrade since then ships a newer DTB.
	stock=$(fdtget -t u "$backup" "$NODE" "$PROP")
	if [ "$(fdtget -t u "$DTB" "$NODE" "$PROP")" != "$stock" ]; then
		fdtput -t u "$DTB" "$NODE" "$PROP" "$stock"
		say "restored: $PROP = $stock"
	fi
	mkinitfs >/dev/null || die "mkinitfs failed" "run mkinitfs on the phone and read its output"
	rm -f "$backup" "$state/battery-cap.boot-image"
fi
say "ok: battery cap removed (stock value after the next boot)"
