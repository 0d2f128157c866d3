package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Connection is the schema type command:remote:Connection of @pulumi/command 1.2.1.
type Connection struct {
	User               *string          `pulumi:"user,optional"`
	Password           *string          `pulumi:"password,optional" provider:"secret"`
	Host               string           `pulumi:"host"`
	Port               *float64         `pulumi:"port,optional"`
	PrivateKey         *string          `pulumi:"privateKey,optional" provider:"secret"`
	PrivateKeyPassword *string          `pulumi:"privateKeyPassword,optional" provider:"secret"`
	AgentSocketPath    *string          `pulumi:"agentSocketPath,optional"`
	DialErrorLimit     *int             `pulumi:"dialErrorLimit,optional"`
	PerDialTimeout     *int             `pulumi:"perDialTimeout,optional"`
	HostKey            *string          `pulumi:"hostKey,optional"`
	Proxy              *ProxyConnection `pulumi:"proxy,optional"`
}

// ProxyConnection is the schema type command:remote:ProxyConnection: the bastion in front of a Connection.
type ProxyConnection struct {
	User               *string  `pulumi:"user,optional"`
	Password           *string  `pulumi:"password,optional" provider:"secret"`
	Host               string   `pulumi:"host"`
	Port               *float64 `pulumi:"port,optional"`
	PrivateKey         *string  `pulumi:"privateKey,optional" provider:"secret"`
	PrivateKeyPassword *string  `pulumi:"privateKeyPassword,optional" provider:"secret"`
	AgentSocketPath    *string  `pulumi:"agentSocketPath,optional"`
	DialErrorLimit     *int     `pulumi:"dialErrorLimit,optional"`
	PerDialTimeout     *int     `pulumi:"perDialTimeout,optional"`
	HostKey            *string  `pulumi:"hostKey,optional"`
}

const (
	defaultUser           = "root"
	defaultPort           = 22
	defaultDialErrorLimit = 10
	defaultPerDialTimeout = 15
)

func (c *Connection) Annotate(a infer.Annotator) {
	a.Describe(&c, "Instructions for how to connect to a remote endpoint.")
	a.Describe(&c.User, "The user that we should use for the connection.")
	a.SetDefault(&c.User, defaultUser)
	a.Describe(&c.Password, "The password we should use for the connection.")
	a.Describe(&c.Host, "The address of the resource to connect to.")
	a.Describe(&c.Port, "The port to connect to. Defaults to 22.")
	a.SetDefault(&c.Port, defaultPort)
	a.Describe(&c.PrivateKey, "The contents of an SSH key to use for the connection. This takes preference over the password if provided.")
	a.Describe(&c.PrivateKeyPassword, "The password to use in case the private key is encrypted.")
	a.Describe(&c.AgentSocketPath, "SSH Agent socket path. Default to environment variable SSH_AUTH_SOCK if present.")
	a.Describe(&c.DialErrorLimit, "Max allowed errors on trying to dial the remote host. -1 set count to unlimited. Default value is 10.")
	a.SetDefault(&c.DialErrorLimit, defaultDialErrorLimit)
	a.Describe(&c.PerDialTimeout, "Max number of seconds for each dial attempt. 0 implies no maximum. Default value is 15 seconds.")
	a.SetDefault(&c.PerDialTimeout, defaultPerDialTimeout)
	a.Describe(&c.HostKey, "The expected host key to verify the server's identity. If provided, the connection will only proceed if the server's host key matches. Format: the public key line as in authorized_keys, e.g. 'ssh-ed25519 AAAA...'.")
	a.Describe(&c.Proxy, "The connection settings for the bastion/proxy host.")
}

