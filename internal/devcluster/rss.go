package devcluster

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
