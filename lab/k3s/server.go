package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
)

const kubeconfigPath = "/etc/rancher/k3s/k3s.yaml"

// k3s serves its supervisor (join, CA) and the Kubernetes API on one port; the API server itself
// listens on 6444 and 6443 hands it every request that is not the supervisor's.
const (
	listenAddress    = "0.0.0.0:6443"
	apiServerPort    = "6444"
	apiServerURL     = "https://127.0.0.1:" + apiServerPort
	etcdClientURL    = "http://127.0.0.1:2379"
	clusterDomain    = "cluster.local"
	authProxyUser    = "system:auth-proxy"
	apiKubeletClient = "kube-apiserver-kubelet-client"
)

func serverMain(args []string, stdout, stderr io.Writer) int {
	lg := logger{stderr}
	for _, a := range args {
		if a == "--help" || a == "-h" {
			fmt.Fprintf(stdout, "k3s server flags (and config keys): %s\n", flagNames(serverFlags))
			return 0
		}
	}
	opts, _, err := loadOptions(serverFlags, args, os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	cfg, err := resolveServer(opts, os.Getenv)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			lg.Fatalf("%s", line)
		}
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := runServer(ctx, cfg, lg); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			lg.Fatalf("%s", line)
		}
		return 1
	}
	return 0
}

// controlPlane is what a k3s server keeps while it runs: its certificates, the token, and a
// client for the API server.
type controlPlane struct {
	cfg         *serverConfig
	lg          logger
	procs       *procs
	dataDir     string
	serverDir   string
	tlsDir      string
	credDir     string
	ca          *keyPair // signs every serving and client certificate of the cluster
	reqCA       *keyPair // signs only the certificate this process forwards requests with
	serving     *keyPair
	authProxy   *keyPair
	kubeProxy   *keyPair // shared by every agent, as in k3s
	controller  *keyPair // flannel's identity, shared by every agent, as k3s's k3s-controller
	secret      string
	nodeIP      string
	clusterCIDR string
	serviceCIDR *net.IPNet
	clusterDNS  net.IP
	client      *kubernetes.Clientset
}

func runServer(ctx context.Context, cfg *serverConfig, lg logger) error {
	lg.Infof("Starting k3s %s (%s)", version, labNote())
	for _, w := range cfg.NotDeployed {
		lg.Infof("%s", w)
	}
	if err := checkNodeNetwork(cfg.Node.IP, cfg.Node.Iface); err != nil {
		return err
	}
	cp := &controlPlane{cfg: cfg, lg: lg, dataDir: cfg.DataDir}
	cp.serverDir = filepath.Join(cp.dataDir, "server")
	cp.tlsDir = filepath.Join(cp.serverDir, "tls")
	cp.credDir = filepath.Join(cp.serverDir, "cred")
	cp.clusterCIDR = cfg.ClusterCIDR
	cp.serviceCIDR = cfg.ServiceCIDR
	cp.clusterDNS = nthAddress(cfg.ServiceCIDR, 10)
	cp.nodeIP = cfg.Node.IP
	if cp.nodeIP == "" {
		cp.nodeIP = firstHostAddress()
	}
	if err := cp.prepare(); err != nil {
		return err
	}
	p, err := newProcs(lg, filepath.Join(cp.dataDir, "logs"))
	if err != nil {
		return err
	}
	cp.procs = p
	defer p.stop()
	if err := cp.startControlPlane(ctx); err != nil {
		return err
	}
	// A k3s server is a node too: its agent joins through the same port the phones use.
	agentCfg := &agentConfig{
		Node:          cfg.Node,
		ServerURL:     &url.URL{Scheme: "https", Host: "127.0.0.1:6443"},
		Token:         cp.secret,
		DataDir:       cfg.DataDir,
		KubeletArgs:   cfg.KubeletArgs,
		KubeProxyArgs: cfg.KubeProxyArgs,
	}
	agentCfg.Node.IP = cp.nodeIP
	if err := startAgent(ctx, agentCfg, lg, p); err != nil {
		return err
	}
	lg.Infof("k3s is up and running")
	sdNotify("READY=1")
	return p.wait(ctx)
}

