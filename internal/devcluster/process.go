package devcluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// HostProcess is a program the devcluster runs beside the cluster (the operator's
// manager, for instance) and stops with it.
type HostProcess struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
}

// StartProcess runs argv on the host with KUBECONFIG pointing at the cluster's admin
// kubeconfig (plus env), output in LogDir/NAME.log, in its own process group that
// Stop terminates.
func (c *Cluster) StartProcess(name string, argv []string, env ...string) (*HostProcess, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("devcluster: no command for %s", name)
	}
	logPath := filepath.Join(c.LogDir, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+c.Kubeconfig), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &HostProcess{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	c.procMu.Lock()
	c.procs = append(c.procs, p)
	c.procMu.Unlock()
	c.log.Info("started host process", "name", name, "pid", cmd.Process.Pid, "log", logPath)
	return p, nil
}

// Done is closed when the process has exited; Err then tells how.
func (p *HostProcess) Done() <-chan struct{} { return p.done }

// Err is the process's exit error (nil for exit status 0 or while it runs).
func (p *HostProcess) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Stop sends SIGTERM to the process group and SIGKILL after grace.
func (p *HostProcess) Stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
	}
}

// Kill sends SIGKILL to the process group, as a crash or the kernel's OOM killer ends
// a process (no signal handler runs, nothing is flushed or released), and returns once
// it has exited.
func (p *HostProcess) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}
