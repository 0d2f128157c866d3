package main

import (
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReadyFollowsHeartbeatAge(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		age  time.Duration
		want string
	}{{0, "True"}, {39 * time.Second, "True"}, {40 * time.Second, "Unknown"}, {time.Hour, "Unknown"}}
	for _, c := range cases {
		if got := readyCondition(t0, t0.Add(c.age)).Status; got != c.want {
			t.Errorf("heartbeat %v old: Ready=%s, want %s", c.age, got, c.want)
		}
	}
}

func TestNodePasswordSemantics(t *testing.T) {
	s, err := openStore(filepath.Join(t.TempDir(), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	join := func(pw string) error {
		return s.register(joinRequest{Name: "one6t", IP: "10.0.1.2", Password: pw}, "", now)
	}
	if err := join("first"); err != nil {
		t.Fatal(err)
	}
	if err := join("first"); err != nil {
		t.Fatalf("the same password must rejoin: %v", err)
	}
	if err := join("second"); !errors.Is(err, errPasswordMismatch) {
		t.Fatalf("another password for the same name: got %v", err)
	}
	if err := s.heartbeat("one6t", "second", now); !errors.Is(err, errPasswordMismatch) {
		t.Fatalf("heartbeat with another password: got %v", err)
	}
	// k3s's node controller deletes the node-password secret with the node.
	if err := s.deleteNode("one6t"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.secret(passwordSecretName("one6t")); ok {
		t.Fatal("the secret survived the node's deletion")
	}
	if err := join("second"); err != nil {
		t.Fatalf("after deletion a new password must be accepted: %v", err)
	}
	// Deleting only the secret also frees the name (the program deletes both).
	if err := s.deleteSecret(passwordSecretName("one6t")); err != nil {
		t.Fatal(err)
	}
	if err := join("third"); err != nil {
		t.Fatalf("after the secret's deletion: %v", err)
	}
	if err := s.deleteSecret("nope"); !errors.Is(err, errNotFound) {
		t.Fatalf("deleting a missing secret: %v", err)
	}
}

func TestStateSurvivesRestartAndHidesPasswords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s, _ := openStore(path)
	now := time.Now()
	if err := s.register(joinRequest{Name: "laptop", IP: "10.0.0.1", Password: "pw", Taints: []taint{{Key: "a", Effect: "NoSchedule"}}}, "control-plane", now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.setUnschedulable("laptop", true); err != nil {
		t.Fatal(err)
	}
	s2, err := openStore(path)
	if err != nil {
		t.Fatal(err)
	}
	n, ok := s2.node("laptop", now)
	if !ok {
		t.Fatal("node lost")
	}
	if n.Metadata.Labels["node-role.kubernetes.io/control-plane"] != "true" || n.Metadata.Labels["kubernetes.io/hostname"] != "laptop" {
		t.Errorf("labels: %v", n.Metadata.Labels)
	}
	if !n.Spec.Unschedulable || len(n.Spec.Taints) != 2 || n.Spec.Taints[1].Key != "node.kubernetes.io/unschedulable" {
		t.Errorf("spec: %+v", n.Spec)
	}
	if n.Status.Addresses[0] != (nodeAddress{Type: "InternalIP", Address: "10.0.0.1"}) {
		t.Errorf("addresses: %+v", n.Status.Addresses)
	}
	sec, ok := s2.secret("laptop.node-password.k3s")
	if !ok || strings.Contains(sec.Data["hash"], "pw") {
		t.Errorf("secret: %+v", sec)
	}
}

func TestTokens(t *testing.T) {
	ca := []byte("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n")
	full := nodeToken(ca, "s3cret")
	if !strings.HasPrefix(full, "K10") || !strings.HasSuffix(full, "::server:s3cret") || len(full) != 3+64+len("::server:s3cret") {
		t.Fatalf("node-token %q", full)
	}
	tok, err := parseToken(full + "\n")
	if err != nil || tok.Secret != "s3cret" || tok.CAHash != caHash(ca) {
		t.Fatalf("parse %q: %+v %v", full, tok, err)
	}
	tok, err = parseToken("plain-token")
	if err != nil || tok.Secret != "plain-token" || tok.CAHash != "" {
		t.Fatalf("plain: %+v %v", tok, err)
	}
	for _, bad := range []string{"", "K10abc::server:x", "K10" + strings.Repeat("a", 64) + "::node:x"} {
		if _, err := parseToken(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if !sameSecret("a", "a") || sameSecret("a", "b") {
		t.Error("sameSecret")
	}
}

func TestBootstrapTokenIsKeptAndChecked(t *testing.T) {
	dir := t.TempDir()
	ca := []byte("ca")
	got, err := bootstrapToken("", dir, ca)
	if err != nil || len(got) != 32 {
		t.Fatalf("generated %q %v", got, err)
	}
	if again, _ := bootstrapToken("", dir, ca); again != got {
		t.Fatal("a generated token must be kept")
	}
	if _, err := bootstrapToken("other", dir, ca); err == nil || !strings.Contains(err.Error(), "different token") {
		t.Fatalf("a changed token: %v", err)
	}
	if same, err := bootstrapToken(nodeToken(ca, got), dir, ca); err != nil || same != got {
		t.Fatalf("the K10 form of the same token: %q %v", same, err)
	}
	if _, err := bootstrapToken(nodeToken([]byte("other ca"), got), dir, ca); err == nil {
		t.Fatal("a K10 token for another CA was accepted")
	}
}

func TestSdNotifyTellsSystemdReady(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	sdNotify("READY=1")
	buf := make([]byte, 64)
	_ = l.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := l.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("got %q %v", buf[:n], err)
	}
}
