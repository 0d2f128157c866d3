package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

type flagKind int

const (
	kindString flagKind = iota
	kindList
	kindBool
)

// The flags the program renders into config.yaml (hosts/k3s/config.ts), plus a few common ones a
// household's extraFlags may add. Everything else is refused: a flag the lab's k3s would silently
// ignore could hide a program bug that real k3s would expose.
var serverFlags = map[string]flagKind{
	"node-name":                   kindString,
	"node-ip":                     kindString,
	"flannel-backend":             kindString,
	"flannel-iface":               kindString,
	"cluster-cidr":                kindString,
	"service-cidr":                kindString,
	"disable":                     kindList,
	"tls-san":                     kindList,
	"token-file":                  kindString,
	"token":                       kindString,
	"write-kubeconfig-mode":       kindString,
	"data-dir":                    kindString,
	"node-taint":                  kindList,
	"node-label":                  kindList,
	"kube-apiserver-arg":          kindList,
	"kube-controller-manager-arg": kindList,
	"kube-scheduler-arg":          kindList,
	"kubelet-arg":                 kindList,
	"kube-proxy-arg":              kindList,
	"disable-network-policy":      kindBool,
	"secrets-encryption":          kindBool,
}

var agentFlags = map[string]flagKind{
	"server":         kindString,
	"token-file":     kindString,
	"token":          kindString,
	"node-name":      kindString,
	"node-ip":        kindString,
	"flannel-iface":  kindString,
	"node-taint":     kindList,
	"node-label":     kindList,
	"data-dir":       kindString,
	"kubelet-arg":    kindList,
	"kube-proxy-arg": kindList,
}

// The K3S_* variables real k3s reads for these flags. The install script's env file holds K3S_URL
// and K3S_TOKEN_FILE, which the service then passes to the binary this way.
var flagEnv = map[string]string{
	"token":                 "K3S_TOKEN",
	"token-file":            "K3S_TOKEN_FILE",
	"server":                "K3S_URL",
	"node-name":             "K3S_NODE_NAME",
	"write-kubeconfig-mode": "K3S_KUBECONFIG_MODE",
	"data-dir":              "K3S_DATA_DIR",
}

// k3s splits these list flags on commas (--disable=traefik,servicelb).
var commaLists = map[string]bool{"disable": true, "tls-san": true}

