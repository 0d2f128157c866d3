package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestKubectlGlobalsAnywhere(t *testing.T) {
	cases := map[string]kubectlCmd{
		"-n kube-system delete secret x --ignore-not-found": {namespace: "kube-system", verb: "delete", args: []string{"secret", "x", "--ignore-not-found"}},
		"delete secret x --namespace=kube-system":           {namespace: "kube-system", verb: "delete", args: []string{"secret", "x"}},
		"--kubeconfig /k get --raw=/readyz":                 {kubeconfig: "/k", verb: "get", args: []string{"--raw=/readyz"}},
		"get node n -o jsonpath=x":                          {verb: "get", args: []string{"node", "n", "-o", "jsonpath=x"}},
	}
	for in, want := range cases {
		got, err := parseKubectlGlobals(strings.Fields(in))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v %v", in, got, err)
		}
	}
}

func TestKubectlVerbFlags(t *testing.T) {
	spec := map[string]verbFlag{"output": {short: "-o"}, "force": {boolean: true}, "filename": {short: "-f"}}
	pos, flags, err := parseVerbArgs("x", []string{"node", "-ojson", "--force", "-f", "-"}, spec)
	if err != nil || !reflect.DeepEqual(pos, []string{"node"}) || !reflect.DeepEqual(flags, map[string]string{"output": "json", "force": "true", "filename": "-"}) {
		t.Fatalf("got %v %v %v", pos, flags, err)
	}
	if _, _, err := parseVerbArgs("drain", []string{"n", "--grace-period=1"}, spec); err == nil || !strings.Contains(err.Error(), "does not support the flag --grace-period=1") {
		t.Fatalf("unknown flag: %v", err)
	}
}

func TestHumanDuration(t *testing.T) {
	cases := map[time.Duration]string{
		5 * time.Second: "5s", 119 * time.Second: "119s", 150 * time.Second: "2m30s", 30 * time.Minute: "30m",
		200 * time.Minute: "3h20m", 10 * time.Hour: "10h", 50 * time.Hour: "2d2h", 240 * time.Hour: "10d",
	}
	for d, want := range cases {
		if got := humanDuration(d); got != want {
			t.Errorf("%v: %s, want %s", d, got, want)
		}
	}
}

func TestKubeconfigRoundTrip(t *testing.T) {
	ca, err := loadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	admin, err := loadOrCreateAdmin(t.TempDir(), ca)
	if err != nil {
		t.Fatal(err)
	}
	text := renderKubeconfig(ca.CertPEM, admin)
	kc, err := parseKubeconfig(text)
	if err != nil {
		t.Fatal(err)
	}
	if kc.Server.String() != "https://127.0.0.1:6443" || !bytes.Equal(kc.CAPEM, ca.CertPEM) || !bytes.Equal(kc.ClientPEM, admin.CertPEM) {
		t.Fatalf("got %+v", kc)
	}
	if _, err := kc.tlsConfig(); err != nil {
		t.Fatal(err)
	}
	two := text + strings.Replace(text[strings.Index(text, "- cluster:"):strings.Index(text, "contexts:")], "default", "other", 1)
	if _, err := parseKubeconfig(two); err == nil {
		t.Fatal("a kubeconfig with two clusters was accepted")
	}
}

