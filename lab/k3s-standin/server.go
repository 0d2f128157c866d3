package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

const kubeconfigPath = "/etc/rancher/k3s/k3s.yaml"

// listenAddress is where k3s's API listens (https-listen-port 6443 on all addresses).
const listenAddress = "0.0.0.0:6443"

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
	srv, err := startServer(cfg, lg)
	if err != nil {
		lg.Fatalf("%v", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := srv.run(ctx); err != nil {
		lg.Fatalf("%v", err)
		return 1
	}
	return 0
}

type server struct {
	cfg      *serverConfig
	lg       logger
	store    *store
	secret   string // the join token's secret part
	ca       *keyPair
	serving  *keyPair
	password string // this node's own node password
	nodeIP   string
	listener net.Listener
	now      func() time.Time
}

// startServer does everything k3s does before it serves: CA, token, node-token, certificates,
// kubeconfig, and registering its own node (a k3s server is also a node).
func startServer(cfg *serverConfig, lg logger) (*server, error) {
	lg.Infof("Starting k3s %s (%s)", version, standinNote)
	if len(cfg.Ignored) > 0 {
		lg.Infof("accepted, but the stand-in runs no flannel, kube-apiserver or network policy: %s", strings.Join(cfg.Ignored, ", "))
	}
	if err := checkNodeNetwork(cfg.Node.IP, cfg.Node.Iface); err != nil {
		return nil, err
	}
	dataDir := hostPath(cfg.DataDir)
	serverDir := filepath.Join(dataDir, "server")
	tlsDir := filepath.Join(serverDir, "tls")
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		return nil, err
	}
	ca, err := loadOrCreateCA(tlsDir)
	if err != nil {
		return nil, err
	}
	secret, err := bootstrapToken(cfg.Token, serverDir, ca.CertPEM)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(serverDir, "node-token"), []byte(nodeToken(ca.CertPEM, secret)+"\n"), 0o600); err != nil {
		return nil, err
	}
	nodeIP := cfg.Node.IP
	if nodeIP == "" {
		nodeIP = firstHostAddress()
	}
	serving, err := issueServing(tlsDir, ca, cfg.Node.Name, nodeIP, cfg.TLSSANs, cfg.ServiceCIDR)
	if err != nil {
		return nil, err
	}
	admin, err := loadOrCreateAdmin(tlsDir, ca)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(hostPath(kubeconfigPath), []byte(renderKubeconfig(ca.CertPEM, admin)), cfg.KubeconfigMode); err != nil {
		return nil, err
	}
	lg.Infof("Wrote kubeconfig %s", kubeconfigPath)
	st, err := openStore(filepath.Join(serverDir, "standin-state.json"))
	if err != nil {
		return nil, err
	}
	pw, err := ensureNodePassword()
	if err != nil {
		return nil, err
	}
	s := &server{cfg: cfg, lg: lg, store: st, secret: secret, ca: ca, serving: serving, password: pw, nodeIP: nodeIP, now: time.Now}
	if err := st.register(s.ownJoin(), "control-plane", s.now()); err != nil {
		if errors.Is(err, errPasswordMismatch) {
			return nil, fmt.Errorf("%s", nodePasswordRejected)
		}
		return nil, err
	}
	l, err := net.Listen("tcp", listenAddress)
	if err != nil {
		return nil, err
	}
	s.listener = l
	return s, nil
}

func (s *server) ownJoin() joinRequest {
	return joinRequest{Name: s.cfg.Node.Name, IP: s.nodeIP, Password: s.password, Labels: s.cfg.Node.Labels, Taints: s.cfg.Node.Taints, Version: version}
}

// bootstrapToken returns the cluster's token secret: the configured one, or a generated one on the
// first start. Like k3s, a server refuses to start with a token other than the one it bootstrapped
// with (k3s cannot decrypt its bootstrap data then); `k3s token rotate` is not in the stand-in.
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

