# shellcheck shell=sh
# Where the lab's k3s is built, keyed by what it is: the k3s version it reports (the household's pin,
# which the install step compares) and the Kubernetes release built underneath (go.mod).
# Source it from the repository root:  . lab/k3s/env.sh ; then bash lab/k3s/build.sh "$K3OU_LAB_K3S_DIR" "$K3OU_LAB_K3S_VERSION"
# (and the same for the NEXT pair, which the cluster suite upgrades to)
K3OU_LAB_K3S_VERSION=v1.35.5+k3s1
K3OU_LAB_KUBE_VERSION=$(awk '$1 == "k8s.io/kubernetes" { print $2; exit }' lab/k3s/go.mod)
K3OU_LAB_K3S_DIR=/var/cache/k3s-over-usb/k3s/${K3OU_LAB_K3S_VERSION}_k8s-${K3OU_LAB_KUBE_VERSION}
# The same build under the next k3s version, for the upgrade roll's test (test/lab/cluster.test.ts):
# only one Kubernetes can be built in CI's time, so the two builds differ in the launcher alone.
K3OU_LAB_K3S_NEXT_VERSION=v1.35.5+k3s2
K3OU_LAB_K3S_NEXT_DIR=/var/cache/k3s-over-usb/k3s/${K3OU_LAB_K3S_NEXT_VERSION}_k8s-${K3OU_LAB_KUBE_VERSION}
export K3OU_LAB_K3S_VERSION K3OU_LAB_KUBE_VERSION K3OU_LAB_K3S_DIR K3OU_LAB_K3S_NEXT_VERSION K3OU_LAB_K3S_NEXT_DIR
