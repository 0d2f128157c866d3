# MetalLbPool: waits until MetalLB's validating webhook really serves, by a server-side dry run of a
# pool; its readiness probe passes before the webhook's TLS server does. A wait that cannot succeed
# (an image no node can get, a crashing pod, a pod no node accepts) fails as soon as it is seen,
# naming the pod and the reason, rather than at the deadline.
: "${SAMPLE:?a sample IPAddressPool}" "${READY_TIMEOUT:?seconds}"

kubectl() { /usr/local/bin/k3s kubectl "$@"; }

out=$(mktemp)
trap 'rm -f "$out"' EXIT
webhook_serves() {
	printf '%s' "$SAMPLE" | kubectl apply --dry-run=server -f - >"$out" 2>&1
}

# hopeless SECONDS_WAITED: prints why the webhook cannot come up, if that is already certain.
hopeless() {
	kubectl -n metallb-system get pods -o go-template='{{range .items}}{{.metadata.name}} {{.spec.nodeName}}{{range .status.containerStatuses}} {{if .state.waiting}}{{.state.waiting.reason}}{{end}}{{end}}{{range .status.conditions}}{{if eq .type "PodScheduled"}} {{.reason}}{{end}}{{end}}{{"\n"}}{{end}}' 2>/dev/null |
		awk -v waited="$1" '
			/ErrImageNeverPull|ErrImagePull|ImagePullBackOff|InvalidImageName/ { print "pod " $1 " on " $2 " cannot get its image (" $3 ")"; exit }
			/CrashLoopBackOff/ { print "pod " $1 " on " $2 " keeps crashing (CrashLoopBackOff)"; exit }
			/CreateContainerConfigError/ { print "pod " $1 " on " $2 " cannot be started (CreateContainerConfigError)"; exit }
			/Unschedulable/ && waited >= 60 { print "pod " $1 " has been unschedulable for " waited " s"; exit }
			{ pods++ }
			END { if (pods == 0 && NR == 0 && waited >= 60) print "MetalLB has no pods after " waited " s" }'
}

start=$(date +%s)
while ! webhook_serves; do
	# Served, and refused: the pool itself is wrong for MetalLB (it overlaps a pool of someone else's).
	if grep -q 'denied the request' "$out"; then
		die "MetalLB refuses the pool: $(grep -m 1 'denied the request' "$out" | sed 's/.*denied the request: //')" \
			"change metallb.pool.addresses, or remove the other pool (k3s kubectl -n metallb-system get ipaddresspools on the laptop)"
	fi
	waited=$(($(date +%s) - start))
	why=$(hopeless "$waited")
	if [ -n "$why" ]; then
		die "MetalLB's webhook cannot serve: $why" "k3s kubectl -n metallb-system describe pods on the laptop; the images must be pullable by (or imported on) the nodes"
	fi
	if [ "$waited" -ge "$READY_TIMEOUT" ]; then
		die "MetalLB's webhook did not serve within $READY_TIMEOUT s" "k3s kubectl -n metallb-system get pods,endpoints on the laptop"
	fi
	sleep 2
done
say "ready: MetalLB's webhook"
