# K3sServer / K3sAgent, on the server: the node is registered and Ready.
ready=$(/usr/local/bin/k3s kubectl get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || echo missing)
case $ready in
True) ok node "$NODE Ready" ;;
missing) fail node "node $NODE is not registered" "restart the k3s service on $NODE: it registers the node" ;;
*) fail node "node $NODE is NotReady" "k3s kubectl describe node $NODE on the laptop" ;;
esac
