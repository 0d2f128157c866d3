# K3sAgent, on the server: waits until the phone's node is Ready, then records the k3s version it
# runs (annotation k3s-over-usb/version, which the drain step reads) and uncordons it if the drain
# step cordoned it for this upgrade. A cordon of the operator's own is left alone.
: "${NODE:?node name}" "${READY_TIMEOUT:?seconds}" "${VERSION:?k3s version}"

kubectl() { /usr/local/bin/k3s kubectl "$@"; }
node_ready() {
	[ "$(kubectl get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
wait_for "$READY_TIMEOUT" "node $NODE Ready" node_ready ||
	die "node $NODE is not Ready after $READY_TIMEOUT s" "on the phone read /var/log/k3s-agent.log; on the laptop run k3s kubectl describe node $NODE"
say "ok: node $NODE Ready"
if [ -n "$(kubectl get node "$NODE" -o 'jsonpath={.metadata.annotations.k3s-over-usb/drained}')" ]; then
	kubectl uncordon "$NODE" >&2
	kubectl annotate node "$NODE" k3s-over-usb/drained- >/dev/null
	say "uncordoned: $NODE"
fi
if [ "$(kubectl get node "$NODE" -o 'jsonpath={.metadata.annotations.k3s-over-usb/version}')" != "$VERSION" ]; then
	kubectl annotate --overwrite node "$NODE" "k3s-over-usb/version=$VERSION" >/dev/null
	say "recorded: $NODE runs $VERSION"
fi
