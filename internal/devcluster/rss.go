package devcluster

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ProcessInfo is one process of the cluster with its resident memory.
type ProcessInfo struct {
	PID      int
	Name     string
	RSSBytes int64
}

// Processes lists this process and all its descendants (control plane, PostgreSQL,
// S3 server, pod processes) with their resident set size, read from /proc.
func Processes() []ProcessInfo {
	children := map[int][]int{}
	names := map[int]string{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		s := string(data)
		open, closeIdx := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closeIdx < 0 || closeIdx+2 >= len(s) {
			continue
		}
		fields := strings.Fields(s[closeIdx+2:])
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		children[ppid] = append(children[ppid], pid)
		names[pid] = s[open+1 : closeIdx]
	}
	var out []ProcessInfo
	queue := []int{os.Getpid()}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		out = append(out, ProcessInfo{PID: pid, Name: names[pid], RSSBytes: rss(pid)})
		queue = append(queue, children[pid]...)
	}
	return out
}

// TotalRSS sums the resident memory of Processes.
func TotalRSS() (bytes int64, count int) {
	for _, p := range Processes() {
		bytes += p.RSSBytes
		count++
	}
	return bytes, count
}

func rss(pid int) int64 {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "VmRSS:") {
			fields := strings.Fields(line)
			if len(fields) >= 2 {
				kb, _ := strconv.ParseInt(fields[1], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// MemoryUsage is the resident memory of this process and its descendants, summed by
// program name.
type MemoryUsage struct {
	Total     int64
	Processes int
	// ByName is largest first.
	ByName []NamedRSS
}

// NamedRSS is the resident memory of all processes of one program.
type NamedRSS struct {
	Name  string
	Bytes int64
}

// Memory measures MemoryUsage now.
func Memory() MemoryUsage { return summarize(Processes()) }

func summarize(procs []ProcessInfo) MemoryUsage {
	var m MemoryUsage
	byName := map[string]int64{}
	for _, p := range procs {
		m.Total += p.RSSBytes
		m.Processes++
		byName[p.Name] += p.RSSBytes
	}
	for name, b := range byName {
		m.ByName = append(m.ByName, NamedRSS{Name: name, Bytes: b})
	}
	slices.SortFunc(m.ByName, func(a, b NamedRSS) int {
		return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), cmp.Compare(a.Name, b.Name))
	})
	return m
}

// String is "12 processes use 643 MiB RSS (kube-apiserver 328 MiB, ...)".
func (m MemoryUsage) String() string {
	parts := make([]string, 0, len(m.ByName))
	for _, n := range m.ByName {
		parts = append(parts, fmt.Sprintf("%s %d MiB", n.Name, n.Bytes>>20))
	}
	return fmt.Sprintf("%d processes use %d MiB RSS (%s)", m.Processes, m.Total>>20, strings.Join(parts, ", "))
}

// TrackPeakMemory measures Memory every interval until ctx ends; the returned function
// gives the measurement with the largest total so far.
func TrackPeakMemory(ctx context.Context, interval time.Duration) func() MemoryUsage {
	var mu sync.Mutex
	peak := Memory()
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			m := Memory()
			mu.Lock()
			if m.Total > peak.Total {
				peak = m
			}
			mu.Unlock()
		}
	}()
	return func() MemoryUsage {
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}
