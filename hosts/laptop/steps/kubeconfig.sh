# K3sServer: prints the admin kubeconfig k3s wrote (the program rewrites its address and context).
kubeconfig=/etc/rancher/k3s/k3s.yaml
[ -s "$kubeconfig" ] || die "$kubeconfig is missing" "check that the k3s server runs (systemctl status k3s)"
cat "$kubeconfig"
