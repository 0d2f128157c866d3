package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// readyJSONPath is the one jsonpath the program's node-ready step uses; a general jsonpath engine
// would be more code than the rest of kubectl here, and any other expression is refused.
const readyJSONPath = `{.status.conditions[?(@.type=="Ready")].status}`

const kubectlSupported = "get --raw=PATH, get node(s) [NAME] [-o json|-o jsonpath=" + readyJSONPath + "], get secret NAME, " +
	"cordon, uncordon, drain NAME, delete node NAME, delete secret NAME, apply --dry-run=server -f - (always refused)"

type kubectlCmd struct {
	namespace  string
	kubeconfig string
	verb       string
	args       []string
}

// parseKubectlGlobals takes out the flags kubectl accepts anywhere (-n, --namespace, --kubeconfig)
// and finds the verb.
func parseKubectlGlobals(argv []string) (kubectlCmd, error) {
	var c kubectlCmd
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		takeValue := func(name string) (string, error) {
			if i+1 >= len(argv) {
				return "", fmt.Errorf("flag needs an argument: %s", name)
			}
			i++
			return argv[i], nil
		}
		var err error
		switch {
		case a == "-n" || a == "--namespace":
			c.namespace, err = takeValue(a)
		case strings.HasPrefix(a, "--namespace="):
			c.namespace = strings.TrimPrefix(a, "--namespace=")
		case strings.HasPrefix(a, "-n") && !strings.HasPrefix(a, "--"):
			c.namespace = strings.TrimPrefix(strings.TrimPrefix(a, "-n"), "=")
		case a == "--kubeconfig":
			c.kubeconfig, err = takeValue(a)
		case strings.HasPrefix(a, "--kubeconfig="):
			c.kubeconfig = strings.TrimPrefix(a, "--kubeconfig=")
		case c.verb == "" && !strings.HasPrefix(a, "-"):
			c.verb = a
		default:
			c.args = append(c.args, a)
		}
		if err != nil {
			return c, err
		}
	}
	if c.verb == "" {
		return c, fmt.Errorf("no command given")
	}
	return c, nil
}

type verbFlag struct {
	boolean bool
	short   string
}

// parseVerbArgs splits a verb's arguments into names and flags, refusing flags the verb does not
// list: an unknown flag is where the stand-in and real kubectl would silently part ways.
func parseVerbArgs(verb string, args []string, spec map[string]verbFlag) ([]string, map[string]string, error) {
	var pos []string
	flags := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-" || !strings.HasPrefix(a, "-") {
			pos = append(pos, a)
			continue
		}
		var name, value string
		hasValue := false
		if strings.HasPrefix(a, "--") {
			name, value, hasValue = strings.Cut(a[2:], "=")
		} else {
			for long, f := range spec {
				if f.short != "" && strings.HasPrefix(a, f.short) {
					name = long
					rest := strings.TrimPrefix(strings.TrimPrefix(a, f.short), "=")
					value, hasValue = rest, rest != ""
				}
			}
		}
		f, ok := spec[name]
		if !ok {
			return nil, nil, fmt.Errorf("the %s's kubectl %s does not support the flag %s; it supports: %s", standinNote, verb, a, kubectlSupported)
		}
		if f.boolean {
			if !hasValue {
				value = "true"
			}
			b, err := strconv.ParseBool(value)
			if err != nil {
				return nil, nil, fmt.Errorf("invalid argument %q for --%s", value, name)
			}
			value = strconv.FormatBool(b)
		} else if !hasValue {
			if i+1 >= len(args) {
				return nil, nil, fmt.Errorf("flag needs an argument: %s", a)
			}
			i++
			value = args[i]
		}
		flags[name] = value
	}
	return pos, flags, nil
}

type kubectlRun struct {
	cmd    kubectlCmd
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	base   string
	client *http.Client
	now    func() time.Time
}

func kubectlMain(argv []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd, err := parseKubectlGlobals(argv)
	if err != nil {
		fmt.Fprintf(stderr, "error: %v (the %s's kubectl supports: %s)\n", err, standinNote, kubectlSupported)
		return 1
	}
	k := &kubectlRun{cmd: cmd, stdin: stdin, stdout: stdout, stderr: stderr, now: time.Now}
	if err := k.dispatch(); err != nil {
		var done exitQuietly
		if !errors.As(err, &done) {
			fmt.Fprintln(stderr, err.Error())
		}
		return 1
	}
	return 0
}

// exitQuietly is a failure whose message was already printed.
type exitQuietly struct{}

func (exitQuietly) Error() string { return "" }

func unsupported(what string) error {
	return fmt.Errorf("error: the %s's kubectl does not support %q; it supports: %s", standinNote, what, kubectlSupported)
}

