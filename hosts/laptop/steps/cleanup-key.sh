# K3sServer: a key of the laptop's own, used for one thing only: to uninstall an agent on a phone when
# it is deleted, even when the operator's machine cannot reach the phone any more. The private half
# never leaves the laptop; phones accept it only for their forced uninstall command.
: "${KEY_PATH:?where the key lives}" "${COMMENT:?key comment}"

need ssh-keygen "install openssh-client on the laptop"
if [ -f "$KEY_PATH" ] && [ -f "$KEY_PATH.pub" ]; then
	say "already: $KEY_PATH"
else
	mkdir -p "$(dirname "$KEY_PATH")"
	chmod 700 "$(dirname "$KEY_PATH")"
	rm -f "$KEY_PATH" "$KEY_PATH.pub"
	ssh-keygen -q -t ed25519 -N '' -C "$COMMENT" -f "$KEY_PATH"
	say "generated: $KEY_PATH"
fi
cut -d' ' -f1,2 "$KEY_PATH.pub"