// prepare writes what the parts read: certificates, the token files, kubeconfigs.
func (cp *controlPlane) prepare() error {
	for _, d := range []string{cp.tlsDir, cp.credDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	var err error
	if cp.ca, err = loadOrCreateCA(cp.tlsDir); err != nil {
		return err
	}
	if cp.reqCA, err = loadOrCreateNamedCA(cp.tlsDir, "request-header-ca", "k3s-request-header-ca"); err != nil {
		return err
	}
	if cp.secret, err = bootstrapToken(cp.cfg.Token, cp.serverDir, cp.ca.CertPEM); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(cp.serverDir, "node-token"), []byte(nodeToken(cp.ca.CertPEM, cp.secret)+"\n"), 0o600); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(cp.serverDir, "token"), []byte(cp.secret+"\n"), 0o600); err != nil {
		return err
	}
	if cp.serving, err = apiServingCert(cp.ca, cp.cfg.Node.Name, cp.nodeIP, cp.cfg.TLSSANs, cp.serviceCIDR); err != nil {
		return err
	}
	if err := savePair(cp.serving, filepath.Join(cp.tlsDir, "serving-kube-apiserver.crt"), filepath.Join(cp.tlsDir, "serving-kube-apiserver.key")); err != nil {
		return err
	}
	clients := []struct{ file, cn, org string }{
		{"client-admin", "system:admin", "system:masters"},
		{"client-supervisor", "system:k3s-supervisor", "system:masters"},
		{"client-controller", "system:kube-controller-manager", ""},
		{"client-scheduler", "system:kube-scheduler", ""},
		{"client-kube-apiserver", apiKubeletClient, ""},
		{"client-kube-proxy", "system:kube-proxy", ""},
		{"client-k3s-controller", "system:k3s-controller", ""},
	}
	pairs := map[string]*keyPair{}
	for _, c := range clients {
		var orgs []string
		if c.org != "" {
			orgs = []string{c.org}
		}
		if pairs[c.file], err = loadOrCreateClient(cp.tlsDir, c.file, cp.ca, c.cn, orgs...); err != nil {
			return err
		}
	}
	if cp.authProxy, err = loadOrCreateClient(cp.tlsDir, "client-auth-proxy", cp.reqCA, authProxyUser); err != nil {
		return err
	}
	cp.kubeProxy, cp.controller = pairs["client-kube-proxy"], pairs["client-k3s-controller"]
	if err := loadOrCreateKey(filepath.Join(cp.tlsDir, "service.key")); err != nil {
		return err
	}
	if err := writeFileAtomic(kubeconfigPath, []byte(renderKubeconfig("https://127.0.0.1:6443", cp.ca.CertPEM, pairs["client-admin"])), cp.cfg.KubeconfigMode); err != nil {
		return err
	}
	cp.lg.Infof("Wrote kubeconfig %s", kubeconfigPath)
	for name, pair := range map[string]*keyPair{"supervisor": pairs["client-supervisor"], "controller": pairs["client-controller"], "scheduler": pairs["client-scheduler"]} {
		if err := writeFileAtomic(filepath.Join(cp.credDir, name+".kubeconfig"), []byte(renderKubeconfig(apiServerURL, cp.ca.CertPEM, pair)), 0o600); err != nil {
			return err
		}
	}
	cp.client, err = clientFor(apiServerURL, cp.ca.CertPEM, pairs["client-supervisor"])
	return err
}

