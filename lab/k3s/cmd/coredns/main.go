// Command coredns is CoreDNS with only the plugins k3s's Corefile (manifests/coredns.yaml) uses,
// so the lab's cluster DNS is the real server built from the Go module proxy. The image
// docker.io/rancher/mirrored-coredns-coredns runs it as /coredns.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics" // the "prometheus" directive
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func init() {
	// The order a query passes the plugins in, which is CoreDNS's own (core/dnsserver/zdirectives.go)
	// with the plugins left out; a Corefile naming any other plugin fails to load, as it should.
	// "import" is part of the Corefile syntax, not a plugin.
	dnsserver.Directives = []string{
		"reload",
		"ready",
		"health",
		"prometheus",
		"errors",
		"log",
		"loadbalance",
		"cache",
		"hosts",
		"kubernetes",
		"loop",
		"forward",
	}
}

func main() {
	coremain.Run()
}
