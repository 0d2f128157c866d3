# K3sServer: prints the admin kubeconfig k3s wrote (the program rewrites its address and context), once
# the API answers: after a reboot k3s runs for a while before it serves, and the Kubernetes provider
# built on this kubeconfig connects as soon as it has it.
: "${READY_TIMEOUT:?seconds}"
kubeconfig=/etc/rancher/k3s/k3s.yaml
api_ready() { [ "$(/usr/local/bin/k3s kubectl get --raw=/readyz 2>/dev/null)" = ok ]; }
wait_for "$READY_TIMEOUT" "the API server answers /readyz" api_ready ||
	die "the API server did not become ready within $READY_TIMEOUT s" "read the k3s log on the laptop (journalctl -u k3s)"
[ -s "$kubeconfig" ] || die "$kubeconfig is missing" "check that the k3s server runs (systemctl status k3s)"
cat "$kubeconfig"