func (cp *controlPlane) startControlPlane(ctx context.Context) error {
	p, tls := cp.procs, cp.tlsDir
	etcdDir := filepath.Join(cp.serverDir, "db", "etcd")
	if err := os.MkdirAll(etcdDir, 0o700); err != nil {
		return err
	}
	etcd, err := exec.LookPath("etcd")
	if err != nil {
		return fmt.Errorf("etcd: not installed (the lab's k3s keeps its datastore in Debian's etcd-server): %v", err)
	}
	// The member name is fixed: a renamed node must not orphan its own datastore.
	if err := p.start("etcd", etcd, []string{
		"--name=default", "--data-dir=" + etcdDir,
		"--listen-client-urls=" + etcdClientURL, "--advertise-client-urls=" + etcdClientURL,
		"--listen-peer-urls=http://127.0.0.1:2380", "--initial-advertise-peer-urls=http://127.0.0.1:2380",
		"--initial-cluster=default=http://127.0.0.1:2380",
	}); err != nil {
		return err
	}
	if err := p.waitFor(ctx, "etcd", 60*time.Second, func() error { return httpOK(etcdClientURL + "/health") }); err != nil {
		return err
	}
	saKey := filepath.Join(tls, "service.key")
	apiArgs := []string{
		"--etcd-servers=" + etcdClientURL,
		"--bind-address=0.0.0.0", "--secure-port=" + apiServerPort, "--advertise-address=" + cp.nodeIP,
		"--tls-cert-file=" + filepath.Join(tls, "serving-kube-apiserver.crt"),
		"--tls-private-key-file=" + filepath.Join(tls, "serving-kube-apiserver.key"),
		"--client-ca-file=" + filepath.Join(tls, "server-ca.crt"),
		"--service-cluster-ip-range=" + cp.serviceCIDR.String(),
		"--service-account-key-file=" + saKey, "--service-account-signing-key-file=" + saKey,
		"--service-account-issuer=https://kubernetes.default.svc." + clusterDomain,
		"--api-audiences=https://kubernetes.default.svc." + clusterDomain + ",k3s",
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true", "--anonymous-auth=true", "--profiling=false",
		"--kubelet-client-certificate=" + filepath.Join(tls, "client-kube-apiserver.crt"),
		"--kubelet-client-key=" + filepath.Join(tls, "client-kube-apiserver.key"),
		"--kubelet-certificate-authority=" + filepath.Join(tls, "server-ca.crt"),
		"--kubelet-preferred-address-types=InternalIP,Hostname",
		// Requests that arrive on 6443 with a client certificate are forwarded by this process,
		// which vouches for the user with these headers (the aggregation layer's front proxy).
		"--requestheader-client-ca-file=" + filepath.Join(tls, "request-header-ca.crt"),
		"--requestheader-allowed-names=" + authProxyUser,
		"--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + filepath.Join(tls, "client-auth-proxy.crt"),
		"--proxy-client-key-file=" + filepath.Join(tls, "client-auth-proxy.key"),
	}
	apiArgs = append(apiArgs, prefixed(cp.cfg.APIServerArgs)...)
	if err := p.startPart("kube-apiserver", apiArgs); err != nil {
		return err
	}
	if err := p.waitFor(ctx, "kube-apiserver", 120*time.Second, func() error {
		_, err := cp.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err
	}); err != nil {
		return err
	}
	if err := cp.serve(); err != nil {
		return err
	}
	cred := cp.credDir
	cmArgs := []string{
		"--kubeconfig=" + filepath.Join(cred, "controller.kubeconfig"),
		"--authentication-kubeconfig=" + filepath.Join(cred, "controller.kubeconfig"),
		"--authorization-kubeconfig=" + filepath.Join(cred, "controller.kubeconfig"),
		"--bind-address=127.0.0.1", "--secure-port=10257", "--leader-elect=false", "--profiling=false",
		// Every node gets a /24 of cluster-cidr, which flannel routes and the CNI bridge hands out.
		"--allocate-node-cidrs=true", "--cluster-cidr=" + cp.clusterCIDR, "--node-cidr-mask-size=24",
		"--service-cluster-ip-range=" + cp.serviceCIDR.String(),
		"--root-ca-file=" + filepath.Join(tls, "server-ca.crt"),
		"--service-account-private-key-file=" + saKey, "--use-service-account-credentials=true",
		"--cluster-signing-cert-file=" + filepath.Join(tls, "server-ca.crt"),
		"--cluster-signing-key-file=" + filepath.Join(tls, "server-ca.key"),
		"--controllers=*,tokencleaner,-service,-route,-cloud-node-lifecycle", "--configure-cloud-routes=false",
	}
	if err := p.startPart("kube-controller-manager", append(cmArgs, prefixed(cp.cfg.ControllerManagerArgs)...)); err != nil {
		return err
	}
	schedArgs := []string{
		"--kubeconfig=" + filepath.Join(cred, "scheduler.kubeconfig"),
		"--authentication-kubeconfig=" + filepath.Join(cred, "scheduler.kubeconfig"),
		"--authorization-kubeconfig=" + filepath.Join(cred, "scheduler.kubeconfig"),
		"--bind-address=127.0.0.1", "--secure-port=10259", "--leader-elect=false", "--profiling=false",
	}
	if err := p.startPart("kube-scheduler", append(schedArgs, prefixed(cp.cfg.SchedulerArgs)...)); err != nil {
		return err
	}
	if err := cp.deployManifests(ctx); err != nil {
		return err
	}
	go watchNodes(ctx, cp.client, cp.lg, cp.cfg.Node.Name)
	return nil
}