func (k *kubectlRun) dispatch() error {
	switch k.cmd.verb {
	case "get":
		return k.get()
	case "cordon", "uncordon":
		return k.cordon(k.cmd.verb == "cordon")
	case "drain":
		return k.drain()
	case "delete":
		return k.delete()
	case "apply":
		return k.apply()
	}
	return unsupported(strings.TrimSpace(k.cmd.verb + " " + strings.Join(k.cmd.args, " ")))
}

// connect loads the kubeconfig lazily, so a verb the stand-in refuses fails for that reason even
// on a machine without k3s.yaml.
func (k *kubectlRun) connect() error {
	if k.client != nil {
		return nil
	}
	path := k.cmd.kubeconfig
	if path == "" {
		path = os.Getenv("KUBECONFIG")
	}
	if strings.Contains(path, ":") {
		return fmt.Errorf("error: KUBECONFIG %q lists several files; the %s's kubectl reads one", path, standinNote)
	}
	if path == "" {
		path = kubeconfigPath
	}
	b, err := os.ReadFile(hostPath(path))
	if err != nil {
		return fmt.Errorf("error: error loading config file %q: %v", path, err)
	}
	kc, err := parseKubeconfig(string(b))
	if err != nil {
		return fmt.Errorf("error: error loading config file %q: %v", path, err)
	}
	tc, err := kc.tlsConfig()
	if err != nil {
		return fmt.Errorf("error: error loading config file %q: %v", path, err)
	}
	k.base = strings.TrimRight(kc.Server.String(), "/")
	k.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	return nil
}

// call does one request and turns failures into kubectl's messages.
func (k *kubectlRun) call(method, path string, body []byte) (int, []byte, error) {
	if err := k.connect(); err != nil {
		return 0, nil, err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, k.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/merge-patch+json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		host := strings.TrimPrefix(k.base, "https://")
		if errors.Is(err, syscall.ECONNREFUSED) {
			return 0, nil, fmt.Errorf("The connection to the server %s was refused - did you specify the right host or port?", host)
		}
		return 0, nil, fmt.Errorf("Unable to connect to the server: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return resp.StatusCode, data, fmt.Errorf("error: You must be logged in to the server (Unauthorized)")
	}
	return resp.StatusCode, data, nil
}

// apiError renders an error answer the way kubectl does.
func apiError(code int, data []byte) error {
	var st apiStatus
	if json.Unmarshal(data, &st) == nil && st.Kind == "Status" && st.Reason != "" {
		return fmt.Errorf("Error from server (%s): %s", st.Reason, st.Message)
	}
	return fmt.Errorf("Error from server: %d %s", code, strings.TrimSpace(string(data)))
}

func (k *kubectlRun) get() error {
	pos, flags, err := parseVerbArgs("get", k.cmd.args, map[string]verbFlag{"raw": {}, "output": {short: "-o"}})
	if err != nil {
		return err
	}
	if raw, ok := flags["raw"]; ok {
		if len(pos) > 0 || flags["output"] != "" {
			return fmt.Errorf("error: arguments may not be passed when --raw is specified")
		}
		code, data, err := k.call(http.MethodGet, raw, nil)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return apiError(code, data)
		}
		_, err = k.stdout.Write(data)
		return err
	}
	if len(pos) == 0 {
		return fmt.Errorf("error: you must specify the type of resource to get (the stand-in serves nodes and kube-system secrets)")
	}
	kind, names := pos[0], pos[1:]
	if t, n, ok := strings.Cut(kind, "/"); ok {
		kind, names = t, append([]string{n}, names...)
	}
	switch kind {
	case "node", "nodes", "no":
		return k.getNodes(names, flags["output"])
	case "secret", "secrets":
		return k.getSecrets(names, flags["output"])
	}
	return unsupported("get " + strings.Join(pos, " "))
}

func (k *kubectlRun) getNodes(names []string, output string) error {
	var items []nodeObject
	if len(names) == 0 {
		code, data, err := k.call(http.MethodGet, "/api/v1/nodes", nil)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return apiError(code, data)
		}
		var list nodeList
		if err := json.Unmarshal(data, &list); err != nil {
			return err
		}
		items = list.Items
	}
	failed := false
	for _, name := range names {
		code, data, err := k.call(http.MethodGet, "/api/v1/nodes/"+name, nil)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			fmt.Fprintln(k.stderr, apiError(code, data))
			failed = true
			continue
		}
		var n nodeObject
		if err := json.Unmarshal(data, &n); err != nil {
			return err
		}
		items = append(items, n)
	}
	if err := k.printNodes(items, output, len(names) == 1); err != nil {
		return err
	}
	if failed {
		return exitQuietly{}
	}
	return nil
}

