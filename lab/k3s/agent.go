package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// retryInterval is how long the agent waits before trying an unreachable server again; a real
// agent also keeps retrying until the server answers.
const retryInterval = 5 * time.Second

// Where k3s keeps the agent's runtime state; the install script's killall and uninstall know
// these paths too.
const (
	containerdState  = "/run/k3s/containerd"
	containerdSocket = containerdState + "/containerd.sock"
	flannelSubnetEnv = "/run/flannel/subnet.env"
	cniBinDir        = "/usr/lib/cni"
)

// errFatal marks answers that retrying cannot fix (wrong token, node password, wrong CA).
type errFatal struct{ msg string }

func (e errFatal) Error() string { return e.msg }

func agentMain(args []string, stderr io.Writer) int {
	lg := logger{stderr}
	for _, a := range args {
		if a == "--help" || a == "-h" {
			fmt.Fprintf(stderr, "k3s agent flags (and config keys): %s\n", flagNames(agentFlags))
			return 0
		}
	}
	opts, _, err := loadOptions(agentFlags, args, os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	cfg, err := resolveAgent(opts)
	if err == nil {
		_, err = parseToken(cfg.Token)
	}
	if err != nil {
		for _, line := range bytes.Split([]byte(err.Error()), []byte("\n")) {
			lg.Fatalf("%s", line)
		}
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	lg.Infof("Starting k3s agent %s (%s)", version, labNote())
	p, err := newProcs(lg, filepath.Join(cfg.DataDir, "logs"))
	if err == nil {
		defer p.stop()
		err = startAgent(ctx, cfg, lg, p)
	}
	if err == nil {
		sdNotify("READY=1")
		err = p.wait(ctx)
	}
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			lg.Fatalf("%s", line)
		}
		return 1
	}
	lg.Infof("Shutting down")
	return 0
}

type agentClient struct {
	cfg      *agentConfig
	token    joinToken
	password string
	lg       logger
	// tofuLogged keeps the trust-on-first-use notice to one line across join retries.
	tofuLogged bool
}

// startAgent joins the server and starts the node's parts: containerd, the kubelet, kube-proxy
// and flannel, then writes the CNI configuration for the node's pod subnet.
func startAgent(ctx context.Context, cfg *agentConfig, lg logger, p *procs) error {
	if err := checkNodeNetwork(cfg.Node.IP, cfg.Node.Iface); err != nil {
		return err
	}
	tok, err := parseToken(cfg.Token)
	if err != nil {
		return err
	}
	pw, err := ensureNodePassword()
	if err != nil {
		return err
	}
	nodeIP := cfg.Node.IP
	if nodeIP == "" {
		if nodeIP, err = localAddressTowards(cfg.ServerURL); err != nil {
			return err
		}
	}
	a := &agentClient{cfg: cfg, token: tok, password: pw, lg: lg}
	var reply *joinReply
	for {
		reply, err = a.join(ctx, nodeIP)
		if err == nil {
			break
		}
		var fatal errFatal
		if errors.As(err, &fatal) {
			return err
		}
		lg.Infof("Waiting for the server at %s: %v", cfg.ServerURL, err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retryInterval):
		}
	}
	lg.Infof("Node %s joined the cluster at %s (node-ip %s)", cfg.Node.Name, cfg.ServerURL, nodeIP)
	n := &node{cfg: cfg, reply: reply, ip: nodeIP, dir: filepath.Join(cfg.DataDir, "agent"), lg: lg}
	if err := n.writeFiles(); err != nil {
		return err
	}
	if err := n.startContainerd(ctx, p); err != nil {
		return err
	}
	if err := p.startPart("kubelet", n.kubeletArgs()); err != nil {
		return err
	}
	if err := p.startPart("kube-proxy", append([]string{"--config=" + filepath.Join(n.dir, "etc", "kube-proxy.yaml")}, prefixed(cfg.KubeProxyArgs)...)); err != nil {
		return err
	}
	if reply.FlannelBackend == "none" {
		lg.Infof("flannel-backend is none: no flannel and no CNI configuration from k3s")
		return nil
	}
	return n.startFlannel(ctx, p)
}

