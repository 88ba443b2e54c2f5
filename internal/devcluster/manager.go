package devcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"runbook-operator/test/harness"
)

// AgentImage is the image the manager is told to run agent Jobs with; the node agent
// maps its repository to the agent binary. Naming it explicitly keeps an AGENT_IMAGE
// variable in the caller's environment from pointing Jobs at an unmapped image, whose
// pods would be reported Running without anything running.
const AgentImage = "ghcr.io/runbook-operator/runbook-operator:devcluster"

// ManagerArgs are the flags the manager needs on the host: agent Jobs use AgentImage,
// and the probe and metrics servers stay off so that several devclusters (and their
// managers) can run on one machine without fighting over ports. Progress is read
// every second (agents print every 500 ms), so the demo's and e2e's backups of a
// few seconds show it move.
func ManagerArgs() []string {
	return []string{"--agent-image=" + AgentImage, "--health-probe-bind-address=0", "--metrics-bind-address=0", "--progress-interval=1s"}
}

// managerStartTimeout bounds how long StartManager waits for the controllers.
const managerStartTimeout = time.Minute

// StartManager runs the operator's manager (cmd/manager built at bin) on the host
// against the cluster with ManagerArgs, Monitoring.ManagerArgs (when monitoring runs)
// and args, and returns once every
// controller it registered has synced its caches and started its workers, so a
// resource created afterwards is reconciled at once. Its output goes to
// LogDir/manager.log; Stop terminates it.
func (c *Cluster) StartManager(ctx context.Context, bin string, args ...string) (*HostProcess, error) {
	var offset int64 // the log is appended to across restarts: read only this run's part
	if fi, err := os.Stat(filepath.Join(c.LogDir, "manager.log")); err == nil {
		offset = fi.Size()
	}
	var env []string
	if c.managerKubeconfig != "" {
		env = append(env, "KUBECONFIG="+c.managerKubeconfig) // the last KUBECONFIG wins
	}
	argv := append([]string{bin}, ManagerArgs()...)
	if c.Monitoring != nil { // metrics for Prometheus, the receiver for Alertmanager
		argv = append(argv, c.Monitoring.ManagerArgs()...)
	}
	p, err := c.StartProcess("manager", append(argv, args...), env...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, managerStartTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.Done():
			return nil, fmt.Errorf("the manager exited while starting (%v); see %s", p.Err(), p.LogPath)
		case <-ctx.Done():
			p.Stop(kcmStopTimeout)
			return nil, fmt.Errorf("the manager did not start its controllers within %s; see %s", managerStartTimeout, p.LogPath)
		case <-tick.C:
		}
		data, err := os.ReadFile(p.LogPath)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		if int64(len(data)) >= offset && ControllersStarted(string(data[offset:])) {
			return p, nil
		}
	}
}

var controllerField = regexp.MustCompile(`"controller":"([^"]+)"`)

// ControllersStarted reports whether a controller-runtime manager's JSON log shows
// "Starting workers" for every controller that logged "Starting EventSource": each
// controller starts its event sources first and its workers once its caches synced.
func ControllersStarted(log string) bool {
	sources, workers := map[string]bool{}, map[string]bool{}
	for line := range strings.SplitSeq(log, "\n") {
		m := controllerField.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		switch {
		case strings.Contains(line, `"msg":"Starting EventSource"`):
			sources[m[1]] = true
		case strings.Contains(line, `"msg":"Starting workers"`):
			workers[m[1]] = true
		}
	}
	if len(sources) == 0 {
		return false
	}
	for name := range sources {
		if !workers[name] {
			return false
		}
	}
	return true
}

// RunManagerAs makes StartManager run the manager as its own ServiceAccount bound to
// the ClusterRole in roleFile (config/rbac/role.yaml) instead of as the admin, so a
// rule missing from the RBAC markers is refused as in a real cluster (the API server
// also enforces owner-reference permissions).
func (c *Cluster) RunManagerAs(ctx context.Context, roleFile string) error {
	manager, err := harness.BindManagerRole(ctx, c.Client, roleFile)
	if err != nil {
		return err
	}
	cfg, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		return err
	}
	for _, user := range cfg.AuthInfos {
		user.Impersonate = manager
	}
	path := filepath.Join(c.Dir, "manager.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return err
	}
	c.managerKubeconfig = path
	return nil
}
