# K3sAgent, on delete, on the server: drain and delete the node and its node password, so that a
# reflashed phone rejoins under the same name instead of "Node password rejected".
: "${NODE:?node name}"

kubectl() { /usr/local/bin/k3s kubectl "$@"; }
if [ ! -x /usr/local/bin/k3s ] || ! kubectl get --raw=/readyz >/dev/null 2>&1; then
	say "already: no API server on this laptop; nothing to remove"
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