func flagNames(spec map[string]flagKind) string {
	names := make([]string, 0, len(spec))
	for n := range spec {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// options holds every value given for each flag, config file first, then the command line, then
// the environment for flags given nowhere else.
type options struct {
	values map[string][]string
	origin map[string]string // where the last value came from, for error messages
}

func (o *options) str(name string) string {
	v := o.values[name]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1] // the command line overrides the config file for single-value flags
}

func (o *options) list(name string) []string { return o.values[name] }

func (o *options) boolean(name string) bool { return o.str(name) == "true" }

type optArg struct {
	text   string
	origin string // "command line" or the config file's path
}

// loadOptions reads the config file (--config, $K3S_CONFIG_FILE or the default path) and then
// the command line, as k3s does: the file's keys become flags placed before the command line's.
func loadOptions(spec map[string]flagKind, cli []string, getenv func(string) string) (*options, string, error) {
	configPath, explicit := "/etc/rancher/k3s/config.yaml", false
	if env := getenv("K3S_CONFIG_FILE"); env != "" {
		configPath, explicit = env, true
	}
	var rest []string
	for i := 0; i < len(cli); i++ {
		a := cli[i]
		switch {
		case a == "--config" || a == "-c":
			if i+1 >= len(cli) {
				return nil, "", fmt.Errorf("flag needs an argument: %s", a)
			}
			configPath, explicit = cli[i+1], true
			i++
		case strings.HasPrefix(a, "--config="):
			configPath, explicit = strings.TrimPrefix(a, "--config="), true
		default:
			rest = append(rest, a)
		}
	}
	var args []optArg
	data, err := os.ReadFile(rooted(configPath))
	switch {
	case err == nil:
		entries, err := parseConfigYAML(string(data))
		if err != nil {
			return nil, configPath, fmt.Errorf("%s: %v", configPath, err)
		}
		for _, e := range entries {
			kind, known := spec[e.Key]
			if !known {
				return nil, configPath, fmt.Errorf("unknown flag: --%s (key %q on line %d of %s; the %s accepts only: %s)",
					e.Key, e.Key, e.Line, configPath, labNote(), flagNames(spec))
			}
			if e.IsList && kind != kindList {
				return nil, configPath, fmt.Errorf("%s line %d: %q takes one value, not a list", configPath, e.Line, e.Key)
			}
			for _, v := range e.Values {
				args = append(args, optArg{"--" + e.Key + "=" + v, configPath})
			}
		}
	case os.IsNotExist(err) && !explicit:
		// k3s runs without a config file when the default one is absent.
	default:
		return nil, configPath, fmt.Errorf("reading config file: %v", err)
	}
	for _, a := range rest {
		args = append(args, optArg{a, "command line"})
	}
	o, err := parseFlags(spec, args)
	if err != nil {
		return nil, configPath, err
	}
	for flag, env := range flagEnv {
		if _, ok := spec[flag]; !ok || len(o.values[flag]) > 0 {
			continue
		}
		if v := getenv(env); v != "" {
			o.values[flag] = []string{v}
			o.origin[flag] = "$" + env
		}
	}
	return o, configPath, nil
}

func parseFlags(spec map[string]flagKind, args []optArg) (*options, error) {
	o := &options{values: map[string][]string{}, origin: map[string]string{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a.text, "-") {
			return nil, fmt.Errorf("unexpected argument %q (%s): k3s takes flags only", a.text, a.origin)
		}
		if !strings.HasPrefix(a.text, "--") {
			return nil, fmt.Errorf("unknown flag: %s", strings.SplitN(a.text, "=", 2)[0])
		}
		name, value, hasValue := strings.Cut(a.text[2:], "=")
		kind, known := spec[name]
		if !known {
			if a.origin == "command line" {
				return nil, fmt.Errorf("unknown flag: --%s", name)
			}
			return nil, fmt.Errorf("unknown flag: --%s (from %s)", name, a.origin)
		}
		switch kind {
		case kindBool:
			if !hasValue {
				value = "true"
			}
			b, err := strconv.ParseBool(value)
			if err != nil {
				return nil, fmt.Errorf("--%s (%s): %q is not true or false", name, a.origin, value)
			}
			value = strconv.FormatBool(b)
		default:
			if !hasValue {
				if i+1 >= len(args) || args[i+1].origin != a.origin {
					return nil, fmt.Errorf("flag needs an argument: --%s", name)
				}
				i++
				value = args[i].text
			}
		}
		if kind == kindList && commaLists[name] {
			for _, part := range strings.Split(value, ",") {
				if part = strings.TrimSpace(part); part != "" {
					o.values[name] = append(o.values[name], part)
				}
			}
		} else {
			o.values[name] = append(o.values[name], value)
		}
		o.origin[name] = a.origin
	}
	return o, nil
}

// taint is a node taint as k3s's --node-taint gives it.
type taint struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"`
}

// nodeSettings are what a server and an agent both register about their node.
type nodeSettings struct {
	Name   string
	IP     string // empty: picked at start
	Iface  string
	Labels map[string]string
	Taints []taint
}

type serverConfig struct {
	Node                  nodeSettings
	FlannelBackend        string
	ClusterCIDR           string
	ServiceCIDR           *net.IPNet
	Disable               []string
	TLSSANs               []string
	Token                 string // as given (plain or K10 form); empty: generated
	KubeconfigMode        os.FileMode
	DataDir               string
	APIServerArgs         []string // NAME=VALUE, as k3s's --kube-apiserver-arg
	ControllerManagerArgs []string
	SchedulerArgs         []string
	KubeletArgs           []string
	KubeProxyArgs         []string
	NotDeployed           []string // what real k3s would run and the lab's does not, for the start log
}

func (c *serverConfig) disabled(name string) bool { return slices.Contains(c.Disable, name) }

type agentConfig struct {
	Node          nodeSettings
	ServerURL     *url.URL
	Token         string
	DataDir       string
	KubeletArgs   []string
	KubeProxyArgs []string
}

// componentArgs reads k3s's --<component>-arg lists (NAME=VALUE each).
func componentArgs(o *options, flag string, errs *[]error) []string {
	var out []string
	for _, a := range o.list(flag) {
		a = strings.TrimPrefix(a, "--")
		if k, _, ok := strings.Cut(a, "="); !ok || k == "" {
			*errs = append(*errs, fmt.Errorf("%s %q: want name=value", flag, a))
			continue
		}
		out = append(out, a)
	}
	return out
}

