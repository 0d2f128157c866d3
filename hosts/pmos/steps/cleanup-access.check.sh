# K3sAgent: the laptop's cleanup key may run the agent's uninstall on this phone, and only that.
home=$(awk -F: -v u="$SSH_USER" '$1 == u {print $6}' /etc/passwd)
if ! same_file "$UNINSTALL_PATH" "$UNINSTALL"; then
	fail k3s "$UNINSTALL_PATH is missing or not what the stack wrote: deleting the agent could not uninstall it" up
elif ! grep -F "$UNINSTALL_PATH\"" "$home/.ssh/authorized_keys" 2>/dev/null | grep -q "^restrict,.* k3s-over-usb-cleanup@$LAPTOP\$"; then
	fail k3s "$home/.ssh/authorized_keys lacks the laptop's cleanup key" up
else
	ok k3s "cleanup key authorized"
fi
