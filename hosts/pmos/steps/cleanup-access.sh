# K3sAgent: lets the laptop's cleanup key run exactly one command on this phone, the agent's
# uninstall, so deleting the agent works even when the operator cannot reach the phone.
: "${SSH_USER:?the phone user}" "${AUTHORIZED_LINE:?authorized_keys line}"
: "${UNINSTALL_PATH:?}" "${UNINSTALL:?the forced command}"

put_file "$UNINSTALL_PATH" 755 "$UNINSTALL"
home=$(awk -F: -v u="$SSH_USER" '$1 == u {print $6}' /etc/passwd)
[ -n "$home" ] || die "no user $SSH_USER on this phone" "check phones[].ssh.user in the household config"
keys="$home/.ssh/authorized_keys"
if grep -qxF "$AUTHORIZED_LINE" "$keys" 2>/dev/null; then
	say "already: the laptop may uninstall the agent"
else
	mkdir -p "$home/.ssh"
	{ grep -v 'k3s-over-usb-cleanup' "$keys" 2>/dev/null || true; printf '%s\n' "$AUTHORIZED_LINE"; } > "$keys.k3ou-tmp"
	group=$(id -gn "$SSH_USER")
	chown "$SSH_USER:$group" "$home/.ssh" "$keys.k3ou-tmp"
	chmod 600 "$keys.k3ou-tmp"
	mv -f "$keys.k3ou-tmp" "$keys"
	say "authorized the laptop's cleanup key for the uninstall command only"
fi
