# K3sServer / K3sAgent, on the server: the node is registered and Ready. For the server's own node
# (SERVER=1), an API that does not answer is repaired by an up: the kubeconfig step waits for it, and the
# preview leaves the in-cluster resources unknown instead of failing on a cluster still starting (a
# laptop just rebooted). A stopped server is the install check's; this one is then skipped.
status=$(node_status "$NODE")
case $status in
Ready) ok node "$NODE Ready" ;;
Ready,*) warn node "$NODE is $status" "k3s kubectl uncordon $NODE on the laptop, if nothing is being maintained" ;;
missing) fail node "node $NODE is not registered" "restart the k3s service on $NODE: it registers the node" ;;
unknown)
	if [ "${SERVER:-0}" = 1 ]; then
		fail node "the API server does not answer kubectl" up
	else
		fail node "the API server does not answer kubectl" "journalctl -u k3s on the laptop"
	fi
	;;
*) fail node "node $NODE is $status" "k3s kubectl describe node $NODE on the laptop" ;;
esac