// join trusts the server's CA (checking it against the token's CA hash when the token has one,
// else on first use as a plain token does in k3s), then registers the node with the token and
// the node password and receives its certificates.
func (a *agentClient) join(ctx context.Context, nodeIP string) (*joinReply, error) {
	caPEM, err := a.fetchCA(ctx)
	if err != nil {
		return nil, err
	}
	if a.token.CAHash != "" {
		if got := caHash(caPEM); got != a.token.CAHash {
			return nil, errFatal{fmt.Sprintf("token CA hash does not match the server's CA certificate hash (token %s…, server %s…): the token belongs to another server, or the server was reinstalled", a.token.CAHash[:12], got[:12])}
		}
	}
	pinPath := filepath.Join(a.cfg.DataDir, "agent", "server-ca.crt")
	if old, err := os.ReadFile(pinPath); err == nil && !bytes.Equal(old, caPEM) {
		a.lg.Warnf("the server's CA changed since the last start (the server was reinstalled?); using the new one, as k3s does with a token that carries no CA hash")
	}
	if a.token.CAHash == "" && !a.tofuLogged {
		a.tofuLogged = true
		a.lg.Infof("the token carries no CA hash: trusting the server's CA on first use (the K10 token in the server's node-token file would let the agent verify it)")
	}
	pool, err := poolOf(caPEM)
	if err != nil {
		return nil, fmt.Errorf("the server's /cacerts: %v", err)
	}
	body, err := json.Marshal(joinRequest{Name: a.cfg.Node.Name, IP: nodeIP, Password: a.password, Version: version})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.cfg.ServerURL.JoinPath("/v1-k3s/join").String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+a.token.Secret)
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var reply joinReply
	if json.Unmarshal(raw, &reply) != nil {
		reply.Message = strings.TrimSpace(string(raw))
	}
	switch code := resp.StatusCode; {
	case code == http.StatusOK:
		return &reply, nil
	case code == http.StatusUnauthorized:
		return nil, errFatal{fmt.Sprintf("token rejected by the server at %s: the token in the token file is not the server's", a.cfg.ServerURL)}
	case code == http.StatusForbidden:
		return nil, errFatal{reply.Message}
	case code >= 400 && code < 500:
		return nil, errFatal{fmt.Sprintf("the server refused the join (%d): %s", code, reply.Message)}
	default:
		return nil, fmt.Errorf("the server answered %d: %s", code, reply.Message)
	}
}

func (a *agentClient) fetchCA(ctx context.Context) ([]byte, error) {
	// Unverified on purpose: this is how an agent learns the CA it then verifies everything with.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.cfg.ServerURL.JoinPath("/cacerts").String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /cacerts: %s", resp.Status)
	}
	return body, nil
}