func renderKubeconfig(caPEM []byte, admin *keyPair) string {
	b64 := base64.StdEncoding.EncodeToString
	// The layout k3s writes: one cluster, user and context, all named "default".
	return fmt.Sprintf(`apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: %s
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: %s
    client-key-data: %s
`, b64(caPEM), b64(admin.CertPEM), b64(admin.KeyPEM))
}

func (s *server) run(ctx context.Context) error {
	pool, err := poolOf(s.ca.CertPEM)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(s.lg, "", 0),
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{{Certificate: [][]byte{s.serving.Cert.Raw}, PrivateKey: s.serving.Key, Leaf: s.serving.Cert}},
			// Admin requests prove themselves with k3s.yaml's client certificate; agents come
			// without one and prove themselves with the token instead.
			ClientAuth: tls.VerifyClientCertIfGiven,
			ClientCAs:  pool,
		},
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.ServeTLS(s.listener, "", "") }()
	s.lg.Infof("Running the API on https://%s; node %s registered", listenAddress, s.cfg.Node.Name)
	s.lg.Infof("k3s is up and running")
	sdNotify("READY=1")
	tick := time.NewTicker(heartbeatInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			s.lg.Infof("Shutting down")
			shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = hs.Shutdown(shutCtx)
			return nil
		case err := <-errc:
			return err
		case <-tick.C:
			// The server's own kubelet heartbeat; a deleted server node stays deleted until restart.
			if err := s.store.heartbeat(s.cfg.Node.Name, s.password, s.now()); err != nil && !errors.Is(err, errNotFound) {
				s.lg.Warnf("own node heartbeat: %v", err)
			}
		}
	}
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	// /cacerts and /ping are open in k3s too: an agent needs the CA before it can verify anything.
	mux.HandleFunc("GET /cacerts", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(s.ca.CertPEM)
	})
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "pong")
	})
	mux.Handle("GET /readyz", s.admin(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
	}))
	mux.Handle("GET /api/v1/nodes", s.admin(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, nodeList{APIVersion: "v1", Kind: "NodeList", Items: s.store.nodes(s.now())})
	}))
	mux.Handle("GET /api/v1/nodes/{name}", s.admin(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if n, ok := s.store.node(name, s.now()); ok {
			writeJSON(w, http.StatusOK, n)
			return
		}
		writeStatus(w, notFound("nodes", name))
	}))
	mux.Handle("PATCH /api/v1/nodes/{name}", s.admin(s.patchNode))
	mux.Handle("DELETE /api/v1/nodes/{name}", s.admin(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := s.store.deleteNode(name); err != nil {
			writeStatus(w, notFound("nodes", name))
			return
		}
		s.lg.Infof("Deleted node %s and its node-password secret %s", name, passwordSecretName(name))
		writeStatus(w, apiStatus{Status: "Success", Details: &statusDetails{Name: name, Kind: "nodes"}, Code: http.StatusOK})
	}))
	mux.Handle("GET /api/v1/namespaces/{ns}/secrets/{name}", s.admin(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if r.PathValue("ns") == "kube-system" {
			if sec, ok := s.store.secret(name); ok {
				writeJSON(w, http.StatusOK, sec)
				return
			}
		}
		writeStatus(w, notFound("secrets", name))
	}))
	mux.Handle("DELETE /api/v1/namespaces/{ns}/secrets/{name}", s.admin(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if r.PathValue("ns") != "kube-system" || s.store.deleteSecret(name) != nil {
			writeStatus(w, notFound("secrets", name))
			return
		}
		s.lg.Infof("Deleted secret kube-system/%s", name)
		writeStatus(w, apiStatus{Status: "Success", Details: &statusDetails{Name: name, Kind: "secrets"}, Code: http.StatusOK})
	}))
	mux.Handle("POST /v1-k3s/join", s.agent(s.join))
	mux.Handle("POST /v1-k3s/heartbeat", s.agent(s.heartbeat))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, apiStatus{Status: "Failure", Reason: "NotFound", Code: http.StatusNotFound,
			Message: "the server could not find the requested resource (the k3s-over-usb lab stand-in serves only the endpoints in its README)"})
	})
	return mux
}

