package devcluster

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// routeOwners records which process added each pod route, so that a later start can
// remove the routes of devclusters that were killed before they could clean up.
var routeOwners = filepath.Join(os.TempDir(), "runbook-devcluster-routes")

// PodNetworkParent is the range the devcluster takes a /24 of pod addresses from.
// EndpointSlices reject loopback addresses, so pods cannot simply use 127.0.0.x:
// instead the devcluster adds an "AnyIP" route (`ip route add local
// 198.19.R.0/24 dev lo`), which makes every address of that /24 local to this host
// so each pod's process can bind to its own address, and removes it on Stop.
// 198.18.0.0/15 is reserved for benchmarking (RFC 2544) and unused on real networks.
const PodNetworkParent = "198.19.0.0/16"

// podNetwork is the /24 a cluster owns.
type podNetwork struct {
	cidr        string // "198.19.R.0/24", empty when falling back to loopback
	first, last string
}

// setupPodNetwork claims a free 198.19.R.0/24 with a local route. Without the
// permission to add routes (not root) it falls back to 127.0.0.2-254, where pods run
// but EndpointSlices stay empty.
func setupPodNetwork() (podNetwork, error) {
	ip, err := exec.LookPath("ip")
	if err != nil {
		return loopbackNetwork(), fmt.Errorf("the ip command is missing: %w", err)
	}
	removeStaleRoutes(ip)
	var lastErr error
	for range 20 {
		r := 1 + rand.IntN(254) //nolint:gosec // G404: picks a free /24 for pod addresses; nothing secret
		cidr := fmt.Sprintf("198.19.%d.0/24", r)
		out, err := exec.Command(ip, "route", "add", "local", cidr, "dev", "lo").CombinedOutput()
		if err == nil {
			if os.MkdirAll(routeOwners, 0o755) == nil {
				_ = os.WriteFile(ownerFile(cidr), []byte(strconv.Itoa(os.Getpid())), 0o644)
			}
			return podNetwork{cidr: cidr, first: fmt.Sprintf("198.19.%d.2", r), last: fmt.Sprintf("198.19.%d.254", r)}, nil
		}
		lastErr = fmt.Errorf("ip route add local %s dev lo: %v: %s", cidr, err, strings.TrimSpace(string(out)))
		if !strings.Contains(string(out), "File exists") {
			break // no permission: retrying another range will not help
		}
	}
	return loopbackNetwork(), lastErr
}

func loopbackNetwork() podNetwork {
	return podNetwork{first: "127.0.0.2", last: "127.0.0.254"}
}

func (n podNetwork) teardown() error {
	if n.cidr == "" {
		return nil
	}
	out, err := exec.Command("ip", "route", "del", "local", n.cidr, "dev", "lo").CombinedOutput()
	_ = os.Remove(ownerFile(n.cidr))
	if err != nil {
		return fmt.Errorf("ip route del local %s dev lo: %v: %s", n.cidr, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func ownerFile(cidr string) string {
	return filepath.Join(routeOwners, strings.ReplaceAll(cidr, "/", "_"))
}

// removeStaleRoutes deletes the pod routes whose owning process is gone.
func removeStaleRoutes(ip string) {
	entries, err := os.ReadDir(routeOwners)
	if err != nil {
		return
	}
	for _, e := range entries {
		path := filepath.Join(routeOwners, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err == nil && pid > 0 && syscall.Kill(pid, 0) == nil {
			continue // still running (or the pid was reused: leave it)
		}
		cidr := strings.ReplaceAll(e.Name(), "_", "/")
		_ = exec.Command(ip, "route", "del", "local", cidr, "dev", "lo").Run()
		_ = os.Remove(path)
	}
}
