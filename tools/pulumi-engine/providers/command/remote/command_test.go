package remote_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blang/semver"
	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/integration"
	presource "github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"k3s-over-usb/tools/pulumi-engine/providers/command"
	"k3s-over-usb/tools/pulumi-engine/providers/command/remote"
)

// val turns plain Go values into property values (numbers as float64, as the engine sends them).
func val(v any) property.Value {
	switch v := v.(type) {
	case property.Value:
		return v
	case string:
		return property.New(v)
	case int:
		return property.New(float64(v))
	case bool:
		return property.New(v)
	case map[string]any:
		m := map[string]property.Value{}
		for k, x := range v {
			m[k] = val(x)
		}
		return property.New(property.NewMap(m))
	case []any:
		a := make([]property.Value, len(v))
		for i, x := range v {
			a[i] = val(x)
		}
		return property.New(property.NewArray(a))
	}
	panic(fmt.Sprintf("val: %T", v))
}

func obj(v map[string]any) property.Map { return val(v).AsMap() }

// connA is a connection to sshd A with its host key pinned.
func connA() map[string]any {
	return map[string]any{
		"host": env.addrA, "port": 22, "user": "root", "privateKey": env.clientKey,
		"hostKey": env.hostKeyA, "dialErrorLimit": 2, "perDialTimeout": 5,
	}
}

// connB reaches sshd B at its scoped link-local address, through A.
func connB() map[string]any {
	return map[string]any{
		"host": env.linkLocalB, "user": "root", "privateKey": env.clientKey, "hostKey": env.hostKeyB,
		"dialErrorLimit": 2, "perDialTimeout": 5,
		"proxy": connA(),
	}
}

type server struct {
	t *testing.T
	s integration.Server
}

func newServer(t *testing.T) server {
	t.Helper()
	needSSH(t)
	prov, err := command.New()
	if err != nil {
		t.Fatal(err)
	}
	s, err := integration.NewServer(t.Context(), "command", semver.MustParse("1.2.1"), integration.WithProvider(prov))
	if err != nil {
		t.Fatal(err)
	}
	return server{t, s}
}

func urn(typ, name string) presource.URN {
	return presource.URN("urn:pulumi:test::k3ou-provtest::" + typ + "::" + name)
}

// wire sends m through the gRPC encoding, as between engine and provider: assets that infer encodes
// as plain objects come back as assets, as they do for the real engine.
func wire(t *testing.T, m property.Map) property.Map {
	t.Helper()
	opts := plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, KeepResources: true}
	st, err := plugin.MarshalProperties(presource.ToResourcePropertyValue(property.New(m)).ObjectValue(), opts)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := plugin.UnmarshalProperties(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	return presource.FromResourcePropertyValue(presource.NewProperty(pm)).AsMap()
}

func (s server) check(u presource.URN, inputs map[string]any) property.Map {
	s.t.Helper()
	resp, err := s.s.Check(p.CheckRequest{Urn: u, Inputs: obj(inputs)})
	if err != nil {
		s.t.Fatalf("check: %v", err)
	}
	if len(resp.Failures) > 0 {
		s.t.Fatalf("check failures: %+v", resp.Failures)
	}
	return wire(s.t, resp.Inputs)
}

func (s server) create(u presource.URN, inputs property.Map) (string, property.Map) {
	s.t.Helper()
	resp, err := s.s.Create(p.CreateRequest{Urn: u, Properties: inputs})
	if err != nil {
		s.t.Fatalf("create: %v", err)
	}
	return resp.ID, wire(s.t, resp.Properties)
}

func (s server) diff(u presource.URN, id string, state, olds, news property.Map) p.DiffResponse {
	s.t.Helper()
	resp, err := s.s.Diff(p.DiffRequest{ID: id, Urn: u, State: state, OldInputs: olds, Inputs: news})
	if err != nil {
		s.t.Fatalf("diff: %v", err)
	}
	return resp
}