func (k *kubectlRun) printNodes(items []nodeObject, output string, single bool) error {
	switch {
	case output == "":
		if len(items) == 0 {
			if !single {
				fmt.Fprintln(k.stderr, "No resources found")
			}
			return nil
		}
		tw := tabwriter.NewWriter(k.stdout, 0, 8, 3, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSTATUS\tROLES\tAGE\tVERSION")
		for _, n := range items {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.Metadata.Name, nodeStatusColumn(n), nodeRoles(n), k.age(n.Metadata.CreationTimestamp), n.Status.NodeInfo.KubeletVersion)
		}
		return tw.Flush()
	case output == "json":
		var v any = nodeList{APIVersion: "v1", Kind: "List", Items: items}
		if single && len(items) == 1 {
			v = items[0]
		}
		b, _ := json.MarshalIndent(v, "", "    ")
		_, err := fmt.Fprintf(k.stdout, "%s\n", b)
		return err
	case strings.HasPrefix(output, "jsonpath="):
		expr := strings.TrimPrefix(output, "jsonpath=")
		if expr != readyJSONPath {
			return fmt.Errorf("error: the %s's kubectl supports only the jsonpath %s (got %s)", standinNote, readyJSONPath, expr)
		}
		if !single {
			return fmt.Errorf("error: the %s's kubectl applies that jsonpath to one named node only", standinNote)
		}
		for _, n := range items {
			for _, c := range n.Status.Conditions {
				if c.Type == "Ready" {
					fmt.Fprint(k.stdout, c.Status)
				}
			}
		}
		return nil
	}
	return fmt.Errorf("error: the %s's kubectl does not support -o %s (only json and jsonpath=%s)", standinNote, output, readyJSONPath)
}

func nodeStatusColumn(n nodeObject) string {
	s := "Unknown"
	for _, c := range n.Status.Conditions {
		if c.Type == "Ready" {
			s = map[string]string{"True": "Ready", "False": "NotReady", "Unknown": "NotReady"}[c.Status]
		}
	}
	if n.Spec.Unschedulable {
		s += ",SchedulingDisabled"
	}
	return s
}

func nodeRoles(n nodeObject) string {
	var roles []string
	for l := range n.Metadata.Labels {
		if r, ok := strings.CutPrefix(l, "node-role.kubernetes.io/"); ok && r != "" {
			roles = append(roles, r)
		}
	}
	if len(roles) == 0 {
		return "<none>"
	}
	slices.Sort(roles)
	return strings.Join(roles, ",")
}

func (k *kubectlRun) age(ts string) string {
	t, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		return "<unknown>"
	}
	return humanDuration(k.now().Sub(t))
}

// humanDuration follows kubectl's AGE column: more precision while the age is small.
func humanDuration(d time.Duration) string {
	s := int64(d / time.Second)
	if s < 0 {
		s = 0
	}
	m, h, days := s/60, s/3600, s/86400
	switch {
	case s < 120:
		return fmt.Sprintf("%ds", s)
	case m < 10:
		if s%60 == 0 {
			return fmt.Sprintf("%dm", m)
		}
		return fmt.Sprintf("%dm%ds", m, s%60)
	case h < 3:
		return fmt.Sprintf("%dm", m)
	case h < 8:
		if m%60 == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m%60)
	case h < 48:
		return fmt.Sprintf("%dh", h)
	case days < 8:
		if h%24 == 0 {
			return fmt.Sprintf("%dd", days)
		}
		return fmt.Sprintf("%dd%dh", days, h%24)
	}
	return fmt.Sprintf("%dd", days)
}

func (k *kubectlRun) getSecrets(names []string, output string) error {
	if len(names) != 1 {
		return fmt.Errorf("error: the %s's kubectl gets one named secret at a time", standinNote)
	}
	ns := k.cmd.namespace
	if ns == "" {
		ns = "default"
	}
	code, data, err := k.call(http.MethodGet, "/api/v1/namespaces/"+ns+"/secrets/"+names[0], nil)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return apiError(code, data)
	}
	var sec secretObject
	if err := json.Unmarshal(data, &sec); err != nil {
		return err
	}
	switch output {
	case "":
		tw := tabwriter.NewWriter(k.stdout, 0, 8, 3, ' ', 0)
		fmt.Fprintln(tw, "NAME\tTYPE\tDATA\tAGE")
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", sec.Metadata.Name, sec.Type, len(sec.Data), k.age(sec.Metadata.CreationTimestamp))
		return tw.Flush()
	case "json":
		b, _ := json.MarshalIndent(sec, "", "    ")
		_, err := fmt.Fprintf(k.stdout, "%s\n", b)
		return err
	}
	return fmt.Errorf("error: the %s's kubectl does not support -o %s for secrets (only json)", standinNote, output)
}

