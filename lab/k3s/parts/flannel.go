package parts

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flannel-io/flannel/pkg/backend"
	_ "github.com/flannel-io/flannel/pkg/backend/vxlan" // registers "vxlan" with backend.NewManager
	"github.com/flannel-io/flannel/pkg/ip"
	"github.com/flannel-io/flannel/pkg/ipmatch"
	"github.com/flannel-io/flannel/pkg/subnet/kube"
	"github.com/flannel-io/flannel/pkg/trafficmngr"
	"github.com/flannel-io/flannel/pkg/trafficmngr/iptables"
	"github.com/flannel-io/flannel/pkg/trafficmngr/nftables"
	flannelversion "github.com/flannel-io/flannel/pkg/version"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

const (
	// Other nodes find this node's VTEP (backend-data, public-ip) under these annotations; k3s and
	// flannel's own manifests both use flannel's default prefix.
	flannelAnnotationPrefix = "flannel.alpha.coreos.com"
	// k3s's embedded flannel re-applies its iptables rules every 60 s (masquerade) and 50 s
	// (forward); flanneld's default would be 5 s.
	flannelMasqResync    = 60
	flannelForwardResync = 50
)

type flannelOptions struct {
	kubeSubnetMgr bool
	kubeconfig    string
	iface         string
	publicIP      string
	netConfPath   string
	subnetFile    string
	ipMasq        bool
}

// runFlannel is flanneld as k3s embeds it (k3s pkg/agent/flannel): subnets from the Kubernetes
// API (node.spec.podCIDR), the VXLAN backend over one named interface, IPv4. flanneld's own main
// cannot be built here (its tencentvpc backend's SDK is refused by the module proxy and its udp
// backend needs cgo), so this follows its call sequence with the backends left out. Flags keep
// flanneld's names and defaults; any other flag is refused rather than ignored.
func runFlannel(args []string) int {
	var o flannelOptions
	fs := flag.NewFlagSet("flannel", flag.ContinueOnError)
	fs.BoolVar(&o.kubeSubnetMgr, "kube-subnet-mgr", false, "take subnets from the Kubernetes API (required: the only subnet manager here)")
	fs.StringVar(&o.kubeconfig, "kubeconfig-file", "", "kubeconfig for the Kubernetes API (default: in-cluster config)")
	fs.StringVar(&o.iface, "iface", "", "interface (name or IPv4 address) that carries VXLAN to other nodes (required)")
	fs.StringVar(&o.publicIP, "public-ip", "", "IPv4 address other nodes reach this node's VTEP at (default: the interface's first IPv4)")
	fs.StringVar(&o.netConfPath, "net-config-path", "/etc/kube-flannel/net-conf.json", `network configuration, e.g. {"Network": "10.42.0.0/16", "Backend": {"Type": "vxlan"}}`)
	fs.StringVar(&o.subnetFile, "subnet-file", "/run/flannel/subnet.env", "where FLANNEL_NETWORK, FLANNEL_SUBNET, FLANNEL_MTU and FLANNEL_IPMASQ are written")
	fs.BoolVar(&o.ipMasq, "ip-masq", false, "masquerade traffic from the pod network to outside it")
	showVersion := fs.Bool("version", false, "print flannel's version and exit")
	// Only klog's verbosity, as flanneld copies it: everything logs to stderr.
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	fs.Var(klogFlags.Lookup("v").Value, "v", klogFlags.Lookup("v").Usage)

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *showVersion {
		fmt.Println(flannelversion.Version)
		return 0
	}
	if err := o.check(fs.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "flannel: %v\n", err)
		return 2
	}
	defer klog.Flush()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := o.run(ctx); err != nil {
		klog.Errorf("flannel: %v", err)
		return 1
	}
	klog.Info("flannel: stopped")
	return 0
}

func (o *flannelOptions) check(rest []string) error {
	switch {
	case len(rest) > 0:
		return fmt.Errorf("unexpected arguments %q", rest)
	case !o.kubeSubnetMgr:
		return errors.New("--kube-subnet-mgr is required: subnets come from the Kubernetes API, as in k3s")
	case o.iface == "":
		return errors.New("--iface is required: the interface whose IPv4 address carries VXLAN")
	case os.Getenv("NODE_NAME") == "":
		return errors.New("NODE_NAME must hold this node's name: flannel annotates that node")
	case o.publicIP != "" && net.ParseIP(o.publicIP).To4() == nil:
		return fmt.Errorf("--public-ip %q is not an IPv4 address", o.publicIP)
	}
	return nil
}

