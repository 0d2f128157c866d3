// Command k3s is the k3s-over-usb lab's k3s: a launcher with k3s's surface (the install script's
// layout, config.yaml, the join token, node passwords, k3s.yaml, `k3s kubectl`) that runs real,
// unmodified Kubernetes underneath (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kubelet, kube-proxy, containerd, flannel VXLAN, CoreDNS). Real k3s cannot be
// built here (the Go module proxy refuses it). README.md says what is real and what is not.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"k3s-over-usb/lab/k3s/parts"
)

// version is set at build time (build.sh passes -ldflags "-X main.version=..."). The install step
// compares it with the pinned k3s version, so a binary built without it must never match.
var version = "v0.0.0-unset"

// labNote says, wherever the binary names itself, what it is and which Kubernetes really runs.
func labNote() string {
	return "k3s-over-usb lab k3s: Kubernetes " + parts.KubernetesVersion + " from k8s.io/kubernetes, not k3s's own build"
}

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

func run(argv []string, stdout, stderr io.Writer) int {
	// The install script links kubectl, crictl and ctr to this binary, as it does for real k3s.
	switch filepath.Base(argv[0]) {
	case "kubectl":
		return kubectl(argv[1:])
	case "ctr":
		return ctr(argv[1:], stderr)
	case "crictl":
		return noCrictl(stderr)
	}
	args := argv[1:]
	if len(args) == 0 {
		usage(stderr)
		return 1
	}
	switch args[0] {
	case "--version", "-v":
		fmt.Fprintf(stdout, "k3s version %s (%s)\ngo version %s\n", version, labNote(), runtime.Version())
		return 0
	case "--help", "-h", "help":
		usage(stdout)
		return 0
	case "server":
		return serverMain(args[1:], stdout, stderr)
	case "agent":
		return agentMain(args[1:], stderr)
	case "kubectl":
		return kubectl(args[1:])
	case "ctr":
		return ctr(args[1:], stderr)
	case "crictl":
		return noCrictl(stderr)
	}
	// The launcher starts each part as `k3s <part> ...`.
	if code, ok := parts.Run(args[0], args[1:]); ok {
		return code
	}
	if strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(stderr, "unknown flag: %s\n", args[0])
		return 1
	}
	fmt.Fprintf(stderr, "the %s does not support 'k3s %s'; it supports: server, agent, kubectl, ctr, --version\n", labNote(), args[0])
	return 1
}

// kubectl is the real kubectl; like k3s's, it falls back to k3s.yaml when nothing else names a
// kubeconfig.
func kubectl(args []string) int {
	if os.Getenv("KUBECONFIG") == "" && !hasFlag(args, "--kubeconfig") {
		home, _ := os.UserHomeDir()
		if _, err := os.Stat(filepath.Join(home, ".kube", "config")); err != nil {
			if _, err := os.Stat(kubeconfigPath); err == nil {
				os.Setenv("KUBECONFIG", kubeconfigPath)
			}
		}
	}
	code, _ := parts.Run("kubectl", args)
	return code
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// ctr is containerd's own client on k3s's socket and the namespace the kubelet's images live in.
func ctr(args []string, stderr io.Writer) int {
	bin := ctrPath()
	argv := []string{bin}
	if os.Getenv("CONTAINERD_ADDRESS") == "" {
		argv = append(argv, "--address", containerdSocket)
	}
	if os.Getenv("CONTAINERD_NAMESPACE") == "" {
		argv = append(argv, "--namespace", "k8s.io")
	}
	err := syscall.Exec(bin, append(argv, args...), os.Environ())
	fmt.Fprintf(stderr, "ctr: %v\n", err)
	return 1
}

func noCrictl(stderr io.Writer) int {
	fmt.Fprintf(stderr, "crictl: not part of the %s (cri-tools is not built); use `k3s ctr` or kubectl\n", labNote())
	return 1
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `k3s %s (%s)

Usage:
  k3s --version
  k3s server [--config FILE] [--FLAG=VALUE ...]
  k3s agent  [--config FILE] [--FLAG=VALUE ...]
  k3s kubectl ...               (also as a symlink named kubectl)
  k3s ctr ...                   (containerd's ctr on k3s's socket)

server flags: %s
agent flags:  %s
Config file keys are the same names; the default file is /etc/rancher/k3s/config.yaml.
`, version, labNote(), flagNames(serverFlags), flagNames(agentFlags))
}