func (s server) update(u presource.URN, id string, state, olds, news property.Map) property.Map {
	s.t.Helper()
	resp, err := s.s.Update(p.UpdateRequest{ID: id, Urn: u, State: state, OldInputs: olds, Inputs: news})
	if err != nil {
		s.t.Fatalf("update: %v", err)
	}
	return wire(s.t, resp.Properties)
}

func readLog(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}

func str(m property.Map, k string) string { return m.Get(k).AsString() }

func TestCommandLifecycle(t *testing.T) {
	s := newServer(t)
	u := urn("command:remote:Command", "life")
	log := filepath.Join(t.TempDir(), "log")
	in1 := map[string]any{
		"connection": connA(),
		"create":     fmt.Sprintf("echo create-1 >> %s; echo out-1; echo err-1 >&2", log),
		"delete":     fmt.Sprintf("echo delete-old >> %s", log),
		"triggers":   []any{"t1"},
	}

	// Preview runs nothing.
	checked1 := s.check(u, in1)
	if !checked1.Get("connection").Secret() {
		t.Errorf("connection is not secret after Check")
	}
	if _, err := s.s.Create(p.CreateRequest{Urn: u, Properties: checked1, DryRun: true}); err != nil {
		t.Fatal(err)
	}
	if got := readLog(t, log); got != "" {
		t.Fatalf("preview ran something: %q", got)
	}

	// Create runs create; one trailing newline trimmed.
	id, state1 := s.create(u, checked1)
	if !strings.HasPrefix(id, "life") || len(id) != len("life")+8 {
		t.Errorf("id %q is not the name plus 8 hex digits", id)
	}
	if got := readLog(t, log); got != "create-1\n" {
		t.Fatalf("after create, log = %q", got)
	}
	if str(state1, "stdout") != "out-1" || str(state1, "stderr") != "err-1" {
		t.Errorf("stdout/stderr = %q/%q", str(state1, "stdout"), str(state1, "stderr"))
	}

	// Same inputs: no changes.
	if d := s.diff(u, id, state1, checked1, s.check(u, in1)); d.HasChanges {
		t.Errorf("unchanged inputs diff: %+v", d)
	}

	// Changing create (not triggers) is an update that runs the new create, with the previous
	// output in PULUMI_COMMAND_STDOUT.
	in2 := map[string]any{
		"connection": connA(),
		"create":     fmt.Sprintf("echo create-2 prev=$PULUMI_COMMAND_STDOUT >> %s; echo out-2", log),
		"delete":     fmt.Sprintf("echo delete-new >> %s", log),
		"triggers":   []any{"t1"},
	}
	checked2 := s.check(u, in2)
	d := s.diff(u, id, state1, checked1, checked2)
	if !d.HasChanges {
		t.Fatalf("create changed but no diff")
	}
	for k, pd := range d.DetailedDiff {
		if pd.Kind != p.Update {
			t.Errorf("%s: %s, want update", k, pd.Kind)
		}
	}
	state2 := s.update(u, id, state1, checked1, checked2)
	if got := readLog(t, log); got != "create-1\ncreate-2 prev=out-1\n" {
		t.Fatalf("after update, log = %q", got)
	}
	if str(state2, "stdout") != "out-2" {
		t.Errorf("stdout after update = %q", str(state2, "stdout"))
	}

	// With update set, an update runs update, not create.
	in3 := map[string]any{
		"connection": connA(), "create": in2["create"], "delete": in2["delete"], "triggers": []any{"t1"},
		"update": fmt.Sprintf("echo update-3 >> %s", log),
	}
	checked3 := s.check(u, in3)
	state3 := s.update(u, id, state2, checked2, checked3)
	if got := readLog(t, log); !strings.HasSuffix(got, "create-2 prev=out-1\nupdate-3\n") {
		t.Fatalf("after update with update set, log = %q", got)
	}

	// A connection change is an update too (new inputs, new connection).
	c4 := connA()
	c4["perDialTimeout"] = 6
	in4 := map[string]any{"connection": c4, "create": in2["create"], "delete": in2["delete"], "triggers": []any{"t1"}, "update": in3["update"]}
	checked4 := s.check(u, in4)
	d = s.diff(u, id, state3, checked3, checked4)
	if !d.HasChanges || d.DetailedDiff["connection"].Kind != p.Update {
		t.Errorf("connection change: %+v", d)
	}

	// Triggers changes replace.
	in5 := map[string]any{"connection": connA(), "create": in2["create"], "delete": in2["delete"], "triggers": []any{"t2"}, "update": in3["update"]}
	d = s.diff(u, id, state3, checked3, s.check(u, in5))
	replace := false
	for k, pd := range d.DetailedDiff {
		if strings.HasPrefix(k, "triggers") && (pd.Kind == p.UpdateReplace || pd.Kind == p.AddReplace || pd.Kind == p.DeleteReplace) {
			replace = true
		}
	}
	if !replace {
		t.Errorf("triggers change is not a replace: %+v", d)
	}

	// Delete runs the delete of the state, i.e. the one the resource was last created/updated with.
	if err := s.s.Delete(p.DeleteRequest{ID: id, Urn: u, Properties: state3, OldInputs: checked3}); err != nil {
		t.Fatal(err)
	}
	if got := readLog(t, log); !strings.HasSuffix(got, "update-3\ndelete-new\n") {
		t.Fatalf("after delete, log = %q", got)
	}
}