// prefixed turns k3s's NAME=VALUE component args into flags.
func prefixed(args []string) []string {
	out := make([]string, 0, len(args))
	for _, a := range args {
		out = append(out, "--"+strings.TrimPrefix(a, "--"))
	}
	return out
}

func httpOK(u string) error {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return nil
}

// deployManifests is k3s's deploy controller in its simplest form: the files in
// server/manifests are applied at every start. The packaged ones are written first.
func (cp *controlPlane) deployManifests(ctx context.Context) error {
	dir := filepath.Join(cp.serverDir, "manifests")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	packaged := map[string]string{"rolebindings.yaml": rolebindingsManifest}
	if cp.cfg.disabled("coredns") {
		_ = os.Remove(filepath.Join(dir, "coredns.yaml"))
	} else {
		packaged["coredns.yaml"] = corednsManifest(cp.clusterDNS.String(), clusterDomain)
	}
	for name, text := range packaged {
		if err := writeFileAtomic(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			return err
		}
	}
	kubeconfig := filepath.Join(cp.credDir, "supervisor.kubeconfig")
	var out []byte
	return cp.procs.waitFor(ctx, "applying "+dir, 60*time.Second, func() error {
		var err error
		out, err = exec.CommandContext(ctx, selfPath(), "kubectl", "--kubeconfig="+kubeconfig, "apply", "-f", dir).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	})
}

// serve listens on 6443: the supervisor's own endpoints, and everything else forwarded to the
// API server.
func (cp *controlPlane) serve() error {
	pool, err := poolOf(cp.ca.CertPEM)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", listenAddress)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           cp.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{{Certificate: [][]byte{cp.serving.Cert.Raw}, PrivateKey: cp.serving.Key, Leaf: cp.serving.Cert}},
			// Kubelets, kube-proxy, flannel and kubectl prove who they are with a client
			// certificate; agents joining come without one and prove themselves with the token.
			ClientAuth: tls.VerifyClientCertIfGiven,
			ClientCAs:  pool,
		},
	}
	go func() {
		if err := hs.ServeTLS(l, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cp.procs.exited <- fmt.Errorf("the supervisor on %s stopped: %v", listenAddress, err)
		}
	}()
	cp.lg.Infof("Serving the supervisor and the Kubernetes API on https://%s", listenAddress)
	return nil
}

func (cp *controlPlane) routes() http.Handler {
	mux := http.NewServeMux()
	// /cacerts and /ping are open in k3s too: an agent needs the CA before it can verify anything.
	mux.HandleFunc("GET /cacerts", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(cp.ca.CertPEM)
	})
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "pong")
	})
	mux.HandleFunc("POST /v1-k3s/join", cp.join)
	mux.Handle("/", cp.apiProxy())
	return mux
}

func (cp *controlPlane) apiProxy() http.Handler {
	pool, _ := poolOf(cp.ca.CertPEM)
	target, _ := url.Parse(apiServerURL)
	proxyCert := tls.Certificate{Certificate: [][]byte{cp.authProxy.Cert.Raw}, PrivateKey: cp.authProxy.Key, Leaf: cp.authProxy.Cert}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			for k := range pr.Out.Header {
				if strings.HasPrefix(strings.ToLower(k), "x-remote-") {
					pr.Out.Header.Del(k)
				}
			}
			if pr.In.TLS != nil && len(pr.In.TLS.VerifiedChains) > 0 {
				leaf := pr.In.TLS.VerifiedChains[0][0]
				pr.Out.Header.Set("X-Remote-User", leaf.Subject.CommonName)
				for _, g := range leaf.Subject.Organization {
					pr.Out.Header.Add("X-Remote-Group", g)
				}
			}
		},
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{proxyCert}, MinVersion: tls.VersionTLS12},
			MaxIdleConnsPerHost: 100,
			IdleConnTimeout:     90 * time.Second,
		},
		// Watches and exec streams must reach the client as they come.
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0),
	}
}

type joinRequest struct {
	Name     string `json:"name"`
	IP       string `json:"ip"`
	Password string `json:"password"`
	Version  string `json:"version"`
}

type certKey struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

