package remote_test

// The tests talk to real OpenSSH servers in throwaway network namespaces:
//
//	NC (this test binary, re-executed inside it)  --veth 10.231.0.1 <-> 10.231.0.2-->  NA (sshd "A")
//	NA  --veth usb-test0 fe80::1 <-> fe80::2-->  NB (sshd "B", the target behind A)
//
// The outer process (TestMain in the root namespace) only creates the namespaces and the veths, created
// directly inside them; it never touches an interface of the root namespace. It then re-runs itself in
// NC with `ip netns exec`, and deletes the namespaces afterwards. The interface usb-test0 exists only in
// NA, so the scoped address fe80::2%usb-test0 can be reached only when the proxy resolves it.
//
// Needs root, ip(8) and /usr/sbin/sshd; otherwise the SSH tests skip with the reason.

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

const innerEnv = "K3OU_PROVIDER_TEST_NETNS" // "NC NA NB" when running inside NC

var (
	skipReason string
	nsC        string
	nsA        string
	nsB        string
	// Filled in inside NC by startServers.
	env *testEnv
)

type testEnv struct {
	dir           string
	clientKey     string // OpenSSH private key of the client, PEM
	hostKeyA      string // authorized_keys line of A's host key
	hostKeyB      string
	addrA         string // A as seen from NC
	linkLocalB    string // B as seen from A: fe80::2%usb-test0
	sftpStartDirA string // A's sftp-server resolves relative paths here
}

func TestMain(m *testing.M) {
	if names := os.Getenv(innerEnv); names != "" {
		f := strings.Fields(names)
		nsC, nsA, nsB = f[0], f[1], f[2]
		stop, err := startServers()
		if err != nil {
			fmt.Fprintf(os.Stderr, "starting the test sshds: %v\n", err)
			stop()
			os.Exit(1)
		}
		code := m.Run()
		stop()
		os.Exit(code)
	}
	if reason := prerequisites(); reason != "" {
		skipReason = reason
		os.Exit(m.Run())
	}
	os.Exit(runInNamespaces())
}

func prerequisites() string {
	if os.Geteuid() != 0 {
		return "needs root for network namespaces"
	}
	for _, bin := range []string{"ip", "/usr/sbin/sshd", "/usr/lib/openssh/sftp-server"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Sprintf("needs %s: %v", bin, err)
		}
	}
	return ""
}