func TestCommandDeleteUsesOldConnection(t *testing.T) {
	s := newServer(t)
	u := urn("command:remote:Command", "oldconn")
	log := filepath.Join(t.TempDir(), "log")
	// The state says: through the proxy to B. Delete must go there, whatever the program says now.
	checked := s.check(u, map[string]any{
		"connection": connB(),
		"create":     "true",
		"delete":     fmt.Sprintf(`echo "deleted via $SSH_CONNECTION" >> %s`, log),
	})
	id, state := s.create(u, checked)
	if err := s.s.Delete(p.DeleteRequest{ID: id, Urn: u, Properties: state, OldInputs: checked}); err != nil {
		t.Fatal(err)
	}
	if got := readLog(t, log); !strings.Contains(got, "fe80::2") {
		t.Fatalf("delete did not run on B: %q", got)
	}
}

func TestStdinDeliveredNotEchoed(t *testing.T) {
	s := newServer(t)
	secret := "s3cret-" + fmt.Sprint(time.Now().UnixNano())
	u := urn("command:remote:Command", "stdin")
	_, state := s.create(u, s.check(u, map[string]any{
		"connection": connA(), "create": "read -r x; echo \"len=${#x}\"; [ \"$x\" = '" + secret + "' ] && echo same", "stdin": secret,
	}))
	if got := str(state, "stdout"); got != fmt.Sprintf("len=%d\nsame", len(secret)) {
		t.Fatalf("stdout = %q", got)
	}

	failing := "read -r x; echo consumed; echo oops >&2; exit 3"
	_, err := s.s.Create(p.CreateRequest{Urn: u, Properties: s.check(u, map[string]any{
		"connection": connA(), "create": failing, "stdin": secret,
	})})
	if err == nil {
		t.Fatal("failing command succeeded")
	}
	msg := err.Error()
	for _, want := range []string{"Process exited with status 3", fmt.Sprintf("running %q:\n", failing), "consumed", "oops"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, secret) {
		t.Errorf("error echoes stdin: %s", msg)
	}
}

func TestEnvironment(t *testing.T) {
	s := newServer(t)
	u := urn("command:remote:Command", "env")
	_, state := s.create(u, s.check(u, map[string]any{
		"connection": connA(), "create": "echo $K3OU_OK", "environment": map[string]any{"K3OU_OK": "accepted"},
	}))
	if got := str(state, "stdout"); got != "accepted" {
		t.Errorf("stdout = %q", got)
	}
	_, err := s.s.Create(p.CreateRequest{Urn: u, Properties: s.check(u, map[string]any{
		"connection": connA(), "create": "echo $NOT_ACCEPTED", "environment": map[string]any{"NOT_ACCEPTED": "x"},
	})})
	if err == nil || !strings.Contains(err.Error(), "refused to set NOT_ACCEPTED") || !strings.Contains(err.Error(), "AcceptEnv") {
		t.Errorf("refused Setenv: err = %v", err)
	}
}

