package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// fileRoot prefixes the config file and token file paths in unit tests; it is empty in the binary.
var fileRoot string

func rooted(p string) string {
	if fileRoot == "" || !filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(fileRoot, p)
}

// logger writes lines shaped like k3s's logrus output (time="..." level=info msg="..."), so the
// lab's log assertions and a human reading /var/log/k3s-agent.log see the familiar format.
type logger struct{ w io.Writer }

func (l logger) log(level, format string, a ...any) {
	fmt.Fprintf(l.w, "time=%q level=%s msg=%q\n", time.Now().Format(time.RFC3339), level, fmt.Sprintf(format, a...))
}

func (l logger) Infof(format string, a ...any)  { l.log("info", format, a...) }
func (l logger) Warnf(format string, a ...any)  { l.log("warning", format, a...) }
func (l logger) Errorf(format string, a ...any) { l.log("error", format, a...) }
func (l logger) Fatalf(format string, a ...any) { l.log("fatal", format, a...) }

// Write lets net/http report TLS handshake failures in the same format.
func (l logger) Write(p []byte) (int, error) {
	l.log("warning", "%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// writeFileAtomic replaces path in one rename, so a reader (the install step's kubeconfig cat, an
// agent restarting) never sees half a file, and sets the mode explicitly rather than via umask.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

// ensureNodePassword returns the node password k3s keeps in /etc/rancher/node/password, creating it
// once. The server remembers a hash of it per node name, which is what makes a second machine
// claiming the same name fail with "Node password rejected".
func ensureNodePassword() (string, error) {
	path := "/etc/rancher/node/password"
	if b, err := os.ReadFile(path); err == nil {
		pw := strings.TrimSpace(string(b))
		if pw == "" {
			return "", fmt.Errorf("%s is empty; delete it so a new one is created", path)
		}
		return pw, nil
	} else if !os.IsNotExist(err) {
		return "", err
	}
	pw := randomHex(16)
	if err := writeFileAtomic(path, []byte(pw+"\n"), 0o600); err != nil {
		return "", err
	}
	return pw, nil
}

func hasLocalAddress(ip net.IP) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}

// checkNodeNetwork fails like a real node fails at start: flannel exits when its interface is
// missing, and a node-ip that is not on the host cannot be advertised.
func checkNodeNetwork(nodeIP, iface string) error {
	if iface != "" {
		if _, err := net.InterfaceByName(iface); err != nil {
			return fmt.Errorf("flannel: unable to find interface %s (flannel-iface): %v", iface, err)
		}
	}
	if nodeIP != "" && !hasLocalAddress(net.ParseIP(nodeIP)) {
		return fmt.Errorf("node-ip %s is not an address of this host", nodeIP)
	}
	return nil
}

// sdNotify tells systemd the service is up; the install script writes Type=notify units as real
// k3s's does, and systemd would otherwise wait for this message forever (TimeoutStartSec=0).
func sdNotify(state string) {
	sock := os.Getenv("NOTIFY_SOCKET")
	if sock == "" {
		return
	}
	conn, err := net.Dial("unixgram", sock)
	if err != nil {
		return
	}
	defer conn.Close()
	_, _ = conn.Write([]byte(state))
}
