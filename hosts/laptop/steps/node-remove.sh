# K3sAgent, on delete, on the server: drain and delete the node and its node password, so that a
# reflashed phone rejoins under the same name instead of "Node password rejected". With PHONE_ADDR
# set, then uninstalls the agent on the phone with the laptop's cleanup key; a phone that is gone or
# was reflashed (its host key changed) has nothing left to uninstall, and that is success.
: "${NODE:?node name}"

# As K3sAgent's forget step it runs when created, and again only when the phone's host key changed
# (a replace, which creates). An update means only the program's text changed: the node is the same
# phone's and must stay.
if [ "${K3OU_ACTION:-}" = update ]; then
	say "already: $NODE's host key is unchanged; nothing to forget"
	exit 0
fi

uninstall_on_phone() {
	[ -n "${PHONE_ADDR:-}" ] || return 0
	: "${PHONE_USER:?}" "${PHONE_HOST_KEY:?}" "${KEY_PATH:?}"
	if [ ! -f "$KEY_PATH" ]; then
		say "no cleanup key on the laptop; $NODE keeps its agent files until reflashed"
		return 0
	fi
	known=$(mktemp)
	printf '%s %s\n' "$PHONE_ADDR" "$PHONE_HOST_KEY" > "$known"
	rc=0
	ssh -i "$KEY_PATH" -o BatchMode=yes -o ConnectTimeout=10 -o StrictHostKeyChecking=yes \
		-o UserKnownHostsFile="$known" -o GlobalKnownHostsFile=/dev/null "$PHONE_USER@$PHONE_ADDR" >&2 || rc=$?
	rm -f "$known"
	case $rc in
	0) say "uninstalled the agent on $NODE" ;;
	255) say "$NODE is unreachable or was reflashed (host key changed): nothing to uninstall there" ;;
	*) die "the agent uninstall on $NODE failed (exit $rc)" "run /usr/local/bin/k3s-agent-uninstall.sh on the phone as root" ;;
	esac
}

kubectl() { /usr/local/bin/k3s kubectl "$@"; }
if [ ! -x /usr/local/bin/k3s ] || ! kubectl get --raw=/readyz >/dev/null 2>&1; then
	say "already: no API server on this laptop; no node to remove"
	uninstall_on_phone
	exit 0
fi
if kubectl get node "$NODE" >/dev/null 2>&1; then
	kubectl drain "$NODE" --ignore-daemonsets --delete-emptydir-data --force --timeout=90s >&2 ||
		say "drain of $NODE did not finish; deleting the node anyway"
	kubectl delete node "$NODE" --wait=true >&2
	say "deleted node $NODE"
else
	say "already: no node $NODE"
fi
kubectl -n kube-system delete secret "$NODE.node-password.k3s" --ignore-not-found >&2
uninstall_on_phone
