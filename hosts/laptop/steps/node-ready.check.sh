# K3sServer / K3sAgent, on the server: the node is registered and Ready.
status=$(node_status "$NODE")
case $status in
Ready) ok node "$NODE Ready" ;;
Ready,*) warn node "$NODE is $status" "k3s kubectl uncordon $NODE on the laptop, if nothing is being maintained" ;;
missing) fail node "node $NODE is not registered" "restart the k3s service on $NODE: it registers the node" ;;
unknown) fail node "the API server does not answer kubectl" "journalctl -u k3s on the laptop" ;;
*) fail node "node $NODE is $status" "k3s kubectl describe node $NODE on the laptop" ;;
esac
