package main

import (
	"net"
	"net/url"
	"strings"
	"testing"
)

func testNode() *node {
	return &node{
		cfg: &agentConfig{
			Node:      nodeSettings{Name: "one6t", IP: "10.0.1.2", Iface: "usb0", Taints: []taint{{Key: "node-role/phone", Value: "true", Effect: "NoSchedule"}}},
			ServerURL: &url.URL{Scheme: "https", Host: "10.0.1.1:6443"},
		},
		reply: &joinReply{ClusterCIDR: "10.42.0.0/16", ClusterDNS: "10.43.0.10", ClusterDomain: "cluster.local"},
		ip:    "10.0.1.2",
		dir:   "/var/lib/rancher/k3s/agent",
	}
}

func TestKubeletConfigCarriesTheServersSettingsAndTheLabsNeeds(t *testing.T) {
	got, err := kubeletConfig(testNode())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"kind: KubeletConfiguration",
		"clusterDNS:\n- 10.43.0.10\n",
		"clusterDomain: cluster.local",
		"cgroupDriver: cgroupfs",
		"cgroupRoot: /",
		"failCgroupV1: false",
		"failSwapOn: false",
		"imageGCHighThresholdPercent: 100",
		"memory.available: 0%",
		"containerRuntimeEndpoint: unix:///run/k3s/containerd/containerd.sock",
		"registerWithTaints:\n- effect: NoSchedule\n  key: node-role/phone\n  value: \"true\"\n",
		"clientCAFile: /var/lib/rancher/k3s/agent/server-ca.crt",
		"tlsCertFile: /var/lib/rancher/k3s/agent/serving-kubelet.crt",
		"mode: Webhook",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("kubelet config lacks %q:\n%s", want, got)
		}
	}
}

func TestKubeProxyLeavesConntrackAlone(t *testing.T) {
	got, err := kubeProxyConfig(testNode())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mode: iptables", "clusterCIDR: 10.42.0.0/16", "hostnameOverride: one6t", "maxPerCore: 0", "kubeconfig: /var/lib/rancher/k3s/agent/kubeproxy.kubeconfig"} {
		if !strings.Contains(got, want) {
			t.Errorf("kube-proxy config lacks %q:\n%s", want, got)
		}
	}
}

func TestContainerdMayNotLowerOOMScores(t *testing.T) {
	got := containerdConfig("/var/lib/rancher/k3s/agent/containerd", "/var/lib/rancher/k3s/agent/etc/cni/net.d")
	for _, want := range []string{"restrict_oom_score_adj = true", `address = "/run/k3s/containerd/containerd.sock"`, `bin_dir = "/usr/lib/cni"`, `sandbox_image = "registry.k8s.io/pause:3.10"`} {
		if !strings.Contains(got, want) {
			t.Errorf("containerd config lacks %q:\n%s", want, got)
		}
	}
}

func TestCNIConfigIsTheNodesFlannelSubnetOnCni0(t *testing.T) {
	got, err := cniConfig("10.42.3.1/24", "1450")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"bridge": "cni0"`, `"subnet": "10.42.3.0/24"`, `"gateway": "10.42.3.1"`, `"mtu": 1450`, `"type": "portmap"`} {
		if !strings.Contains(got, want) {
			t.Errorf("CNI config lacks %s:\n%s", want, got)
		}
	}
	if _, err := cniConfig("10.42.3.1", "1450"); err == nil {
		t.Error("a subnet without a prefix was accepted")
	}
}

func TestNthAddress(t *testing.T) {
	_, n, _ := net.ParseCIDR("10.43.0.0/16")
	if got := nthAddress(n, 10).String(); got != "10.43.0.10" {
		t.Errorf("10th of 10.43.0.0/16 = %s", got)
	}
	_, n, _ = net.ParseCIDR("10.43.0.0/24")
	if got := nthAddress(n, 300).String(); got != "10.43.1.44" {
		t.Errorf("300th of 10.43.0.0/24 = %s", got)
	}
}

func TestServerRefusesWhatTheLabCannotRunAndSaysWhatItLeavesOut(t *testing.T) {
	withConfig(t, "flannel-backend: host-gw\nsecrets-encryption: true\nkube-apiserver-arg:\n  - nameonly\n")
	o, _, err := loadOptions(serverFlags, nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	_, err = resolveServer(o, noEnv)
	for _, want := range []string{`flannel-backend "host-gw": the lab's k3s has flannel's vxlan backend only`, "secrets-encryption: not supported", `kube-apiserver-arg "nameonly": want name=value`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}

	withConfig(t, "disable:\n  - servicelb\nkubelet-arg:\n  - max-pods=20\n")
	o, _, err = loadOptions(serverFlags, nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	c, err := resolveServer(o, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.FlannelBackend != "vxlan" || c.ClusterCIDR != "10.42.0.0/16" || strings.Join(c.KubeletArgs, " ") != "max-pods=20" {
		t.Errorf("defaults: %+v", c)
	}
	if got := strings.Join(c.NotDeployed, "\n"); !strings.Contains(got, "Not deployed (the lab's k3s packages only CoreDNS): traefik, local-storage, metrics-server") {
		t.Errorf("start log notes: %s", got)
	}
}