func TestHostKeyMismatch(t *testing.T) {
	needSSH(t)
	c := remote.Connection{Host: env.addrA, PrivateKey: &env.clientKey, HostKey: &env.hostKeyB}
	start := time.Now()
	_, err := c.Dial(t.Context())
	var mismatch *remote.HostKeyMismatchError
	if !errors.As(err, &mismatch) {
		t.Fatalf("dial with the wrong host key: %v", err)
	}
	if !strings.Contains(err.Error(), "host key mismatch for 10.231.0.2:22") || !strings.Contains(err.Error(), "refusing to connect") {
		t.Errorf("message: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("a host key mismatch was retried (%s)", time.Since(start))
	}

	// Through the provider: the resource fails and nothing runs.
	s := newServer(t)
	u := urn("command:remote:Command", "mismatch")
	log := filepath.Join(t.TempDir(), "log")
	bad := connA()
	bad["hostKey"] = env.hostKeyB
	_, err = s.s.Create(p.CreateRequest{Urn: u, Properties: s.check(u, map[string]any{
		"connection": bad, "create": "echo ran >> " + log,
	})})
	if err == nil || !strings.Contains(err.Error(), "host key mismatch") {
		t.Errorf("create with the wrong host key: %v", err)
	}
	if readLog(t, log) != "" {
		t.Errorf("the command ran despite the mismatch")
	}
	// A key of another type than the server has is refused before any key is offered.
	rsaLine := rsaPublicLine(t)
	c = remote.Connection{Host: env.addrA, PrivateKey: &env.clientKey, HostKey: &rsaLine}
	if _, err := c.Dial(t.Context()); err == nil || !strings.Contains(err.Error(), "no host key of the type hostKey pins") {
		t.Errorf("dial pinning an RSA key at an ed25519-only server: %v", err)
	}
}

type capture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *capture) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(b)
}

func TestHostKeyUnsetWarns(t *testing.T) {
	needSSH(t)
	var out capture
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&out, nil)))
	defer slog.SetDefault(old)
	c := remote.Connection{Host: env.addrA, PrivateKey: &env.clientKey}
	client, err := c.Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_ = client.Close()
	out.mu.Lock()
	defer out.mu.Unlock()
	if !strings.Contains(out.buf.String(), "hostKey is not set, so the host key is not verified") {
		t.Errorf("no warning logged; log: %s", out.buf.String())
	}
}

func TestProxyScopedLinkLocal(t *testing.T) {
	s := newServer(t)
	u := urn("command:remote:Command", "proxy")
	_, state := s.create(u, s.check(u, map[string]any{"connection": connB(), "create": "echo $SSH_CONNECTION"}))
	// SSH_CONNECTION = client-ip client-port server-ip server-port, as B sees it.
	f := strings.Fields(str(state, "stdout"))
	if len(f) != 4 || !strings.HasPrefix(f[0], "fe80::") || !strings.HasPrefix(f[2], "fe80::2%") {
		t.Fatalf("not run on B over the link: SSH_CONNECTION=%q", str(state, "stdout"))
	}

	// Without the proxy the scoped address means nothing here: usb-test0 exists only in A's namespace.
	direct := connB()
	delete(direct, "proxy")
	direct["dialErrorLimit"] = 0
	_, err := s.s.Create(p.CreateRequest{Urn: u, Properties: s.check(u, map[string]any{"connection": direct, "create": "true"})})
	if err == nil {
		t.Fatal("the scoped address was reachable without the proxy; the test proves nothing")
	}

	// The proxy's host key is checked too.
	badProxy := connB()
	bp := connA()
	bp["hostKey"] = env.hostKeyB
	badProxy["proxy"] = bp
	_, err = s.s.Create(p.CreateRequest{Urn: u, Properties: s.check(u, map[string]any{"connection": badProxy, "create": "true"})})
	if err == nil || !strings.Contains(err.Error(), "host key mismatch for proxy 10.231.0.2:22") {
		t.Errorf("wrong proxy host key: %v", err)
	}
}

