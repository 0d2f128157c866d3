package main

import "strings"

// The images the lab's k3s runs, as k3s's air-gap images tarball names them. build.sh stamps the
// CoreDNS tag it really built with -ldflags; the tarball in agent/images holds exactly these.
var (
	pauseImage   = "registry.k8s.io/pause:3.10"
	corednsImage = "docker.io/rancher/mirrored-coredns-coredns:1.14.7"
)

// rolebindingsManifest grants the identities k3s itself uses what they need: the API server's
// client certificate may reach kubelets (logs, exec), and k3s-controller (flannel here) may read
// nodes and write their flannel annotations and network condition.
const rolebindingsManifest = `# Written by the k3s-over-usb lab's k3s at every start (k3s: server/manifests/rolebindings.yaml).
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: kube-apiserver-kubelet-admin
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:kubelet-api-admin
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: ` + apiKubeletClient + `
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:k3s-controller
rules:
- apiGroups: [""]
  resources: [nodes]
  verbs: [get, list, watch, patch, update]
- apiGroups: [""]
  resources: [nodes/status]
  verbs: [get, patch, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:k3s-controller
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:k3s-controller
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: system:k3s-controller
`

// corednsManifest is k3s's packaged CoreDNS (manifests/coredns.yaml in k3s), with its Corefile.
func corednsManifest(clusterDNS, domain string) string {
	return strings.NewReplacer("@DNS@", clusterDNS, "@DOMAIN@", domain, "@IMAGE@", corednsImage).Replace(`# Written by the k3s-over-usb lab's k3s at every start (k3s: server/manifests/coredns.yaml).
apiVersion: v1
kind: ServiceAccount
metadata:
  name: coredns
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:coredns
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:coredns
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:coredns
subjects:
- kind: ServiceAccount
  name: coredns
  namespace: kube-system
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: coredns
  namespace: kube-system
data:
  Corefile: |
    .:53 {
        errors
        health {
          lameduck 5s
        }
        ready
        kubernetes @DOMAIN@ in-addr.arpa ip6.arpa {
          pods insecure
          fallthrough in-addr.arpa ip6.arpa
        }
        hosts /etc/coredns/NodeHosts {
          ttl 60
          reload 15s
          fallthrough
        }
        prometheus :9153
        forward . /etc/resolv.conf
        cache 30
        loop
        reload
        loadbalance
        import /etc/coredns/custom/*.override
    }
    import /etc/coredns/custom/*.server
  NodeHosts: ""
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: coredns
  namespace: kube-system
  labels:
    k8s-app: kube-dns
    kubernetes.io/name: CoreDNS
spec:
  replicas: 1
  selector:
    matchLabels:
      k8s-app: kube-dns
  template:
    metadata:
      labels:
        k8s-app: kube-dns
    spec:
      priorityClassName: system-cluster-critical
      serviceAccountName: coredns
      tolerations:
      - key: CriticalAddonsOnly
        operator: Exists
      - key: node-role.kubernetes.io/control-plane
        operator: Exists
        effect: NoSchedule
      - key: node-role.kubernetes.io/master
        operator: Exists
        effect: NoSchedule
      nodeSelector:
        kubernetes.io/os: linux
      dnsPolicy: Default
      containers:
      - name: coredns
        image: @IMAGE@
        imagePullPolicy: IfNotPresent
        args: ["-conf", "/etc/coredns/Corefile"]
        ports:
        - {name: dns, containerPort: 53, protocol: UDP}
        - {name: dns-tcp, containerPort: 53, protocol: TCP}
        - {name: metrics, containerPort: 9153, protocol: TCP}
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities:
            add: [NET_BIND_SERVICE]
            drop: [all]
        livenessProbe:
          httpGet: {path: /health, port: 8080, scheme: HTTP}
          initialDelaySeconds: 60
          periodSeconds: 10
          failureThreshold: 3
        readinessProbe:
          httpGet: {path: /ready, port: 8181, scheme: HTTP}
          periodSeconds: 2
          failureThreshold: 3
        volumeMounts:
        - {name: config-volume, mountPath: /etc/coredns, readOnly: true}
        - {name: custom-config-volume, mountPath: /etc/coredns/custom, readOnly: true}
      volumes:
      - name: config-volume
        configMap:
          name: coredns
          items:
          - {key: Corefile, path: Corefile}
          - {key: NodeHosts, path: NodeHosts}
      - name: custom-config-volume
        configMap:
          name: coredns-custom
          optional: true
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels:
    k8s-app: kube-dns
    kubernetes.io/cluster-service: "true"
    kubernetes.io/name: CoreDNS
spec:
  selector:
    k8s-app: kube-dns
  clusterIP: @DNS@
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
  - {name: metrics, port: 9153, protocol: TCP}
`)
}