func (k *kubectlRun) cordon(on bool) error {
	pos, _, err := parseVerbArgs(k.cmd.verb, k.cmd.args, map[string]verbFlag{})
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("error: %s takes exactly one node name", k.cmd.verb)
	}
	return k.setUnschedulable(pos[0], on)
}

func (k *kubectlRun) setUnschedulable(name string, on bool) error {
	code, data, err := k.call(http.MethodGet, "/api/v1/nodes/"+name, nil)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return apiError(code, data)
	}
	var n nodeObject
	if err := json.Unmarshal(data, &n); err != nil {
		return err
	}
	word := map[bool]string{true: "cordoned", false: "uncordoned"}[on]
	if n.Spec.Unschedulable == on {
		fmt.Fprintf(k.stdout, "node/%s already %s\n", name, word)
		return nil
	}
	patch := []byte(fmt.Sprintf(`{"spec":{"unschedulable":%t}}`, on))
	code, data, err = k.call(http.MethodPatch, "/api/v1/nodes/"+name, patch)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return apiError(code, data)
	}
	fmt.Fprintf(k.stdout, "node/%s %s\n", name, word)
	return nil
}

func (k *kubectlRun) drain() error {
	pos, flags, err := parseVerbArgs("drain", k.cmd.args, map[string]verbFlag{
		"ignore-daemonsets": {boolean: true}, "delete-emptydir-data": {boolean: true}, "force": {boolean: true}, "timeout": {},
	})
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("error: drain takes exactly one node name")
	}
	if t, ok := flags["timeout"]; ok {
		if _, err := time.ParseDuration(t); err != nil {
			return fmt.Errorf("error: invalid argument %q for --timeout: %v", t, err)
		}
	}
	if err := k.setUnschedulable(pos[0], true); err != nil {
		return err
	}
	fmt.Fprintf(k.stderr, "(the %s runs no pods, so there is nothing to evict)\n", standinNote)
	fmt.Fprintf(k.stdout, "node/%s drained\n", pos[0])
	return nil
}

func (k *kubectlRun) delete() error {
	pos, flags, err := parseVerbArgs("delete", k.cmd.args, map[string]verbFlag{"wait": {boolean: true}, "ignore-not-found": {boolean: true}})
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return fmt.Errorf("error: you must specify the type of resource to delete")
	}
	kind, names := pos[0], pos[1:]
	if t, n, ok := strings.Cut(kind, "/"); ok {
		kind, names = t, append([]string{n}, names...)
	}
	var path, singular string
	switch kind {
	case "node", "nodes", "no":
		path, singular = "/api/v1/nodes/", "node"
	case "secret", "secrets":
		ns := k.cmd.namespace
		if ns == "" {
			ns = "default"
		}
		path, singular = "/api/v1/namespaces/"+ns+"/secrets/", "secret"
	default:
		return unsupported("delete " + strings.Join(pos, " "))
	}
	if len(names) == 0 {
		return fmt.Errorf("error: resource name may not be empty")
	}
	failed := false
	// Deletion is synchronous in the stand-in, so --wait has nothing to wait for.
	for _, name := range names {
		code, data, err := k.call(http.MethodDelete, path+name, nil)
		if err != nil {
			return err
		}
		switch {
		case code == http.StatusOK:
			fmt.Fprintf(k.stdout, "%s %q deleted\n", singular, name)
		case code == http.StatusNotFound && flags["ignore-not-found"] == "true":
		default:
			fmt.Fprintln(k.stderr, apiError(code, data))
			failed = true
		}
	}
	if failed {
		return exitQuietly{}
	}
	return nil
}

// apply exists for the MetalLB webhook probe (a server-side dry run of an IPAddressPool): the lab
// runs no MetalLB, so the probe must fail, and say why instead of "unknown command".
func (k *kubectlRun) apply() error {
	pos, flags, err := parseVerbArgs("apply", k.cmd.args, map[string]verbFlag{"dry-run": {}, "filename": {short: "-f"}})
	if err != nil {
		return err
	}
	if len(pos) != 0 || flags["dry-run"] != "server" || flags["filename"] != "-" {
		return unsupported("apply " + strings.Join(k.cmd.args, " "))
	}
	_, _ = io.Copy(io.Discard, k.stdin)
	return fmt.Errorf("error: the %s serves no custom resources (MetalLB is not run in the lab)", standinNote)
}
