package main

import (
	"reflect"
	"strings"
	"testing"
)

// What the program's renderYaml (the yaml library, lineWidth 0) produces for a server, including
// the quoting it chooses for values that would not read back as strings.
const renderedServerConfig = `# Managed by k3s-over-usb (pulumi up); local edits are overwritten.
# The k3s server on the laptop.
node-name: laptop
node-ip: 10.0.0.1
flannel-backend: vxlan
flannel-iface: wan0
cluster-cidr: 10.42.0.0/16
service-cidr: 10.43.0.0/16
disable:
  - servicelb
tls-san:
  - 192.168.1.20
  - laptop
  - 10.0.1.1
  - 10.0.2.1
token-file: /etc/rancher/k3s/k3s-over-usb.token
write-kubeconfig-mode: "0600"
secrets-encryption: true
node-label:
  - a=b
  - "c=d: e"
kube-apiserver-arg: x=#y
node-taint:
  - k=v:NoSchedule
`

func TestParsesTheConfigTheProgramRenders(t *testing.T) {
	got, err := parseConfigYAML(renderedServerConfig)
	if err != nil {
		t.Fatal(err)
	}
	want := []configEntry{
		{Key: "node-name", Values: []string{"laptop"}, Line: 3},
		{Key: "node-ip", Values: []string{"10.0.0.1"}, Line: 4},
		{Key: "flannel-backend", Values: []string{"vxlan"}, Line: 5},
		{Key: "flannel-iface", Values: []string{"wan0"}, Line: 6},
		{Key: "cluster-cidr", Values: []string{"10.42.0.0/16"}, Line: 7},
		{Key: "service-cidr", Values: []string{"10.43.0.0/16"}, Line: 8},
		{Key: "disable", Values: []string{"servicelb"}, IsList: true, Line: 9},
		{Key: "tls-san", Values: []string{"192.168.1.20", "laptop", "10.0.1.1", "10.0.2.1"}, IsList: true, Line: 11},
		{Key: "token-file", Values: []string{"/etc/rancher/k3s/k3s-over-usb.token"}, Line: 16},
		{Key: "write-kubeconfig-mode", Values: []string{"0600"}, Line: 17},
		{Key: "secrets-encryption", Values: []string{"true"}, Line: 18},
		{Key: "node-label", Values: []string{"a=b", "c=d: e"}, IsList: true, Line: 19},
		{Key: "kube-apiserver-arg", Values: []string{"x=#y"}, Line: 22},
		{Key: "node-taint", Values: []string{"k=v:NoSchedule"}, IsList: true, Line: 23},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestScalarForms(t *testing.T) {
	cases := []struct{ in, want string }{
		{`a: plain value # comment`, "plain value"},
		{`a: "dq \"x\" \\ \u00e9 \x41"`, `dq "x" \ é A`},
		{`a: 'it''s # not a comment'  # comment`, "it's # not a comment"},
		{`a: it's "q"`, `it's "q"`},
		{`a: ""`, ""},
		{`a: https://10.0.1.1:6443`, "https://10.0.1.1:6443"},
	}
	for _, c := range cases {
		got, err := parseConfigYAML(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if len(got) != 1 || len(got[0].Values) != 1 || got[0].Values[0] != c.want {
			t.Errorf("%s: got %+v, want %q", c.in, got, c.want)
		}
	}
}

func TestListForms(t *testing.T) {
	got, err := parseConfigYAML("---\na:\n- x\n- 'y'\nb: []\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []configEntry{
		{Key: "a", Values: []string{"x", "y"}, IsList: true, Line: 2},
		{Key: "b", Values: []string{}, IsList: true, Line: 5},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
}

func TestRefusesWhatItDoesNotUnderstand(t *testing.T) {
	cases := map[string]string{
		"nested map":           "a:\n  b: c\n",
		"nested map inline":    "a: b: c\n",
		"flow list":            "a: [x, y]\n",
		"flow map":             "a: {x: y}\n",
		"block scalar":         "a: |\n  text\n",
		"anchor":               "a: &x y\n",
		"tag":                  "a: !!str y\n",
		"tab indent":           "a:\n\t- x\n",
		"duplicate key":        "a: x\na: y\n",
		"key without value":    "a:\nb: x\n",
		"last key no value":    "a:\n",
		"item without key":     "- x\n",
		"item after scalar":    "a: x\n- y\n",
		"unterminated dq":      "a: \"x\n",
		"text after quote":     "a: \"x\" y\n",
		"bad escape":           `a: "\q"` + "\n",
		"null":                 "a: ~\n",
		"second document":      "a: x\n---\nb: y\n",
		"uppercase key":        "Node-Name: x\n",
		"no colon":             "just text\n",
		"colon without space":  "a:b\n",
		"continuation line":    "a: x\n  y\n",
		"empty item":           "a:\n  -\n",
		"nested list in items": "a:\n  - b: c\n",
	}
	for name, in := range cases {
		if got, err := parseConfigYAML(in); err == nil {
			t.Errorf("%s: accepted %q as %+v", name, in, got)
		} else if !strings.Contains(err.Error(), "line") && name != "" {
			t.Errorf("%s: error %q does not name a line", name, err)
		}
	}
}