func needSSH(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// runInNamespaces builds the namespaces, re-runs the test binary in NC and removes them again.
func runInNamespaces() int {
	id := fmt.Sprintf("k3ou-provtest-%d", os.Getpid())
	c, a, b := id+"-c", id+"-a", id+"-b"
	var once sync.Once
	cleanup := func() {
		once.Do(func() {
			for _, ns := range []string{c, a, b} {
				_ = run("ip", "netns", "del", ns)
			}
		})
	}
	defer cleanup()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sigs; cleanup(); os.Exit(2) }()

	steps := [][]string{
		{"ip", "netns", "add", c}, {"ip", "netns", "add", a}, {"ip", "netns", "add", b},
		{"ip", "-n", c, "link", "set", "lo", "up"},
		{"ip", "-n", a, "link", "set", "lo", "up"},
		{"ip", "-n", b, "link", "set", "lo", "up"},
		// Each veth is created directly inside its two namespaces.
		{"ip", "link", "add", "name", "to-a", "netns", c, "type", "veth", "peer", "name", "to-c", "netns", a},
		{"ip", "-n", c, "addr", "add", "10.231.0.1/30", "dev", "to-a"},
		{"ip", "-n", a, "addr", "add", "10.231.0.2/30", "dev", "to-c"},
		{"ip", "-n", c, "link", "set", "to-a", "up"},
		{"ip", "-n", a, "link", "set", "to-c", "up"},
		{"ip", "link", "add", "name", "usb-test0", "netns", a, "type", "veth", "peer", "name", "usb0", "netns", b},
		{"ip", "-n", a, "addr", "add", "fe80::1/64", "dev", "usb-test0", "nodad"},
		{"ip", "-n", b, "addr", "add", "fe80::2/64", "dev", "usb0", "nodad"},
		{"ip", "-n", a, "link", "set", "usb-test0", "up"},
		{"ip", "-n", b, "link", "set", "usb0", "up"},
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", c, self}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), innerEnv+"="+c+" "+a+" "+b)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		if exit, ok := err.(*exec.ExitError); ok {
			return exit.ExitCode()
		}
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func newKey() (ed25519.PrivateKey, ssh.PublicKey, []byte) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "k3ou-provtest")
	if err != nil {
		panic(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return priv, sshPub, pem.EncodeToMemory(block)
}

func authorizedLine(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

// startServers starts sshd A in NA and sshd B in NB, both as root with a temporary config, host key
// and authorized key, and waits until both listen. stop kills them (by process group id) and removes
// the temporary files.
func startServers() (stop func(), err error) {
	dir, err := os.MkdirTemp("", "k3ou-provtest-")
	if err != nil {
		return func() {}, err
	}
	var procs []*exec.Cmd
	stop = func() {
		for _, p := range procs {
			_ = syscall.Kill(-p.Process.Pid, syscall.SIGTERM)
			_ = p.Wait()
		}
		_ = os.RemoveAll(dir)
	}
	// sshd insists on its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return stop, err
	}
	_, clientPub, clientPEM := newKey()
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), []byte(authorizedLine(clientPub)+"\n"), 0o600); err != nil {
		return stop, err
	}
	e := &testEnv{dir: dir, clientKey: string(clientPEM), addrA: "10.231.0.2", linkLocalB: "fe80::2%usb-test0"}
	e.sftpStartDirA = filepath.Join(dir, "home-a")
	if err := os.MkdirAll(e.sftpStartDirA, 0o755); err != nil {
		return stop, err
	}
	for _, s := range []struct {
		name, ns string
		hostKey  *string
	}{{"a", nsA, &e.hostKeyA}, {"b", nsB, &e.hostKeyB}} {
		_, hostPub, hostPEM := newKey()
		*s.hostKey = authorizedLine(hostPub)
		keyFile := filepath.Join(dir, "host-"+s.name)
		if err := os.WriteFile(keyFile, hostPEM, 0o600); err != nil {
			return stop, err
		}
		sftp := "/usr/lib/openssh/sftp-server"
		if s.name == "a" {
			sftp += " -d " + e.sftpStartDirA
		}
		config := strings.Join([]string{
			"Port 22",
			"ListenAddress 0.0.0.0",
			"ListenAddress ::",
			"HostKey " + keyFile,
			"PidFile none",
			"AuthorizedKeysFile " + filepath.Join(dir, "authorized_keys"),
			"StrictModes no",
			"UsePAM no",
			"PasswordAuthentication no",
			"KbdInteractiveAuthentication no",
			"PermitRootLogin prohibit-password",
			"AllowTcpForwarding yes",
			"AcceptEnv K3OU_OK PULUMI_COMMAND_STDOUT PULUMI_COMMAND_STDERR",
			"Subsystem sftp " + sftp,
			"LogLevel INFO",
			"",
		}, "\n")
		configFile := filepath.Join(dir, "sshd_config-"+s.name)
		if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
			return stop, err
		}
		cmd := exec.Command("ip", "netns", "exec", s.ns, "/usr/sbin/sshd", "-D", "-e", "-f", configFile)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		stderr, err := cmd.StderrPipe()
		if err != nil {
			return stop, err
		}
		if err := cmd.Start(); err != nil {
			return stop, err
		}
		procs = append(procs, cmd)
		if err := waitListening(s.name, stderr); err != nil {
			return stop, err
		}
	}
	env = e
	return stop, nil
}

// waitListening reads sshd's log until it reports a listening socket, then keeps draining it.
func waitListening(name string, r io.Reader) error {
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(r)
		var log []string
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			if os.Getenv("K3OU_PROVIDER_TEST_SSHD_LOG") != "" {
				fmt.Fprintf(os.Stderr, "sshd-%s: %s\n", name, line)
			}
			if !signalled {
				log = append(log, line)
				if strings.Contains(line, "Server listening on") {
					signalled = true
					ready <- nil
				}
			}
		}
		if !signalled {
			ready <- fmt.Errorf("sshd %s exited: %s", name, strings.Join(log, "\n"))
		}
	}()
	select {
	case err := <-ready:
		// Both address families: give the second socket a moment.
		time.Sleep(200 * time.Millisecond)
		return err
	case <-time.After(20 * time.Second):
		return fmt.Errorf("sshd %s did not start listening in 20 s", name)
	}
}

func rsaPublicLine(t *testing.T) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return authorizedLine(pub)
}

// closedAddr is an address in NC where nothing listens, for the retry test.
func closedAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}