var (
	dns1123     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	labelKey    = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
	labelValue  = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$`)
	taintEffect = map[string]bool{"NoSchedule": true, "PreferNoSchedule": true, "NoExecute": true}
)

// Defaults for what k3s would take from the host: the hostname as node name.
var osHostname = os.Hostname

func resolveNode(o *options, errs *[]error) nodeSettings {
	n := nodeSettings{Name: o.str("node-name"), IP: o.str("node-ip"), Iface: o.str("flannel-iface"), Labels: map[string]string{}}
	if n.Name == "" {
		h, err := osHostname()
		if err != nil {
			*errs = append(*errs, fmt.Errorf("no node-name and no hostname: %v", err))
		}
		n.Name = strings.ToLower(h)
	}
	if len(n.Name) > 253 || !dns1123.MatchString(n.Name) {
		*errs = append(*errs, fmt.Errorf("node-name %q is not a valid Kubernetes node name (lowercase letters, digits, '-' and '.')", n.Name))
	}
	if n.IP != "" {
		if ip := net.ParseIP(n.IP); ip == nil {
			*errs = append(*errs, fmt.Errorf("node-ip %q is not an IP address", n.IP))
		} else {
			n.IP = ip.String()
		}
	}
	for _, l := range o.list("node-label") {
		k, v, ok := strings.Cut(l, "=")
		if !ok || !labelKey.MatchString(k) || len(v) > 63 || !labelValue.MatchString(v) {
			*errs = append(*errs, fmt.Errorf("node-label %q is not key=value with a valid label key and value", l))
			continue
		}
		n.Labels[k] = v
	}
	for _, s := range o.list("node-taint") {
		t, err := parseTaint(s)
		if err != nil {
			*errs = append(*errs, err)
			continue
		}
		n.Taints = append(n.Taints, t)
	}
	return n
}

// parseTaint reads k3s's --node-taint syntax: key[=value]:Effect.
func parseTaint(s string) (taint, error) {
	i := strings.LastIndex(s, ":")
	if i < 0 || !taintEffect[s[i+1:]] {
		return taint{}, fmt.Errorf("node-taint %q: want key[=value]:NoSchedule|PreferNoSchedule|NoExecute", s)
	}
	k, v, _ := strings.Cut(s[:i], "=")
	if !labelKey.MatchString(k) || !labelValue.MatchString(v) {
		return taint{}, fmt.Errorf("node-taint %q: invalid key or value", s)
	}
	return taint{Key: k, Value: v, Effect: s[i+1:]}, nil
}

var disableable = map[string]bool{"coredns": true, "servicelb": true, "traefik": true, "local-storage": true, "metrics-server": true, "runtimes": true}

func resolveServer(o *options, getenv func(string) string) (*serverConfig, error) {
	var errs []error
	if getenv("K3S_URL") != "" {
		errs = append(errs, fmt.Errorf("K3S_URL is set: joining a server to another server is not supported by the %s", labNote()))
	}
	c := &serverConfig{Node: resolveNode(o, &errs), DataDir: o.str("data-dir"), FlannelBackend: o.str("flannel-backend")}
	if c.DataDir == "" {
		c.DataDir = "/var/lib/rancher/k3s"
	}
	switch c.FlannelBackend {
	case "":
		c.FlannelBackend = "vxlan"
	case "vxlan", "none":
	case "host-gw", "wireguard-native":
		errs = append(errs, fmt.Errorf("flannel-backend %q: the lab's k3s has flannel's vxlan backend only (or none)", c.FlannelBackend))
	default:
		errs = append(errs, fmt.Errorf("flannel-backend %q: want vxlan, host-gw, wireguard-native or none", c.FlannelBackend))
	}
	c.ClusterCIDR = o.str("cluster-cidr")
	if c.ClusterCIDR == "" {
		c.ClusterCIDR = "10.42.0.0/16"
	}
	if _, n, err := net.ParseCIDR(c.ClusterCIDR); err != nil {
		errs = append(errs, fmt.Errorf("cluster-cidr %q is not a CIDR", c.ClusterCIDR))
	} else {
		c.ClusterCIDR = n.String()
	}
	svc := o.str("service-cidr")
	if svc == "" {
		svc = "10.43.0.0/16"
	}
	if _, n, err := net.ParseCIDR(svc); err != nil {
		errs = append(errs, fmt.Errorf("service-cidr %q is not a CIDR", svc))
	} else {
		c.ServiceCIDR = n
	}
	for _, d := range o.list("disable") {
		if !disableable[d] {
			errs = append(errs, fmt.Errorf("disable %q: k3s can disable only coredns, servicelb, traefik, local-storage, metrics-server, runtimes", d))
		}
		c.Disable = append(c.Disable, d)
	}
	c.TLSSANs = o.list("tls-san")
	tok, err := tokenFromOptions(o)
	if err != nil {
		errs = append(errs, err)
	}
	c.Token = tok
	c.KubeconfigMode = 0o600
	if m := o.str("write-kubeconfig-mode"); m != "" {
		v, err := strconv.ParseUint(m, 8, 32)
		if err != nil || v > 0o777 {
			errs = append(errs, fmt.Errorf("write-kubeconfig-mode %q is not an octal file mode", m))
		} else {
			c.KubeconfigMode = os.FileMode(v)
		}
	}
	c.APIServerArgs = componentArgs(o, "kube-apiserver-arg", &errs)
	c.ControllerManagerArgs = componentArgs(o, "kube-controller-manager-arg", &errs)
	c.SchedulerArgs = componentArgs(o, "kube-scheduler-arg", &errs)
	c.KubeletArgs = componentArgs(o, "kubelet-arg", &errs)
	c.KubeProxyArgs = componentArgs(o, "kube-proxy-arg", &errs)
	if o.boolean("secrets-encryption") {
		errs = append(errs, fmt.Errorf("secrets-encryption: not supported by the lab's k3s (its API server stores secrets unencrypted in etcd)"))
	}
	// Real k3s deploys these unless disabled; the lab's k3s packages CoreDNS only, and says so.
	var absent []string
	for _, d := range []string{"servicelb", "traefik", "local-storage", "metrics-server"} {
		if !c.disabled(d) {
			absent = append(absent, d)
		}
	}
	if len(absent) > 0 {
		c.NotDeployed = append(c.NotDeployed, "Not deployed (the lab's k3s packages only CoreDNS): "+strings.Join(absent, ", "))
	}
	if !o.boolean("disable-network-policy") {
		c.NotDeployed = append(c.NotDeployed, "NetworkPolicies are not enforced: the lab's k3s has no network policy controller")
	}
	return c, errors.Join(errs...)
}

func resolveAgent(o *options) (*agentConfig, error) {
	var errs []error
	c := &agentConfig{Node: resolveNode(o, &errs), DataDir: o.str("data-dir")}
	if c.DataDir == "" {
		c.DataDir = "/var/lib/rancher/k3s"
	}
	s := o.str("server")
	if s == "" {
		errs = append(errs, fmt.Errorf("no server: set server in the config file, --server or K3S_URL"))
	} else if u, err := url.Parse(s); err != nil || u.Scheme != "https" || u.Host == "" {
		errs = append(errs, fmt.Errorf("server %q: only https:// URLs are supported", s))
	} else {
		if u.Port() == "" {
			u.Host = net.JoinHostPort(u.Hostname(), "6443")
		}
		c.ServerURL = u
	}
	tok, err := tokenFromOptions(o)
	if err != nil {
		errs = append(errs, err)
	} else if tok == "" {
		errs = append(errs, fmt.Errorf("no token: set token-file or token (or K3S_TOKEN_FILE / K3S_TOKEN)"))
	}
	c.Token = tok
	c.KubeletArgs = componentArgs(o, "kubelet-arg", &errs)
	c.KubeProxyArgs = componentArgs(o, "kube-proxy-arg", &errs)
	return c, errors.Join(errs...)
}

// tokenFromOptions returns the token as written, from token or token-file (never both: which one
// would win is a question the program should not leave to k3s).
func tokenFromOptions(o *options) (string, error) {
	tok, file := o.str("token"), o.str("token-file")
	if tok != "" && file != "" {
		return "", fmt.Errorf("both token (%s) and token-file (%s) are set; set one", o.origin["token"], o.origin["token-file"])
	}
	if file == "" {
		return strings.TrimSpace(tok), nil
	}
	b, err := os.ReadFile(rooted(file))
	if err != nil {
		return "", fmt.Errorf("token-file: %v", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("token-file %s is empty", file)
	}
	return t, nil
}