func (c *ProxyConnection) Annotate(a infer.Annotator) {
	a.Describe(&c, "Instructions for how to connect to a remote endpoint via a bastion host.")
	a.Describe(&c.User, "The user that we should use for the connection to the bastion host.")
	a.SetDefault(&c.User, defaultUser)
	a.Describe(&c.Password, "The password we should use for the connection to the bastion host.")
	a.Describe(&c.Host, "The address of the bastion host to connect to.")
	a.Describe(&c.Port, "The port of the bastion host to connect to.")
	a.SetDefault(&c.Port, defaultPort)
	a.Describe(&c.PrivateKey, "The contents of an SSH key to use for the connection. This takes preference over the password if provided.")
	a.Describe(&c.PrivateKeyPassword, "The password to use in case the private key is encrypted.")
	a.Describe(&c.AgentSocketPath, "SSH Agent socket path. Default to environment variable SSH_AUTH_SOCK if present.")
	a.Describe(&c.DialErrorLimit, "Max allowed errors on trying to dial the remote host. -1 set count to unlimited. Default value is 10.")
	a.SetDefault(&c.DialErrorLimit, defaultDialErrorLimit)
	a.Describe(&c.PerDialTimeout, "Max number of seconds for each dial attempt. 0 implies no maximum. Default value is 15 seconds.")
	a.SetDefault(&c.PerDialTimeout, defaultPerDialTimeout)
	a.Describe(&c.HostKey, "The expected host key to verify the bastion's identity, in authorized_keys format.")
}

// endpoint is one SSH server to log in to, with every default resolved.
type endpoint struct {
	role               string // "" for the target, "proxy" for the bastion; used in messages
	host               string
	port               int
	user               string
	password           *string
	privateKey         *string
	privateKeyPassword *string
	agentSocketPath    *string
	dialErrorLimit     int
	perDialTimeout     time.Duration
	hostKey            *string
}

func (e endpoint) address() string { return net.JoinHostPort(e.host, strconv.Itoa(e.port)) }

func (e endpoint) name() string {
	if e.role == "" {
		return e.address()
	}
	return e.role + " " + e.address()
}

func orDefault[T any](v *T, d T) T {
	if v == nil {
		return d
	}
	return *v
}

func (c Connection) target() endpoint {
	return endpoint{
		host:               c.Host,
		port:               int(orDefault(c.Port, defaultPort)),
		user:               orDefault(c.User, defaultUser),
		password:           c.Password,
		privateKey:         c.PrivateKey,
		privateKeyPassword: c.PrivateKeyPassword,
		agentSocketPath:    c.AgentSocketPath,
		dialErrorLimit:     orDefault(c.DialErrorLimit, defaultDialErrorLimit),
		perDialTimeout:     time.Duration(orDefault(c.PerDialTimeout, defaultPerDialTimeout)) * time.Second,
		hostKey:            c.HostKey,
	}
}

func (c ProxyConnection) endpoint() endpoint {
	return endpoint{
		role:               "proxy",
		host:               c.Host,
		port:               int(orDefault(c.Port, defaultPort)),
		user:               orDefault(c.User, defaultUser),
		password:           c.Password,
		privateKey:         c.PrivateKey,
		privateKeyPassword: c.PrivateKeyPassword,
		agentSocketPath:    c.AgentSocketPath,
		dialErrorLimit:     orDefault(c.DialErrorLimit, defaultDialErrorLimit),
		perDialTimeout:     time.Duration(orDefault(c.PerDialTimeout, defaultPerDialTimeout)) * time.Second,
		hostKey:            c.HostKey,
	}
}

// HostKeyMismatchError is returned when the server presents a key other than connection.hostKey.
// It is not retried: another attempt meets the same key.
type HostKeyMismatchError struct {
	Endpoint string
	Want     ssh.PublicKey
	Got      ssh.PublicKey
}

func (e *HostKeyMismatchError) Error() string {
	return fmt.Sprintf("host key mismatch for %s: hostKey pins %s %s, but the server presented %s %s; refusing to connect",
		e.Endpoint, e.Want.Type(), ssh.FingerprintSHA256(e.Want), e.Got.Type(), ssh.FingerprintSHA256(e.Got))
}

// permanentError marks a dial error that retrying cannot fix.
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// hostKeyAlgorithms are the signature algorithms that can prove possession of a key of type keyType.
func hostKeyAlgorithms(keyType string) []string {
	switch keyType {
	case ssh.KeyAlgoRSA:
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	case ssh.CertAlgoRSAv01:
		return []string{ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01, ssh.CertAlgoRSAv01}
	default:
		return []string{keyType}
	}
}