// admin admits requests that present the admin client certificate from k3s.yaml.
func (s *server) admin(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || !slices.Contains(r.TLS.VerifiedChains[0][0].Subject.Organization, "system:masters") {
			writeStatus(w, apiStatus{Status: "Failure", Reason: "Unauthorized", Message: "Unauthorized", Code: http.StatusUnauthorized})
			return
		}
		h(w, r)
	})
}

// agent admits requests that carry the cluster token as a bearer.
func (s *server) agent(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !sameSecret(tok, s.secret) {
			s.lg.Warnf("rejected a %s from %s: wrong token", r.URL.Path, r.RemoteAddr)
			writeJSON(w, http.StatusUnauthorized, agentReply{Message: "token rejected"})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		h(w, r)
	})
}

func (s *server) join(w http.ResponseWriter, r *http.Request) {
	var req joinRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, agentReply{Message: "bad join request: " + err.Error()})
		return
	}
	if len(req.Name) > 253 || !dns1123.MatchString(req.Name) || net.ParseIP(req.IP) == nil || req.Password == "" {
		writeJSON(w, http.StatusBadRequest, agentReply{Message: "bad join request: name, ip and password are required"})
		return
	}
	if err := s.store.register(req, "", s.now()); err != nil {
		if errors.Is(err, errPasswordMismatch) {
			s.lg.Errorf("Node %s from %s: %s", req.Name, r.RemoteAddr, nodePasswordRejected)
			writeJSON(w, http.StatusForbidden, agentReply{Message: nodePasswordRejected})
			return
		}
		writeJSON(w, http.StatusInternalServerError, agentReply{Message: err.Error()})
		return
	}
	s.lg.Infof("Node %s joined from %s (node-ip %s)", req.Name, r.RemoteAddr, req.IP)
	writeJSON(w, http.StatusOK, agentReply{Message: "joined"})
}

func (s *server) heartbeat(w http.ResponseWriter, r *http.Request) {
	var req heartbeatRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, agentReply{Message: "bad heartbeat: " + err.Error()})
		return
	}
	switch err := s.store.heartbeat(req.Name, req.Password, s.now()); {
	case err == nil:
		writeJSON(w, http.StatusOK, agentReply{Message: "ok"})
	case errors.Is(err, errNotFound):
		writeJSON(w, http.StatusNotFound, agentReply{Message: fmt.Sprintf("node %q not found", req.Name)})
	case errors.Is(err, errPasswordMismatch):
		writeJSON(w, http.StatusForbidden, agentReply{Message: nodePasswordRejected})
	default:
		writeJSON(w, http.StatusInternalServerError, agentReply{Message: err.Error()})
	}
}

// patchNode accepts the one patch kubectl cordon/uncordon/drain sends: spec.unschedulable.
func (s *server) patchNode(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var patch struct {
		Spec *struct {
			Unschedulable *bool `json:"unschedulable"`
		} `json:"spec"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&patch); err != nil || patch.Spec == nil || patch.Spec.Unschedulable == nil {
		writeStatus(w, apiStatus{Status: "Failure", Reason: "Invalid", Code: http.StatusUnprocessableEntity,
			Message: "the k3s-over-usb lab stand-in can patch only spec.unschedulable of a node"})
		return
	}
	n, err := s.store.setUnschedulable(name, *patch.Spec.Unschedulable)
	if err != nil {
		writeStatus(w, notFound("nodes", name))
		return
	}
	writeJSON(w, http.StatusOK, n)
}

func notFound(kind, name string) apiStatus {
	return apiStatus{Status: "Failure", Reason: "NotFound", Code: http.StatusNotFound,
		Message: fmt.Sprintf("%s %q not found", kind, name), Details: &statusDetails{Name: name, Kind: kind}}
}

func writeStatus(w http.ResponseWriter, st apiStatus) {
	st.APIVersion, st.Kind = "v1", "Status"
	writeJSON(w, st.Code, st)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
