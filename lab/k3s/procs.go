package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procs runs the real Kubernetes parts as child processes of one k3s process, as k3s runs its
// embedded ones: when any of them exits, the whole k3s process fails, and the service manager
// (OpenRC's supervise-daemon, systemd's Restart=always) starts everything again. Each part's
// output goes to its own log file, whose last lines are in the error when it dies.
type procs struct {
	lg      logger
	logDir  string
	mu      sync.Mutex
	running []*child
	stopped bool
	exited  chan error
}

type child struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func newProcs(lg logger, logDir string) (*procs, error) {
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return nil, err
	}
	return &procs{lg: lg, logDir: logDir, exited: make(chan error, 16)}, nil
}

// selfPath is this binary, so a part runs as `k3s <part> ...` and shows as such in ps.
func selfPath() string {
	if p, err := os.Executable(); err == nil {
		return p
	}
	return "/proc/self/exe"
}

// startPart runs one of the parts linked into this binary (kubelet, kube-apiserver, flannel, ...).
func (p *procs) startPart(name string, args []string, env ...string) error {
	return p.start(name, selfPath(), append([]string{name}, args...), env...)
}

func (p *procs) start(name, path string, args []string, env ...string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return errors.New("shutting down")
	}
	logPath := filepath.Join(p.logDir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "---- %s: %s %s\n", time.Now().Format(time.RFC3339), path, strings.Join(args, " "))
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	// A k3s process killed with SIGKILL must not leave its parts running against nobody.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("starting %s: %v", name, err)
	}
	c := &child{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	p.running = append(p.running, c)
	p.lg.Infof("Started %s (pid %d, log %s)", name, cmd.Process.Pid, logPath)
	go func() {
		err := cmd.Wait()
		f.Close()
		close(c.done)
		p.mu.Lock()
		stopping := p.stopped
		p.mu.Unlock()
		if !stopping {
			p.exited <- fmt.Errorf("%s exited (%v); last lines of %s:\n%s", name, err, logPath, tailFile(logPath, 8))
		}
	}()
	return nil
}

// alive reports whether the named part is still running.
func (p *procs) alive(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.running {
		if c.name == name {
			select {
			case <-c.done:
				return false
			default:
				return true
			}
		}
	}
	return false
}

// stop ends the parts in the reverse order of their start (kubelet before containerd, the API
// server before etcd), each with SIGTERM and then SIGKILL after its grace period.
func (p *procs) stop() {
	p.mu.Lock()
	p.stopped = true
	list := append([]*child(nil), p.running...)
	p.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		c := list[i]
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			p.lg.Warnf("%s did not stop within 10 s; killing it", c.name)
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
}

// wait blocks until ctx ends (nil) or a part exits (its error).
func (p *procs) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-p.exited:
		return err
	}
}

// waitFor polls ready until it returns nil, a part exits, ctx ends or the deadline passes; the
// error then says what was awaited and the last reason it was not there yet.
func (p *procs) waitFor(ctx context.Context, what string, timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if last = ready(); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not ready after %s: %v", what, timeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-p.exited:
			p.exited <- err
			return fmt.Errorf("%s: %v", what, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "  (" + err.Error() + ")"
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	for i, l := range lines {
		if len(l) > 400 {
			l = l[:400] + "..."
		}
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}
