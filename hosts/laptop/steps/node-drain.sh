# K3sAgent, on the server, before the phone's agent is upgraded: cordon the node and drain it, so its
# pods move before k3s restarts there. Runs as the step's update only (K3OU_ACTION=update): a first
# join has nothing to drain. A node that already runs VERSION (the ready step annotates it) is left
# alone, so a change of the drain timeout alone drains nothing. The cordon is marked with
# k3s-over-usb/drained, which the ready step reads to uncordon only what this step cordoned.
: "${NODE:?node name}" "${VERSION:?k3s version}" "${DRAIN_TIMEOUT:?seconds}"

if [ "${K3OU_ACTION:-create}" != update ]; then
	say "already: $NODE joins for the first time; nothing to drain"
	exit 0
fi
kubectl() { /usr/local/bin/k3s kubectl "$@"; }
kubectl get --raw=/readyz >/dev/null 2>&1 ||
	die "the API server does not answer, so $NODE cannot be drained before its upgrade to $VERSION" "on the laptop: journalctl -u k3s, then run pulumi up again"
if ! kubectl get node "$NODE" >/dev/null 2>&1; then
	say "already: node $NODE is not registered; nothing to drain"
	exit 0
fi
running=$(kubectl get node "$NODE" -o 'jsonpath={.metadata.annotations.k3s-over-usb/version}')
if [ "$running" = "$VERSION" ]; then
	say "already: $NODE runs $VERSION; nothing to drain"
	exit 0
fi

# pods_left: the pods on the node a drain must evict (not DaemonSets', not static mirror pods).
pods_left() {
	kubectl get pods --all-namespaces --field-selector "spec.nodeName=$NODE" \
		-o 'jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {.metadata.ownerReferences[*].kind}{"\n"}{end}' |
		awk '$2 != "DaemonSet" && $2 != "Node" { print $1 }' | tr '\n' ' '
}

say "upgrading to ${VERSION}${running:+ from $running}: cordon and drain $NODE (at most $DRAIN_TIMEOUT s)"
kubectl annotate --overwrite node "$NODE" "k3s-over-usb/drained=$VERSION" >/dev/null
kubectl cordon "$NODE" >&2
out=$(mktemp)
if ! kubectl drain "$NODE" --ignore-daemonsets --delete-emptydir-data --timeout="${DRAIN_TIMEOUT}s" >"$out" 2>&1; then
	why=$(grep -m 1 -E '^error|cannot|violate|timeout' "$out" | cut -c 1-300)
	cat "$out" >&2
	rm -f "$out"
	die "the drain of $NODE did not finish, so the roll stops before its upgrade (the phones after it are untouched); pods still on it: $(pods_left)(${why:-no reason given within $DRAIN_TIMEOUT s})" \
		"free or move those pods (a pod no controller owns, or a PodDisruptionBudget that allows no eviction, holds a drain), or raise k3s.upgrade.drainTimeout; then run pulumi up again, which resumes the roll here. Until then $NODE stays cordoned: k3s kubectl uncordon $NODE to use it meanwhile"
fi
rm -f "$out"
say "drained: $NODE"