// clientConfig builds the SSH client configuration of e. The returned cleanup closes the agent
// connection, if one was opened.
func (e endpoint) clientConfig(ctx context.Context) (*ssh.ClientConfig, func(), error) {
	cleanup := func() {}
	cfg := &ssh.ClientConfig{User: e.user, Timeout: e.perDialTimeout}

	if e.hostKey != nil && strings.TrimSpace(*e.hostKey) != "" {
		want, _, _, _, err := ssh.ParseAuthorizedKey([]byte(*e.hostKey))
		if err != nil {
			return nil, cleanup, fmt.Errorf("%s: hostKey is not a public key in authorized_keys format: %w", e.name(), err)
		}
		cfg.HostKeyAlgorithms = hostKeyAlgorithms(want.Type())
		cfg.HostKeyCallback = func(_ string, _ net.Addr, got ssh.PublicKey) error {
			if bytes.Equal(got.Marshal(), want.Marshal()) {
				return nil
			}
			return &HostKeyMismatchError{Endpoint: e.name(), Want: want, Got: got}
		}
	} else {
		cfg.HostKeyCallback = func(_ string, _ net.Addr, got ssh.PublicKey) error {
			// Accepted, as the official provider does without hostKey; but said out loud.
			p.GetLogger(ctx).Warningf("%s: hostKey is not set, so the host key is not verified (accepted %s %s)",
				e.name(), got.Type(), ssh.FingerprintSHA256(got))
			return nil
		}
	}

	// Order as in the official provider: private key, then password (also answering keyboard-interactive),
	// then the agent's keys.
	if e.privateKey != nil {
		var signer ssh.Signer
		var err error
		if e.privateKeyPassword != nil {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(*e.privateKey), []byte(*e.privateKeyPassword))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(*e.privateKey))
		}
		if err != nil {
			// The parser's message never contains key material.
			return nil, cleanup, fmt.Errorf("%s: privateKey: %w", e.name(), err)
		}
		cfg.Auth = append(cfg.Auth, ssh.PublicKeys(signer))
	}
	if e.password != nil {
		password := *e.password
		cfg.Auth = append(cfg.Auth, ssh.Password(password),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = password
				}
				return answers, nil
			}))
	}
	socket, fromEnv := "", false
	if e.agentSocketPath != nil && *e.agentSocketPath != "" {
		socket = *e.agentSocketPath
	} else if s := os.Getenv("SSH_AUTH_SOCK"); s != "" {
		socket, fromEnv = s, true
	}
	if socket != "" {
		conn, err := net.Dial("unix", socket)
		switch {
		case err == nil:
			cleanup = func() { _ = conn.Close() }
			cfg.Auth = append(cfg.Auth, ssh.PublicKeysCallback(agent.NewClient(conn).Signers))
		case fromEnv && len(cfg.Auth) > 0:
			// The official provider fails here; a stale SSH_AUTH_SOCK in the environment should not
			// break a connection that brings its own credentials.
			p.GetLogger(ctx).Warningf("%s: ignoring the SSH agent at SSH_AUTH_SOCK=%s: %v", e.name(), socket, err)
		default:
			return nil, cleanup, fmt.Errorf("%s: cannot reach the SSH agent at %s: %w", e.name(), socket, err)
		}
	}
	return cfg, cleanup, nil
}

