// Package parts holds the real programs the lab's k3s runs underneath, as k3s embeds them in its one
// binary: the upstream Kubernetes components, unchanged, and flannel's VXLAN overlay. The launcher
// re-executes its own binary with a part's name, so each process runs exactly one part and no two
// components share flags, metrics or feature gates.
package parts

import (
	"context"
	"os"
	"sort"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	"k8s.io/component-base/version"
	kubectl "k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/plugin"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	kubeapiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	kubecontrollermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	kubeproxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	kubescheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"

	// What each upstream main links in besides its command (k8s.io/kubernetes/cmd/*/*.go).
	_ "k8s.io/client-go/plugin/pkg/client/auth"           // kubectl: exec and OIDC credentials
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics on /metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // kubernetes_build_info
	_ "time/tzdata"                                       // CronJob timeZone without the host's zoneinfo
)

// KubernetesVersion is what every component reports (`kubelet --version`, the node's
// kubeletVersion): build.sh stamps it with -ldflags from the k8s.io/kubernetes version in go.mod,
// as Kubernetes' own hack/lib/version.sh does. Unstamped it reads v0.0.0-master.
var KubernetesVersion = version.Get().GitVersion

var parts = map[string]func(args []string) int{
	"kube-apiserver":          func(args []string) int { return runCommand(kubeapiserver.NewAPIServerCommand(), args) },
	"kube-controller-manager": func(args []string) int { return runCommand(kubecontrollermanager.NewControllerManagerCommand(), args) },
	"kube-scheduler":          func(args []string) int { return runCommand(kubescheduler.NewSchedulerCommand(), args) },
	"kubelet":                 runKubelet,
	"kube-proxy":              func(args []string) int { return runCommand(kubeproxy.NewProxyCommand(), args) },
	"kubectl":                 runKubectl,
	"flannel":                 runFlannel,
}

// Run runs the part called name with args (its own flags, without the program name) and returns
// its exit status; ok is false, and nothing runs, when name is not a part. Call it at most once
// per process: the components keep process-wide state (flags, metrics registries, feature gates).
func Run(name string, args []string) (exitCode int, ok bool) {
	run, ok := parts[name]
	if !ok {
		return 0, false
	}
	// cobra falls back to os.Args[1:] when given nil, which would hand the part the launcher's argv.
	if args == nil {
		args = []string{}
	}
	return run(args), true
}

// Names lists the parts, sorted.
func Names() []string {
	names := make([]string, 0, len(parts))
	for name := range parts {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// runCommand is each component's upstream main: cli.Run sets up logging, runs the command and
// flushes logs.
func runCommand(cmd *cobra.Command, args []string) int {
	cmd.SetArgs(args)
	return cli.Run(cmd)
}

func runKubelet(args []string) int {
	return runCommand(kubelet.NewKubeletCommand(context.Background()), args)
}

// runKubectl is k8s.io/kubernetes/cmd/kubectl's main with the arguments passed in: kubectl reads
// its verbosity and looks for plugins (kubectl-<verb> on PATH) from the argument list itself.
func runKubectl(args []string) int {
	argv := append([]string{"kubectl"}, args...)
	_, _ = logs.GlogSetter(kubectl.GetLogVerbosity(argv))
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	cmd := kubectl.NewDefaultKubectlCommandWithArgs(kubectl.KubectlOptions{
		PluginHandler: kubectl.NewDefaultPluginHandler(plugin.ValidPluginFilenamePrefixes),
		Arguments:     argv,
		// The flags NewDefaultKubectlCommand gives kubectl (its defaultConfigFlags is unexported).
		ConfigFlags: genericclioptions.NewConfigFlags(true).WithDeprecatedPasswordFlag().
			WithDiscoveryBurst(300).WithDiscoveryQPS(50.0).WithWarningPrinter(streams),
		IOStreams: streams,
	})
	cmd.SetArgs(args)
	if err := cli.RunNoErrOutput(cmd); err != nil {
		// Prints the error as kubectl does and exits with its status.
		kubectlutil.CheckErr(err)
	}
	return 0
}