// A server and kubectl end to end in one process, on a loopback port: the API contract the remote
// steps rely on (node-ready, node-remove, the install step's readyz), with exact outputs.
func TestKubectlAgainstTheAPI(t *testing.T) {
	root := t.TempDir()
	t.Setenv("K3OU_STANDIN_ROOT", root)
	t.Setenv("KUBECONFIG", "")
	tlsDir := filepath.Join(root, "tls")
	ca, _ := loadOrCreateCA(tlsDir)
	admin, _ := loadOrCreateAdmin(tlsDir, ca)
	serving, err := issueServing(tlsDir, ca, "laptop", "127.0.0.1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := openStore("")
	now := time.Now().Truncate(time.Second)
	s := &server{store: st, secret: "tok", ca: ca, lg: logger{&bytes.Buffer{}}, now: func() time.Time { return now }}
	_ = st.register(joinRequest{Name: "laptop", IP: "10.0.0.1", Password: "a", Version: "v1.35.5+k3s1"}, "control-plane", now.Add(-5*time.Minute))
	_ = st.register(joinRequest{Name: "one6t", IP: "10.0.1.2", Password: "b", Version: "v1.35.5+k3s1"}, "", now.Add(-2*time.Minute))
	_ = st.heartbeat("laptop", "a", now)
	_ = st.heartbeat("one6t", "b", now)

	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	ts := httptest.NewUnstartedServer(s.routes())
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{serving.Cert.Raw}, PrivateKey: serving.Key}}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool}
	ts.StartTLS()
	defer ts.Close()
	port := ts.Listener.Addr().(*net.TCPAddr).Port
	kc := strings.Replace(renderKubeconfig(ca.CertPEM, admin), "127.0.0.1:6443", "127.0.0.1:"+strconv.Itoa(port), 1)
	if err := os.MkdirAll(filepath.Join(root, "etc/rancher/k3s"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/rancher/k3s/k3s.yaml"), []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}

	kubectl := func(stdin string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"k3s", "kubectl"}, args...), strings.NewReader(stdin), &out, &errb)
		return code, out.String(), errb.String()
	}
	expect := func(name string, gotCode int, gotOut, gotErr string, code int, out, errText string) {
		t.Helper()
		if gotCode != code || gotOut != out || !strings.Contains(gotErr, errText) {
			t.Errorf("%s: got (%d, %q, %q), want (%d, %q, ...%q...)", name, gotCode, gotOut, gotErr, code, out, errText)
		}
	}
	c, o, e := kubectl("", "get", "--raw=/readyz")
	expect("readyz", c, o, e, 0, "ok", "")
	c, o, e = kubectl("", "get", "node", "laptop", "-o", "jsonpath="+readyJSONPath)
	expect("laptop ready", c, o, e, 0, "True", "")
	c, o, e = kubectl("", "get", "node", "one6t", "-o", "jsonpath="+readyJSONPath)
	expect("one6t ready", c, o, e, 0, "True", "")
	c, o, e = kubectl("", "get", "node", "ghost")
	expect("absent node", c, o, e, 1, "", `Error from server (NotFound): nodes "ghost" not found`)
	c, o, e = kubectl("", "get", "nodes")
	expect("table", c, o, e, 0, "NAME     STATUS   ROLES           AGE   VERSION\n"+
		"laptop   Ready    control-plane   5m    v1.35.5+k3s1\n"+
		"one6t    Ready    <none>          2m    v1.35.5+k3s1\n", "")
	c, o, e = kubectl("", "get", "node", "one6t", "-o", "jsonpath={.metadata.name}")
	expect("other jsonpath", c, o, e, 1, "", "supports only the jsonpath")
	c, o, e = kubectl("", "drain", "one6t", "--ignore-daemonsets", "--delete-emptydir-data", "--force", "--timeout=90s")
	expect("drain", c, o, e, 0, "node/one6t cordoned\nnode/one6t drained\n", "runs no pods")
	c, o, e = kubectl("", "get", "nodes", "one6t")
	expect("cordoned", c, o, e, 0, "NAME    STATUS                     ROLES    AGE   VERSION\none6t   Ready,SchedulingDisabled   <none>   2m    v1.35.5+k3s1\n", "")
	c, o, e = kubectl("", "-n", "kube-system", "get", "secret", "one6t.node-password.k3s")
	if c != 0 || !strings.HasPrefix(o, "NAME                      TYPE                          DATA   AGE\none6t.node-password.k3s   k3s.cattle.io/node-password   1") {
		t.Errorf("get secret: %d %q %q", c, o, e)
	}
	c, o, e = kubectl("", "delete", "node", "one6t", "--wait=true")
	expect("delete node", c, o, e, 0, "node \"one6t\" deleted\n", "")
	c, o, e = kubectl("", "-n", "kube-system", "delete", "secret", "one6t.node-password.k3s", "--ignore-not-found")
	expect("secret went with the node", c, o, e, 0, "", "")
	c, o, e = kubectl("", "-n", "kube-system", "delete", "secret", "one6t.node-password.k3s")
	expect("missing secret", c, o, e, 1, "", `Error from server (NotFound): secrets "one6t.node-password.k3s" not found`)
	c, o, e = kubectl("", "delete", "node", "one6t")
	expect("missing node", c, o, e, 1, "", `Error from server (NotFound): nodes "one6t" not found`)
	c, o, e = kubectl("apiVersion: metallb.io/v1beta1\n", "apply", "--dry-run=server", "-f", "-")
	expect("apply", c, o, e, 1, "", "the k3s-over-usb lab stand-in serves no custom resources (MetalLB is not run in the lab)")
	c, o, e = kubectl("", "describe", "node", "laptop")
	expect("unsupported", c, o, e, 1, "", `does not support "describe node laptop"`)
	c, o, e = kubectl("", "get", "--raw=/api/v1/pods")
	expect("unserved path", c, o, e, 1, "", "Error from server (NotFound): the server could not find the requested resource")

	// Without the admin certificate the API refuses, and agent endpoints want the token.
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := insecure.Get(ts.URL + "/api/v1/nodes")
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous node list: %v %v", resp, err)
	}
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1-k3s/join", strings.NewReader(`{"name":"x","ip":"10.0.0.9","password":"p"}`))
	req.Header.Set("Authorization", "Bearer wrong")
	resp, err = insecure.Do(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("join with a wrong token: %v %v", resp, err)
	}
}
