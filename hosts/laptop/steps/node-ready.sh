# K3sAgent, on the server: waits until the phone's node is Ready.
: "${NODE:?node name}" "${READY_TIMEOUT:?seconds}"

node_ready() {
	[ "$(/usr/local/bin/k3s kubectl get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
wait_for "$READY_TIMEOUT" "node $NODE Ready" node_ready ||
	die "node $NODE is not Ready after $READY_TIMEOUT s" "on the phone read /var/log/k3s-agent.log; on the laptop run k3s kubectl describe node $NODE"
say "ok: node $NODE Ready"
