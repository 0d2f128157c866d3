package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func withConfig(t *testing.T, content string) string {
	t.Helper()
	root := t.TempDir()
	fileRoot = root
	t.Cleanup(func() { fileRoot = "" })
	if err := os.MkdirAll(filepath.Join(root, "etc/rancher/k3s"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/rancher/k3s/config.yaml"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return root
}

func noEnv(string) string { return "" }

func TestConfigThenCommandLine(t *testing.T) {
	withConfig(t, "node-name: from-file\ntls-san:\n  - a\n  - b\ndisable-network-policy: true\n")
	o, _, err := loadOptions(serverFlags, []string{"--node-name", "from-cli", "--tls-san=c,d", "--secrets-encryption"}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := o.str("node-name"); got != "from-cli" {
		t.Errorf("node-name = %q: the command line must win for single values", got)
	}
	if got := o.list("tls-san"); !reflect.DeepEqual(got, []string{"a", "b", "c", "d"}) {
		t.Errorf("tls-san = %q: lists accumulate, file first, commas split", got)
	}
	if !o.boolean("disable-network-policy") || !o.boolean("secrets-encryption") {
		t.Errorf("bool flags from file and command line not set: %v", o.values)
	}
}

func TestUnknownFlagsAreRefusedLikeK3s(t *testing.T) {
	withConfig(t, "")
	for _, args := range [][]string{{"--xyz"}, {"--xyz=1"}, {"--server=https://x"}, {"-x"}} {
		_, _, err := loadOptions(serverFlags, args, noEnv)
		want := "unknown flag: " + strings.SplitN(args[0], "=", 2)[0]
		if err == nil || err.Error() != want {
			t.Errorf("%v: got %v, want %q", args, err, want)
		}
	}
	_, _, err := loadOptions(agentFlags, []string{"--tls-san=x"}, noEnv)
	if err == nil || err.Error() != "unknown flag: --tls-san" {
		t.Errorf("agent --tls-san: got %v", err)
	}
}

func TestUnknownConfigKeyIsRefused(t *testing.T) {
	withConfig(t, "node-name: x\ncluster-init: true\n")
	_, _, err := loadOptions(serverFlags, nil, noEnv)
	if err == nil || !strings.HasPrefix(err.Error(), "unknown flag: --cluster-init (key \"cluster-init\" on line 2 of /etc/rancher/k3s/config.yaml") {
		t.Fatalf("got %v", err)
	}
}

func TestConfigListForSingleValueFlagIsRefused(t *testing.T) {
	withConfig(t, "node-ip:\n  - 10.0.0.1\n")
	_, _, err := loadOptions(serverFlags, nil, noEnv)
	if err == nil || !strings.Contains(err.Error(), `"node-ip" takes one value, not a list`) {
		t.Fatalf("got %v", err)
	}
}

func TestFlagNeedsValue(t *testing.T) {
	withConfig(t, "")
	if _, _, err := loadOptions(serverFlags, []string{"--node-name"}, noEnv); err == nil || err.Error() != "flag needs an argument: --node-name" {
		t.Fatalf("got %v", err)
	}
	if _, _, err := loadOptions(serverFlags, []string{"--secrets-encryption=maybe"}, noEnv); err == nil {
		t.Fatal("accepted a non-boolean for a bool flag")
	}
	if _, _, err := loadOptions(serverFlags, []string{"stray"}, noEnv); err == nil {
		t.Fatal("accepted a positional argument")
	}
}

func TestExplicitConfigAndRoot(t *testing.T) {
	root := withConfig(t, "node-name: default-file\n")
	if err := os.WriteFile(filepath.Join(root, "other.yaml"), []byte("node-name: other\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, path, err := loadOptions(serverFlags, []string{"--config", "/other.yaml"}, noEnv)
	if err != nil || o.str("node-name") != "other" || path != "/other.yaml" {
		t.Fatalf("got %v %q %v", o, path, err)
	}
	if _, _, err := loadOptions(serverFlags, []string{"--config=/missing.yaml"}, noEnv); err == nil {
		t.Fatal("a missing explicit config file was accepted")
	}
}

func TestEnvironmentFillsWhatConfigLeavesOpen(t *testing.T) {
	root := withConfig(t, "server: https://10.0.1.1:6443\n")
	if err := os.WriteFile(filepath.Join(root, "tok"), []byte("sekret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"K3S_URL": "https://ignored:6443", "K3S_TOKEN_FILE": "/tok", "K3S_NODE_NAME": "one6t"}
	o, _, err := loadOptions(agentFlags, nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	c, err := resolveAgent(o)
	if err != nil {
		t.Fatal(err)
	}
	if c.ServerURL.String() != "https://10.0.1.1:6443" || c.Token != "sekret" || c.Node.Name != "one6t" {
		t.Fatalf("got %+v", c)
	}
}

func TestResolveServerValidatesEverythingAtOnce(t *testing.T) {
	withConfig(t, strings.Join([]string{
		"node-name: Laptop_1",
		"node-ip: 10.0.0.300",
		"flannel-backend: ipsec",
		"cluster-cidr: 10.42.0.0",
		"disable: [] ",
		"write-kubeconfig-mode: \"0999\"",
		"node-taint:",
		"  - bad",
		"token: a",
		"token-file: /t",
	}, "\n")+"\n")
	o, _, err := loadOptions(serverFlags, []string{"--disable=traefik,nope"}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	_, err = resolveServer(o, noEnv)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"node-name \"Laptop_1\"", "node-ip \"10.0.0.300\"", "flannel-backend \"ipsec\"", "cluster-cidr", "disable \"nope\"",
		"write-kubeconfig-mode", "node-taint \"bad\"", "both token"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}

func TestResolveServerDefaults(t *testing.T) {
	withConfig(t, "node-name: laptop\nwrite-kubeconfig-mode: \"0644\"\n")
	o, _, err := loadOptions(serverFlags, nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	c, err := resolveServer(o, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/var/lib/rancher/k3s" || c.KubeconfigMode != 0o644 || c.ServiceCIDR.String() != "10.43.0.0/16" || c.Token != "" {
		t.Fatalf("got %+v", c)
	}
}

func TestAgentNeedsHTTPSAndToken(t *testing.T) {
	withConfig(t, "server: http://10.0.1.1:6443\n")
	o, _, err := loadOptions(agentFlags, []string{"--node-name=x"}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	_, err = resolveAgent(o)
	if err == nil || !strings.Contains(err.Error(), "only https://") || !strings.Contains(err.Error(), "no token") {
		t.Fatalf("got %v", err)
	}
}

func TestParseTaint(t *testing.T) {
	cases := map[string]taint{
		"k=v:NoSchedule": {Key: "k", Value: "v", Effect: "NoSchedule"},
		"k:NoExecute":    {Key: "k", Effect: "NoExecute"},
		"example.com/phone=true:PreferNoSchedule": {Key: "example.com/phone", Value: "true", Effect: "PreferNoSchedule"},
	}
	for in, want := range cases {
		got, err := parseTaint(in)
		if err != nil || got != want {
			t.Errorf("%s: got %+v %v", in, got, err)
		}
	}
	for _, bad := range []string{"k=v", "k=v:Sometimes", ":NoSchedule", "k=v w:NoSchedule"} {
		if _, err := parseTaint(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
