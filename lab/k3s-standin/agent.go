package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// retryInterval is how long the agent waits before trying an unreachable server again; a real
// agent also keeps retrying until the server answers.
const retryInterval = 5 * time.Second

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
	if err := runAgent(ctx, cfg, lg); err != nil {
		lg.Fatalf("%v", err)
		return 1
	}
	return 0
}

type agentClient struct {
	cfg      *agentConfig
	token    joinToken
	password string
	http     *http.Client
	lg       logger
	// tofuLogged keeps the trust-on-first-use notice to one line across join retries.
	tofuLogged bool
}

func runAgent(ctx context.Context, cfg *agentConfig, lg logger) error {
	lg.Infof("Starting k3s agent %s (%s)", version, standinNote)
	if err := checkNodeNetwork(cfg.Node.IP, cfg.Node.Iface); err != nil {
		return err
	}
	tok, _ := parseToken(cfg.Token)
	pw, err := ensureNodePassword()
	if err != nil {
		return err
	}
	a := &agentClient{cfg: cfg, token: tok, password: pw, lg: lg}
	for {
		err := a.join(ctx)
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
			return nil
		case <-time.After(retryInterval):
		}
	}
	lg.Infof("Node %s joined the cluster at %s", cfg.Node.Name, cfg.ServerURL)
	sdNotify("READY=1")
	tick := time.NewTicker(heartbeatInterval)
	defer tick.Stop()
	reported := ""
	for {
		select {
		case <-ctx.Done():
			lg.Infof("Shutting down")
			return nil
		case <-tick.C:
			msg := a.heartbeat(ctx)
			if msg != reported && msg != "" {
				lg.Warnf("%s", msg)
			} else if msg == "" && reported != "" {
				lg.Infof("heartbeats reach the server again")
			}
			reported = msg
		}
	}
}

// join trusts the server's CA (checking it against the token's CA hash when the token has one,
// else on first use as a plain token does in k3s), then registers the node with the token and
// the node password.
func (a *agentClient) join(ctx context.Context) error {
	caPEM, err := a.fetchCA(ctx)
	if err != nil {
		return err
	}
	if a.token.CAHash != "" {
		if got := caHash(caPEM); got != a.token.CAHash {
			return errFatal{fmt.Sprintf("token CA hash does not match the server's CA certificate hash (token %s…, server %s…): the token belongs to another server, or the server was reinstalled", a.token.CAHash[:12], got[:12])}
		}
	}
	pinPath := hostPath(filepath.Join(a.cfg.DataDir, "agent", "server-ca.crt"))
	if old, err := os.ReadFile(pinPath); err == nil && !bytes.Equal(old, caPEM) {
		a.lg.Warnf("the server's CA changed since the last start (the server was reinstalled?); using the new one, as k3s does with a token that carries no CA hash")
	}
	if a.token.CAHash == "" && !a.tofuLogged {
		a.tofuLogged = true
		a.lg.Infof("the token carries no CA hash: trusting the server's CA on first use (the K10 token in the server's node-token file would let the agent verify it)")
	}
	if err := writeFileAtomic(pinPath, caPEM, 0o644); err != nil {
		return err
	}
	pool, err := poolOf(caPEM)
	if err != nil {
		return fmt.Errorf("the server's /cacerts: %v", err)
	}
	a.http = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	ip := a.cfg.Node.IP
	if ip == "" {
		if ip, err = localAddressTowards(a.cfg.ServerURL); err != nil {
			return err
		}
	}
	code, msg, err := a.post(ctx, "/v1-k3s/join", joinRequest{
		Name: a.cfg.Node.Name, IP: ip, Password: a.password, Labels: a.cfg.Node.Labels, Taints: a.cfg.Node.Taints, Version: version,
	})
	if err != nil {
		return err
	}
	switch {
	case code == http.StatusOK:
		return nil
	case code == http.StatusUnauthorized:
		return errFatal{fmt.Sprintf("token rejected by the server at %s: the token in the token file is not the server's", a.cfg.ServerURL)}
	case code == http.StatusForbidden:
		return errFatal{msg}
	case code >= 400 && code < 500:
		return errFatal{fmt.Sprintf("the server refused the join (%d): %s", code, msg)}
	}
	return fmt.Errorf("the server answered %d: %s", code, msg)
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

// heartbeat returns "" when the server took it, else what to tell the operator.
func (a *agentClient) heartbeat(ctx context.Context) string {
	code, msg, err := a.post(ctx, "/v1-k3s/heartbeat", heartbeatRequest{Name: a.cfg.Node.Name, Password: a.password})
	switch {
	case err != nil:
		return fmt.Sprintf("heartbeat to %s failed: %v", a.cfg.ServerURL, err)
	case code == http.StatusOK:
		return ""
	case code == http.StatusNotFound:
		return fmt.Sprintf("node %s no longer exists on the server (it was deleted); restart the agent to register it again", a.cfg.Node.Name)
	case code == http.StatusUnauthorized:
		return "token rejected by the server (its token changed?)"
	}
	return fmt.Sprintf("heartbeat refused (%d): %s", code, msg)
}

func (a *agentClient) post(ctx context.Context, path string, body any) (int, string, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.cfg.ServerURL.JoinPath(path).String(), bytes.NewReader(b))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+a.token.Secret)
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var reply agentReply
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(raw, &reply) != nil {
		reply.Message = string(raw)
	}
	return resp.StatusCode, reply.Message, nil
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
