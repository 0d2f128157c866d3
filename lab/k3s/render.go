package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	componentbasev1alpha1 "k8s.io/component-base/config/v1alpha1"
	kubeproxyv1alpha1 "k8s.io/kube-proxy/config/v1alpha1"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/yaml"
)

func ptr[T any](v T) *T { return &v }

// kubeletConfig is the kubelet's configuration file. Besides what k3s sets (cluster DNS and
// domain from the server, webhook authentication and authorization, the node's serving
// certificate, taints), it carries what a kubelet needs to share one kernel with others (the lab's
// README, "Running a kubelet in a host"): cgroupfs under the host's own cgroup root on cgroup v1,
// and no image garbage collection or eviction driven by the machine's shared disk.
func kubeletConfig(n *node) (string, error) {
	taints := make([]corev1.Taint, 0, len(n.cfg.Node.Taints))
	for _, t := range n.cfg.Node.Taints {
		taints = append(taints, corev1.Taint{Key: t.Key, Value: t.Value, Effect: corev1.TaintEffect(t.Effect)})
	}
	c := kubeletv1beta1.KubeletConfiguration{
		TypeMeta: metav1.TypeMeta{APIVersion: "kubelet.config.k8s.io/v1beta1", Kind: "KubeletConfiguration"},
		Authentication: kubeletv1beta1.KubeletAuthentication{
			X509:      kubeletv1beta1.KubeletX509Authentication{ClientCAFile: n.path("server-ca.crt")},
			Webhook:   kubeletv1beta1.KubeletWebhookAuthentication{Enabled: ptr(true)},
			Anonymous: kubeletv1beta1.KubeletAnonymousAuthentication{Enabled: ptr(false)},
		},
		Authorization:               kubeletv1beta1.KubeletAuthorization{Mode: kubeletv1beta1.KubeletAuthorizationModeWebhook},
		ClusterDNS:                  []string{n.reply.ClusterDNS},
		ClusterDomain:               n.reply.ClusterDomain,
		TLSCertFile:                 n.path("serving-kubelet.crt"),
		TLSPrivateKeyFile:           n.path("serving-kubelet.key"),
		ContainerRuntimeEndpoint:    "unix://" + containerdSocket,
		RegisterWithTaints:          taints,
		ReadOnlyPort:                0,
		HealthzBindAddress:          "127.0.0.1",
		SerializeImagePulls:         ptr(false),
		ResolverConfig:              ptr(resolvConf()),
		CgroupDriver:                "cgroupfs",
		CgroupRoot:                  "/",
		FailCgroupV1:                ptr(false),
		FailSwapOn:                  ptr(false),
		ImageGCHighThresholdPercent: ptr(int32(100)),
		ImageGCLowThresholdPercent:  ptr(int32(99)),
		EvictionHard:                map[string]string{"memory.available": "0%", "nodefs.available": "0%", "nodefs.inodesFree": "0%", "imagefs.available": "0%"},
	}
	b, err := yaml.Marshal(c)
	return string(b), err
}

// kubeProxyConfig is kube-proxy in iptables mode, as k3s runs it. conntrack's table size is
// machine-wide and read-only outside the initial network namespace: kube-proxy must not set it.
func kubeProxyConfig(n *node) (string, error) {
	c := kubeproxyv1alpha1.KubeProxyConfiguration{
		TypeMeta:           metav1.TypeMeta{APIVersion: "kubeproxy.config.k8s.io/v1alpha1", Kind: "KubeProxyConfiguration"},
		ClientConnection:   componentbasev1alpha1.ClientConnectionConfiguration{Kubeconfig: n.path("kubeproxy.kubeconfig")},
		HostnameOverride:   n.cfg.Node.Name,
		ClusterCIDR:        n.reply.ClusterCIDR,
		Mode:               "iptables",
		MetricsBindAddress: "127.0.0.1:10249",
		HealthzBindAddress: "127.0.0.1:10256",
		Conntrack:          kubeproxyv1alpha1.KubeProxyConntrackConfiguration{MaxPerCore: ptr(int32(0)), Min: ptr(int32(0))},
	}
	b, err := yaml.Marshal(c)
	return string(b), err
}

// containerdConfig is k3s's containerd layout (root under the data dir, state and socket under
// /run/k3s/containerd) with the CNI plugins from Debian's containernetworking-plugins.
// restrict_oom_score_adj: the lab's root lacks CAP_SYS_RESOURCE, so a negative oom_score_adj
// cannot be written and every pod sandbox would fail to start.
func containerdConfig(root, cniConfDir string) string {
	q := strconv.Quote
	return strings.Join([]string{
		"# Written by the k3s-over-usb lab's k3s at every start.",
		"version = 2",
		"root = " + q(root),
		"state = " + q(containerdState),
		"",
		"[grpc]",
		"  address = " + q(containerdSocket),
		"",
		`[plugins."io.containerd.internal.v1.opt"]`,
		"  path = " + q(root+"/opt"),
		"",
		`[plugins."io.containerd.grpc.v1.cri"]`,
		"  sandbox_image = " + q(pauseImage),
		"  restrict_oom_score_adj = true",
		"  enable_selinux = false",
		"",
		`[plugins."io.containerd.grpc.v1.cri".containerd]`,
		`  snapshotter = "overlayfs"`,
		`  default_runtime_name = "runc"`,
		"",
		`[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]`,
		`  runtime_type = "io.containerd.runc.v2"`,
		"",
		`[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]`,
		"  SystemdCgroup = false",
		"",
		`[plugins."io.containerd.grpc.v1.cri".cni]`,
		"  bin_dir = " + q(cniBinDir),
		"  conf_dir = " + q(cniConfDir),
		"",
	}, "\n")
}

// cniConfig is what flannel's CNI plugin would hand to the bridge plugin: pods on cni0 with an
// address from this node's subnet, the bridge as their gateway, flannel's MTU. (flannel's own
// CNI plugin is not available here, so the delegation is written out.)
func cniConfig(subnet, mtu string) (string, error) {
	ip, network, err := net.ParseCIDR(subnet)
	if err != nil {
		return "", fmt.Errorf("flannel's FLANNEL_SUBNET %q: %v", subnet, err)
	}
	m, err := strconv.Atoi(mtu)
	if err != nil {
		return "", fmt.Errorf("flannel's FLANNEL_MTU %q: %v", mtu, err)
	}
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "cbr0",
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": "cni0", "isGateway": true, "isDefaultGateway": true,
				"ipMasq": false, "hairpinMode": true, "mtu": m,
				"ipam": map[string]any{
					"type":   "host-local",
					"ranges": [][]map[string]string{{{"subnet": network.String(), "gateway": ip.String()}}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	return string(b) + "\n", err
}

// resolvConf picks the file pods with dnsPolicy Default (CoreDNS's upstream) get, as k3s does:
// /etc/resolv.conf unless it only names loopback resolvers, then systemd-resolved's upstream file.
func resolvConf() string {
	for _, p := range []string{"/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == "nameserver" {
				if ip := net.ParseIP(f[1]); ip != nil && !ip.IsLoopback() {
					return p
				}
			}
		}
	}
	return "/etc/resolv.conf"
}