// withRetry calls f until it succeeds, fails permanently, or has failed more than limit times
// (limit -1: no limit), as the official provider counts dialErrorLimit.
func withRetry[T any](ctx context.Context, what string, limit int, f func() (T, error)) (T, error) {
	var zero T
	delay := 100 * time.Millisecond
	for failures := 1; ; failures++ {
		v, err := f()
		if err == nil {
			return v, nil
		}
		var permanent permanentError
		if errors.As(err, &permanent) {
			return zero, permanent.error
		}
		if limit >= 0 && failures > limit {
			return zero, fmt.Errorf("%s: after %d failed attempts: %w", what, failures, err)
		}
		of := "inf"
		if limit >= 0 {
			of = strconv.Itoa(limit)
		}
		p.GetLogger(ctx).InfoStatusf("%s %d/%s failed: retrying (%v)", what, failures, of, err)
		select {
		case <-ctx.Done():
			return zero, fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(delay*3/2, 5*time.Second)
	}
}

// handshake runs the SSH client handshake of e over conn, bounded by perDialTimeout. It closes conn
// when it fails.
func (e endpoint) handshake(conn net.Conn, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	// Pin the callback's verdict for this attempt, since the handshake error only wraps it.
	var mismatch *HostKeyMismatchError
	attempt := *cfg
	attempt.HostKeyCallback = func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := cfg.HostKeyCallback(hostname, remote, key)
		errors.As(err, &mismatch)
		return err
	}
	if e.perDialTimeout > 0 {
		timer := time.AfterFunc(e.perDialTimeout, func() { _ = conn.Close() })
		defer timer.Stop()
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, e.address(), &attempt)
	if err != nil {
		_ = conn.Close()
		if mismatch != nil {
			return nil, permanentError{mismatch}
		}
		if len(cfg.HostKeyAlgorithms) > 0 && strings.Contains(err.Error(), "no common algorithm for host key") {
			return nil, permanentError{fmt.Errorf("%s: the server has no host key of the type hostKey pins (%s): %w",
				e.name(), strings.Join(cfg.HostKeyAlgorithms, ", "), err)}
		}
		return nil, fmt.Errorf("%s: %w", e.name(), err)
	}
	return ssh.NewClient(c, chans, reqs), nil
}

// dialDirect opens a TCP connection to e and logs in.
func (e endpoint) dialDirect(ctx context.Context, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	d := net.Dialer{Timeout: e.perDialTimeout}
	conn, err := d.DialContext(ctx, "tcp", e.address())
	if err != nil {
		return nil, err
	}
	return e.handshake(conn, cfg)
}

// dialThrough asks the proxy's sshd to open a direct-tcpip channel to e and logs in over it. The host
// string goes to the proxy unchanged, so the proxy resolves names and scoped IPv6 link-local addresses
// (fe80::1%usb0) by its own interfaces.
func (e endpoint) dialThrough(ctx context.Context, proxy *ssh.Client, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	dctx := ctx
	if e.perDialTimeout > 0 {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(ctx, e.perDialTimeout)
		defer cancel()
	}
	conn, err := proxy.DialContext(dctx, "tcp", e.address())
	if err != nil {
		return nil, fmt.Errorf("proxy could not reach %s: %w", e.address(), err)
	}
	return e.handshake(conn, cfg)
}

// Dial logs in to the connection's host, through its proxy if it has one. The returned client closes
// the proxy's client with it.
func (c Connection) Dial(ctx context.Context) (*Client, error) {
	target := c.target()
	cfg, cleanup, err := target.clientConfig(ctx)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	if c.Proxy == nil {
		client, err := withRetry(ctx, "Dial", target.dialErrorLimit, func() (*ssh.Client, error) {
			return target.dialDirect(ctx, cfg)
		})
		if err != nil {
			return nil, err
		}
		return &Client{Client: client}, nil
	}

	proxy := c.Proxy.endpoint()
	pcfg, pcleanup, err := proxy.clientConfig(ctx)
	if err != nil {
		return nil, err
	}
	defer pcleanup()
	proxyClient, err := withRetry(ctx, "Dial proxy", proxy.dialErrorLimit, func() (*ssh.Client, error) {
		return proxy.dialDirect(ctx, pcfg)
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	client, err := withRetry(ctx, "Dial from proxy", target.dialErrorLimit, func() (*ssh.Client, error) {
		return target.dialThrough(ctx, proxyClient, cfg)
	})
	if err != nil {
		_ = proxyClient.Close()
		return nil, err
	}
	return &Client{Client: client, proxy: proxyClient}, nil
}

// Client is a logged-in SSH client, and the proxy's client it runs over, if any.
type Client struct {
	*ssh.Client
	proxy *ssh.Client
}

func (c *Client) Close() error {
	err := c.Client.Close()
	if c.proxy != nil {
		_ = c.proxy.Close()
	}
	return err
}
