// Command k3s is the k3s-over-usb lab's stand-in for the k3s binary. Real k3s cannot run in the
// lab's network namespaces (no containerd, no kubelet there), yet the Pulumi program must be tested
// against something that keeps k3s's promises: the config file, the join token, node registration,
// node passwords, the admin kubeconfig and the few kubectl verbs the remote steps call. This binary
// keeps exactly those and refuses everything else by name, so a program bug fails in the lab
// instead of on a phone. README.md says what is real and what is not.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// version is set at build time (build.sh passes -ldflags "-X main.version=..."). The install step
// compares it with the pinned k3s version, so a binary built without it must never match.
var version = "v0.0.0-unset"

const standinNote = "k3s-over-usb lab stand-in"

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

func run(argv []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// The install script links kubectl, crictl and ctr to this binary, as it does for real k3s.
	switch filepath.Base(argv[0]) {
	case "kubectl":
		return kubectlMain(argv[1:], stdin, stdout, stderr)
	case "crictl", "ctr":
		return noRuntime(filepath.Base(argv[0]), stderr)
	}
	args := argv[1:]
	if len(args) == 0 {
		usage(stderr)
		return 1
	}
	switch args[0] {
	case "--version", "-v":
		fmt.Fprintf(stdout, "k3s version %s (%s)\ngo version %s\n", version, standinNote, runtime.Version())
		return 0
	case "--help", "-h", "help":
		usage(stdout)
		return 0
	case "server":
		return serverMain(args[1:], stdout, stderr)
	case "agent":
		return agentMain(args[1:], stderr)
	case "kubectl":
		return kubectlMain(args[1:], stdin, stdout, stderr)
	case "crictl", "ctr":
		return noRuntime(args[0], stderr)
	}
	if strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(stderr, "unknown flag: %s\n", args[0])
		return 1
	}
	fmt.Fprintf(stderr, "the %s does not support 'k3s %s'; it supports: server, agent, kubectl, --version\n", standinNote, args[0])
	return 1
}

func noRuntime(name string, stderr io.Writer) int {
	fmt.Fprintf(stderr, "%s: the %s runs no container runtime (no containerd, no pods); see its README.md\n", name, standinNote)
	return 1
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `k3s %s (%s)

Usage:
  k3s --version
  k3s server [--config FILE] [--FLAG=VALUE ...]
  k3s agent  [--config FILE] [--FLAG=VALUE ...]
  k3s kubectl VERB ...          (also as a symlink named kubectl)

server flags: %s
agent flags:  %s
Config file keys are the same names; the default file is /etc/rancher/k3s/config.yaml.
K3OU_STANDIN_ROOT, when set, is prefixed to every absolute path the binary touches.
`, version, standinNote, flagNames(serverFlags), flagNames(agentFlags))
}
