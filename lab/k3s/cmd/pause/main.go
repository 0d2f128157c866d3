// Command pause is the pod sandbox's process (registry.k8s.io/pause), as Kubernetes'
// build/pause/linux/pause.c: it holds the pod's namespaces open, reaps the children that PID 1 of
// a shared PID namespace inherits, and exits 0 when the runtime stops the sandbox.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version matches the image tag, as upstream's pause -v prints its VERSION.
const version = "3.10"

func main() {
	if len(os.Args) == 2 && os.Args[1] == "-v" {
		fmt.Printf("pause.go %s\n", version)
		return
	}
	if os.Getpid() != 1 {
		// Upstream prints the same: outside a PID namespace nothing is reaped here.
		fmt.Fprintln(os.Stderr, "Warning: pause should be the first process")
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
}

// reap collects every child that has exited; signals coalesce, so one SIGCHLD may stand for many.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