// run returns nil when ctx ends (SIGTERM) and an error when flannel cannot set up or its backend stops.
func (o *flannelOptions) run(ctx context.Context) error {
	if err := o.waitForPodCIDR(ctx); err != nil || ctx.Err() != nil {
		return err
	}
	// false: as in k3s, the kubelet (no cloud provider) never sets NetworkUnavailable, so there is
	// no condition to clear.
	sm, err := kube.NewSubnetManager(ctx, "", o.kubeconfig, flannelAnnotationPrefix, o.netConfPath, false)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("kube subnet manager: %w", err)
	}
	config, err := sm.GetNetworkConfig(ctx)
	if err != nil {
		return fmt.Errorf("network config %s: %w", o.netConfPath, err)
	}
	if config.BackendType != "vxlan" {
		return fmt.Errorf("%s: backend %q: only vxlan is built in", o.netConfPath, config.BackendType)
	}
	if !config.EnableIPv4 || config.EnableIPv6 {
		return fmt.Errorf("%s: only an IPv4 network is supported", o.netConfPath)
	}
	stack, err := ipmatch.GetIPFamily(config.EnableIPv4, config.EnableIPv6)
	if err != nil {
		return err
	}
	if _, err := os.Stat("/proc/sys/net/bridge/bridge-nf-call-iptables"); err != nil && !config.EnableNFTables {
		// flanneld exits here; k3s loads br_netfilter itself, so a warning names the likely cause
		// of pods failing to reach services on their own node.
		klog.Warningf("flannel: br_netfilter is not loaded (%v): bridged pod traffic skips iptables", err)
	}

	// A node-public-ip annotation wins over --public-ip, as in flanneld.
	publicIP := o.publicIP
	if stored, _ := sm.GetStoredPublicIP(ctx); stored != "" {
		publicIP = stored
	}
	extIface, err := ipmatch.LookupExtIface(o.iface, "", "", stack, ipmatch.PublicIPOpts{PublicIP: publicIP})
	if err != nil {
		return fmt.Errorf("--iface %s: %w", o.iface, err)
	}

	// Everything started below stops with ctx; wait for it so the VXLAN device and routes are left
	// consistent before exiting.
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	be, err := backend.NewManager(ctx, sm, extIface).GetBackend(config.BackendType)
	if err != nil {
		return err
	}
	bn, err := be.RegisterNetwork(ctx, &wg, config)
	if err != nil {
		return fmt.Errorf("registering the vxlan network: %w", err)
	}

	// A restart with the other traffic manager must not leave the previous one's rules behind.
	if err := newTrafficManager(!config.EnableNFTables).CleanUp(ctx); err != nil {
		return err
	}
	traffic := newTrafficManager(config.EnableNFTables)
	if err := traffic.Init(ctx); err != nil {
		return err
	}
	if o.ipMasq {
		// The previous run's network and subnet, so rules for a subnet this node no longer holds go.
		prevNetwork := readSubnetFileCIDR(o.subnetFile, "FLANNEL_NETWORK")
		prevSubnet := readSubnetFileCIDR(o.subnetFile, "FLANNEL_SUBNET")
		if err := traffic.SetupAndEnsureMasqRules(ctx, config.Network, prevSubnet, prevNetwork,
			ip.IP6Net{}, ip.IP6Net{}, ip.IP6Net{}, bn.Lease(), flannelMasqResync, false); err != nil {
			return fmt.Errorf("masquerade rules: %w", err)
		}
	}
	traffic.SetupAndEnsureForwardRules(ctx, config.Network, config.IPv6Network, flannelForwardResync)

	lease := bn.Lease()
	// The bridge CNI config the launcher writes needs this file; without it no pod gets an address.
	if err := sm.HandleSubnetFile(o.subnetFile, config, o.ipMasq, lease.Subnet, lease.IPv6Subnet, bn.MTU()); err != nil {
		return fmt.Errorf("writing %s: %w", o.subnetFile, err)
	}
	klog.Infof("flannel: ready: subnet %s, mtu %d, vtep %s on %s", lease.Subnet, bn.MTU(), extIface.ExtAddr, extIface.Iface.Name)

	backendDone := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(backendDone)
		bn.Run(ctx)
	}()
	if err := sm.CompleteLease(ctx, lease, &wg); err != nil && ctx.Err() == nil {
		return fmt.Errorf("completing the lease: %w", err)
	}

	select {
	case <-ctx.Done():
		return nil
	case <-backendDone:
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("the vxlan backend stopped")
	}
}

// waitForPodCIDR returns once this node has a spec.podCIDR, as k3s's agent waits before it starts
// flannel: the kube subnet manager fails at once without one, and the node gets one only after it
// registered and the controller-manager allocated it.
func (o *flannelOptions) waitForPodCIDR(ctx context.Context) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return fmt.Errorf("--kubeconfig-file %s: %w", o.kubeconfig, err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	name := os.Getenv("NODE_NAME")
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for tries := 0; ; tries++ {
		node, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		switch {
		case err == nil && node.Spec.PodCIDR != "":
			return nil
		case tries%15 == 0 && err != nil:
			klog.Infof("flannel: waiting for node %s: %v", name, err)
		case tries%15 == 0:
			klog.Infof("flannel: waiting for node %s to be assigned a pod CIDR", name)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func newTrafficManager(nft bool) trafficmngr.TrafficManager {
	if nft {
		return &nftables.NFTablesManager{}
	}
	return &iptables.IPTablesManager{}
}

// readSubnetFileCIDR reads KEY=CIDR from a subnet file flannel wrote earlier; the zero network
// when the file, the key or a valid CIDR is missing (flanneld's rule: nothing to clean up then).
func readSubnetFileCIDR(path, key string) ip.IP4Net {
	f, err := os.Open(path)
	if err != nil {
		return ip.IP4Net{}
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		k, v, found := strings.Cut(strings.TrimSpace(scanner.Text()), "=")
		if !found || k != key {
			continue
		}
		_, cidr, err := net.ParseCIDR(v)
		if err != nil || cidr.IP.To4() == nil {
			return ip.IP4Net{}
		}
		return ip.FromIPNet(cidr)
	}
	return ip.IP4Net{}
}