func TestDialRetries(t *testing.T) {
	needSSH(t)
	addr := closedAddr()
	host, port, _ := strings.Cut(addr, ":")
	var portNum float64
	fmt.Sscan(port, &portNum)
	limit, timeout := 2, 1
	c := remote.Connection{Host: host, Port: &portNum, PrivateKey: &env.clientKey, DialErrorLimit: &limit, PerDialTimeout: &timeout}
	_, err := c.Dial(t.Context())
	if err == nil || !strings.Contains(err.Error(), "after 3 failed attempts") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("dial of a closed port: %v", err)
	}
}

func TestCopyToRemote(t *testing.T) {
	s := newServer(t)
	u := urn("command:remote:CopyToRemote", "copy")
	src := filepath.Join(t.TempDir(), "payload.txt")
	if err := os.WriteFile(src, []byte("hello v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	asset := func() property.Value {
		a, err := presource.NewPathAsset(src)
		if err != nil {
			t.Fatal(err)
		}
		return property.New(a)
	}
	rel := fmt.Sprintf("stage-%d/sub/dir/payload.txt", time.Now().UnixNano())
	dest := filepath.Join(env.sftpStartDirA, rel) // relative to the login directory
	in := map[string]any{"connection": connA(), "source": asset(), "remotePath": rel, "triggers": []any{"k1"}}
	checked := s.check(u, in)

	if _, err := s.s.Create(p.CreateRequest{Urn: u, Properties: checked, DryRun: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dest); err == nil {
		t.Fatal("preview copied")
	}
	id, state := s.create(u, checked)
	if b, err := os.ReadFile(dest); err != nil || string(b) != "hello v1\n" {
		t.Fatalf("after create: %q, %v", b, err)
	}

	// A connection-only change updates state without copying.
	if err := os.WriteFile(dest, []byte("changed on the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c2 := connA()
	c2["perDialTimeout"] = 7
	in2 := map[string]any{"connection": c2, "source": asset(), "remotePath": rel, "triggers": []any{"k1"}}
	checked2 := s.check(u, in2)
	if d := s.diff(u, id, state, checked, checked2); !d.HasChanges {
		t.Fatalf("connection change: no diff")
	}
	state2 := s.update(u, id, state, checked, checked2)
	if b, _ := os.ReadFile(dest); string(b) != "changed on the host\n" {
		t.Errorf("a connection-only update copied again: %q", b)
	}

	// A new file content (hash) copies again.
	if err := os.WriteFile(src, []byte("hello v2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	in3 := map[string]any{"connection": c2, "source": asset(), "remotePath": rel, "triggers": []any{"k1"}}
	checked3 := s.check(u, in3)
	if d := s.diff(u, id, state2, checked2, checked3); !d.HasChanges {
		t.Fatalf("content change: no diff")
	}
	s.update(u, id, state2, checked2, checked3)
	if b, _ := os.ReadFile(dest); string(b) != "hello v2\n" {
		t.Errorf("after a content change: %q", b)
	}

	// Triggers replace.
	in4 := map[string]any{"connection": c2, "source": asset(), "remotePath": rel, "triggers": []any{"k2"}}
	d := s.diff(u, id, state2, checked3, s.check(u, in4))
	if pd, ok := d.DetailedDiff["triggers[0]"]; !ok || pd.Kind != p.UpdateReplace {
		t.Errorf("triggers change: %+v", d)
	}

	// No delete: the file stays.
	if err := s.s.Delete(p.DeleteRequest{ID: id, Urn: u, Properties: state2}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dest); err != nil {
		t.Errorf("delete removed the file: %v", err)
	}

	// An existing directory as remotePath receives the file under its own name.
	dirDest := filepath.Join(env.sftpStartDirA, fmt.Sprintf("dir-%d", time.Now().UnixNano()))
	if err := os.Mkdir(dirDest, 0o755); err != nil {
		t.Fatal(err)
	}
	s.create(u, s.check(u, map[string]any{"connection": connA(), "source": asset(), "remotePath": dirDest}))
	if b, err := os.ReadFile(filepath.Join(dirDest, "payload.txt")); err != nil || string(b) != "hello v2\n" {
		t.Errorf("copy into a directory: %q, %v", b, err)
	}

	// A StringAsset is copied too; an archive is refused at Check with a clear reason.
	text, err := presource.NewTextAsset("from a string\n")
	if err != nil {
		t.Fatal(err)
	}
	textDest := filepath.Join(dirDest, "text.txt")
	s.create(u, s.check(u, map[string]any{"connection": connA(), "source": property.New(text), "remotePath": textDest}))
	if b, _ := os.ReadFile(textDest); string(b) != "from a string\n" {
		t.Errorf("StringAsset copy: %q", b)
	}
	archive, err := presource.NewPathArchive(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.s.Check(p.CheckRequest{Urn: u, Inputs: obj(map[string]any{"connection": connA(), "source": property.New(archive), "remotePath": "x"})})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Failures) != 1 || !strings.Contains(resp.Failures[0].Reason, "archives") {
		t.Errorf("archive source: %+v", resp.Failures)
	}
}

func TestLogging(t *testing.T) {
	s := newServer(t)
	var out capture
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&out, nil)))
	defer slog.SetDefault(old)
	for _, c := range []struct {
		logging  string
		want     []string
		dontWant []string
	}{
		{"none", nil, []string{"out-none", "err-none"}},
		{"stderr", []string{"err-stderr"}, []string{"out-stderr"}},
		{"stdout", []string{"out-stdout"}, []string{"err-stdout"}},
		{"stdoutAndStderr", []string{"out-stdoutAndStderr", "err-stdoutAndStderr"}, nil},
	} {
		u := urn("command:remote:Command", "log-"+c.logging)
		_, state := s.create(u, s.check(u, map[string]any{
			"connection": connA(), "logging": c.logging,
			"create": fmt.Sprintf("echo out-%s; echo err-%s >&2", c.logging, c.logging),
		}))
		// Outputs are captured whatever the logging.
		if str(state, "stdout") != "out-"+c.logging || str(state, "stderr") != "err-"+c.logging {
			t.Errorf("%s: outputs %q/%q", c.logging, str(state, "stdout"), str(state, "stderr"))
		}
		out.mu.Lock()
		logged := out.buf.String()
		out.mu.Unlock()
		for _, w := range c.want {
			if !strings.Contains(logged, w) {
				t.Errorf("logging %s: %s not logged", c.logging, w)
			}
		}
		for _, w := range c.dontWant {
			if strings.Contains(logged, w) {
				t.Errorf("logging %s: %s logged", c.logging, w)
			}
		}
	}
}

func TestAgentAuth(t *testing.T) {
	needSSH(t)
	signer, err := ssh.ParseRawPrivateKey([]byte(env.clientKey))
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: signer}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { _ = agent.ServeAgent(keyring, c); _ = c.Close() }()
		}
	}()
	// The agent alone authenticates.
	c := remote.Connection{Host: env.addrA, AgentSocketPath: &sock, HostKey: &env.hostKeyA}
	client, err := c.Dial(t.Context())
	if err != nil {
		t.Fatalf("dial with the agent: %v", err)
	}
	_ = client.Close()

	// A dead SSH_AUTH_SOCK does not break a connection with its own key (a warning), but an explicit
	// agentSocketPath that is dead fails.
	t.Setenv("SSH_AUTH_SOCK", filepath.Join(t.TempDir(), "gone.sock"))
	c = remote.Connection{Host: env.addrA, PrivateKey: &env.clientKey, HostKey: &env.hostKeyA}
	client, err = c.Dial(t.Context())
	if err != nil {
		t.Fatalf("dial with a key and a dead SSH_AUTH_SOCK: %v", err)
	}
	_ = client.Close()
	dead := filepath.Join(t.TempDir(), "dead.sock")
	c = remote.Connection{Host: env.addrA, PrivateKey: &env.clientKey, HostKey: &env.hostKeyA, AgentSocketPath: &dead}
	if _, err := c.Dial(t.Context()); err == nil || !strings.Contains(err.Error(), "cannot reach the SSH agent") {
		t.Errorf("dead agentSocketPath: %v", err)
	}
}