// joinReply is what an agent needs to run its parts: the CA, its certificates and the cluster's
// settings, which come from the server's config as they do in k3s.
type joinReply struct {
	Message        string  `json:"message"`
	CA             string  `json:"ca,omitempty"`
	Kubelet        certKey `json:"kubelet"`
	KubeletServing certKey `json:"kubeletServing"`
	KubeProxy      certKey `json:"kubeProxy"`
	Controller     certKey `json:"controller"`
	ClusterCIDR    string  `json:"clusterCIDR,omitempty"`
	ServiceCIDR    string  `json:"serviceCIDR,omitempty"`
	ClusterDNS     string  `json:"clusterDNS,omitempty"`
	ClusterDomain  string  `json:"clusterDomain,omitempty"`
	FlannelBackend string  `json:"flannelBackend,omitempty"`
}

func pairOf(p *keyPair) certKey { return certKey{Cert: string(p.CertPEM), Key: string(p.KeyPEM)} }

func (cp *controlPlane) join(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !sameSecret(tok, cp.secret) {
		cp.lg.Warnf("rejected a join from %s: wrong token", r.RemoteAddr)
		writeJSON(w, http.StatusUnauthorized, joinReply{Message: "token rejected"})
		return
	}
	var req joinRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, joinReply{Message: "bad join request: " + err.Error()})
		return
	}
	ip := net.ParseIP(req.IP)
	if len(req.Name) > 253 || !dns1123.MatchString(req.Name) || ip == nil || req.Password == "" {
		writeJSON(w, http.StatusBadRequest, joinReply{Message: "bad join request: name, ip and password are required"})
		return
	}
	if err := checkNodePassword(r.Context(), cp.client, req.Name, req.Password); err != nil {
		if errors.As(err, &errPasswordRejected{}) {
			cp.lg.Errorf("Node %s from %s: %s", req.Name, r.RemoteAddr, nodePasswordRejected)
			writeJSON(w, http.StatusForbidden, joinReply{Message: nodePasswordRejected})
			return
		}
		writeJSON(w, http.StatusServiceUnavailable, joinReply{Message: "checking the node password: " + err.Error()})
		return
	}
	kubelet, err := clientCert(cp.ca, "system:node:"+req.Name, "system:nodes")
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, joinReply{Message: err.Error()})
		return
	}
	serving, err := servingCert(cp.ca, req.Name, []string{req.Name, "localhost"}, []net.IP{ip, net.IPv4(127, 0, 0, 1)})
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, joinReply{Message: err.Error()})
		return
	}
	cp.lg.Infof("Node %s joined from %s (node-ip %s)", req.Name, r.RemoteAddr, req.IP)
	writeJSON(w, http.StatusOK, joinReply{
		Message: "joined", CA: string(cp.ca.CertPEM),
		Kubelet: pairOf(kubelet), KubeletServing: pairOf(serving), KubeProxy: pairOf(cp.kubeProxy), Controller: pairOf(cp.controller),
		ClusterCIDR: cp.clusterCIDR, ServiceCIDR: cp.serviceCIDR.String(), ClusterDNS: cp.clusterDNS.String(),
		ClusterDomain: clusterDomain, FlannelBackend: cp.cfg.FlannelBackend,
	})
}

// bootstrapToken returns the cluster's token secret: the configured one, or a generated one on the
// first start. Like k3s, a server refuses to start with a token other than the one it bootstrapped
// with (k3s cannot decrypt its bootstrap data then); `k3s token rotate` is not in the lab's k3s.
func bootstrapToken(configured, serverDir string, caPEM []byte) (string, error) {
	var want string
	if configured != "" {
		t, err := parseToken(configured)
		if err != nil {
			return "", err
		}
		if t.CAHash != "" && t.CAHash != caHash(caPEM) {
			return "", fmt.Errorf("the configured K10 token's CA hash does not match this server's CA (%s/tls/server-ca.crt)", serverDir)
		}
		want = t.Secret
	}
	path := filepath.Join(serverDir, "token")
	if b, err := os.ReadFile(path); err == nil {
		stored := strings.TrimSpace(string(b))
		if want != "" && !sameSecret(want, stored) {
			return "", fmt.Errorf("this server was bootstrapped with a different token (kept in %s); k3s refuses to start with another one: configure the original token, or uninstall k3s (k3s-uninstall.sh) to start a new cluster", path)
		}
		return stored, nil
	} else if !os.IsNotExist(err) {
		return "", err
	}
	if want == "" {
		want = randomHex(16)
	}
	return want, writeFileAtomic(path, []byte(want+"\n"), 0o600)
}

func firstHostAddress() string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
				return n.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
