# MetalLbPool: waits until MetalLB's validating webhook really serves, by a server-side dry run of a
# pool; its readiness probe passes before the webhook's TLS server does.
: "${SAMPLE:?a sample IPAddressPool}" "${READY_TIMEOUT:?seconds}"

webhook_serves() {
	printf '%s' "$SAMPLE" | /usr/local/bin/k3s kubectl apply --dry-run=server -f - >/dev/null 2>&1
}
wait_for "$READY_TIMEOUT" "MetalLB's webhook" webhook_serves ||
	die "MetalLB's webhook did not serve within $READY_TIMEOUT s" "k3s kubectl -n metallb-system get pods,endpoints on the laptop"