// localAddressTowards is the source address the kernel picks for the server, which is what a
// kubelet without --node-ip advertises. A UDP "connect" sends nothing.
func localAddressTowards(u *url.URL) (string, error) {
	c, err := net.Dial("udp", u.Host)
	if err != nil {
		return "", fmt.Errorf("no route to the server %s: %v", u.Host, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String(), nil
}

// node is one agent's parts and their files under DATA/agent.
type node struct {
	cfg   *agentConfig
	reply *joinReply
	ip    string
	dir   string
	lg    logger
}

func (n *node) path(parts ...string) string {
	return filepath.Join(append([]string{n.dir}, parts...)...)
}

func (n *node) writeFiles() error {
	r := n.reply
	files := map[string]string{
		"server-ca.crt":             r.CA,
		"client-kubelet.crt":        r.Kubelet.Cert,
		"client-kubelet.key":        r.Kubelet.Key,
		"serving-kubelet.crt":       r.KubeletServing.Cert,
		"serving-kubelet.key":       r.KubeletServing.Key,
		"client-kube-proxy.crt":     r.KubeProxy.Cert,
		"client-kube-proxy.key":     r.KubeProxy.Key,
		"client-k3s-controller.crt": r.Controller.Cert,
		"client-k3s-controller.key": r.Controller.Key,
	}
	server := n.cfg.ServerURL.String()
	for name, user := range map[string]certKey{"kubelet": r.Kubelet, "kubeproxy": r.KubeProxy, "k3scontroller": r.Controller} {
		files[name+".kubeconfig"] = renderKubeconfig(server, []byte(r.CA), &keyPair{CertPEM: []byte(user.Cert), KeyPEM: []byte(user.Key)})
	}
	kubelet, err := kubeletConfig(n)
	if err != nil {
		return err
	}
	proxy, err := kubeProxyConfig(n)
	if err != nil {
		return err
	}
	files["etc/kubelet.yaml"] = kubelet
	files["etc/kube-proxy.yaml"] = proxy
	files["etc/containerd/config.toml"] = containerdConfig(n.path("containerd"), n.path("etc", "cni", "net.d"))
	for name, text := range files {
		mode := os.FileMode(0o600)
		if strings.HasSuffix(name, ".crt") {
			mode = 0o644
		}
		if err := writeFileAtomic(n.path(name), []byte(text), mode); err != nil {
			return err
		}
	}
	return nil
}

func (n *node) kubeletArgs() []string {
	args := []string{
		"--config=" + n.path("etc", "kubelet.yaml"),
		"--kubeconfig=" + n.path("kubelet.kubeconfig"),
		"--hostname-override=" + n.cfg.Node.Name,
		"--node-ip=" + n.ip,
	}
	if len(n.cfg.Node.Labels) > 0 {
		keys := make([]string, 0, len(n.cfg.Node.Labels))
		for k := range n.cfg.Node.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var labels []string
		for _, k := range keys {
			labels = append(labels, k+"="+n.cfg.Node.Labels[k])
		}
		args = append(args, "--node-labels="+strings.Join(labels, ","))
	}
	return append(args, prefixed(n.cfg.KubeletArgs)...)
}

// startContainerd runs Debian's containerd with k3s's layout and imports the air-gap images
// (agent/images/*.tar, as k3s does at every start; unchanged files are not imported again).
func (n *node) startContainerd(ctx context.Context, p *procs) error {
	bin, err := exec.LookPath("containerd")
	if err != nil {
		return fmt.Errorf("containerd: not installed (the lab's k3s runs Debian's containerd): %v", err)
	}
	if err := p.start("containerd", bin, []string{"--config", n.path("etc", "containerd", "config.toml")}); err != nil {
		return err
	}
	if err := p.waitFor(ctx, "containerd", 60*time.Second, func() error {
		c, err := net.Dial("unix", containerdSocket)
		if err == nil {
			c.Close()
		}
		return err
	}); err != nil {
		return err
	}
	tars, _ := filepath.Glob(n.path("images", "*.tar"))
	for _, tar := range tars {
		sum, err := fileSHA256(tar)
		if err != nil {
			return err
		}
		stamp := filepath.Join(filepath.Dir(tar), "."+filepath.Base(tar)+".imported")
		if old, err := os.ReadFile(stamp); err == nil && strings.TrimSpace(string(old)) == sum && n.imagesPresent(ctx) {
			continue
		}
		start := time.Now()
		out, err := exec.CommandContext(ctx, ctrPath(), "--address", containerdSocket, "--namespace", "k8s.io", "images", "import", tar).CombinedOutput()
		if err != nil {
			return fmt.Errorf("importing the images in %s: %v: %s", tar, err, strings.TrimSpace(string(out)))
		}
		n.lg.Infof("Imported images from %s in %s", tar, time.Since(start).Round(time.Millisecond))
		if err := writeFileAtomic(stamp, []byte(sum+"\n"), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// imagesPresent checks the pause image is in containerd's store: a stamp alone would lie after
// containerd's root was wiped.
func (n *node) imagesPresent(ctx context.Context) bool {
	out, err := exec.CommandContext(ctx, ctrPath(), "--address", containerdSocket, "--namespace", "k8s.io", "images", "ls", "-q").Output()
	return err == nil && bytes.Contains(out, []byte(pauseImage))
}

func ctrPath() string {
	if p, err := exec.LookPath("ctr"); err == nil && !strings.HasPrefix(p, "/usr/local/bin") {
		return p
	}
	return "/usr/bin/ctr"
}

// startFlannel runs flannel on flannel-iface (or the interface holding node-ip), waits for the
// node's subnet and writes the CNI configuration for it. flannel learns the subnet from the
// node's podCIDR, which the controller-manager assigns once the kubelet has registered the node.
func (n *node) startFlannel(ctx context.Context, p *procs) error {
	iface := n.cfg.Node.Iface
	if iface == "" {
		var err error
		if iface, err = interfaceOf(n.ip); err != nil {
			return err
		}
	}
	netConf, _ := json.Marshal(map[string]any{"Network": n.reply.ClusterCIDR, "Backend": map[string]string{"Type": "vxlan"}})
	if err := writeFileAtomic(n.path("etc", "flannel", "net-conf.json"), netConf, 0o600); err != nil {
		return err
	}
	// A subnet file from an earlier start in this boot would be taken for this one's.
	if err := os.Remove(flannelSubnetEnv); err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := p.startPart("flannel", []string{
		"--kube-subnet-mgr", "--kubeconfig-file=" + n.path("k3scontroller.kubeconfig"),
		"--iface=" + iface, "--ip-masq",
		"--net-config-path=" + n.path("etc", "flannel", "net-conf.json"), "--subnet-file=" + flannelSubnetEnv,
	}, "NODE_NAME="+n.cfg.Node.Name); err != nil {
		return err
	}
	var env map[string]string
	if err := p.waitFor(ctx, "flannel's subnet for node "+n.cfg.Node.Name, 180*time.Second, func() error {
		var err error
		env, err = readEnvFile(flannelSubnetEnv)
		if err != nil {
			return fmt.Errorf("%s not written yet (flannel waits for the node's podCIDR; see %s)", flannelSubnetEnv, filepath.Join(p.logDir, "flannel.log"))
		}
		return nil
	}); err != nil {
		return err
	}
	conf, err := cniConfig(env["FLANNEL_SUBNET"], env["FLANNEL_MTU"])
	if err != nil {
		return err
	}
	if err := writeFileAtomic(n.path("etc", "cni", "net.d", "10-flannel.conflist"), []byte(conf), 0o644); err != nil {
		return err
	}
	n.lg.Infof("flannel on %s: node subnet %s, MTU %s", iface, env["FLANNEL_SUBNET"], env["FLANNEL_MTU"])
	return nil
}

// interfaceOf is the interface that holds ip.
func interfaceOf(ip string) (string, error) {
	want := net.ParseIP(ip)
	ifs, err := net.Interfaces()
	if err != nil {
		return "", err
	}
	for _, i := range ifs {
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.Equal(want) {
				return i.Name, nil
			}
		}
	}
	return "", fmt.Errorf("flannel: no interface holds the node-ip %s; set flannel-iface", ip)
}

func readEnvFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			env[k] = v
		}
	}
	if env["FLANNEL_SUBNET"] == "" {
		return nil, fmt.Errorf("%s has no FLANNEL_SUBNET", path)
	}
	return env, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
