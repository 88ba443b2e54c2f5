package devcluster

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

func TestDefaultImages(t *testing.T) {
	images := DefaultImages("/b/agent", "/b/manager")
	tests := []struct {
		image   string
		command []string
		args    []string
		want    []string
	}{
		{"ghcr.io/runbook-operator/runbook-operator:latest", []string{"/agent", "backup"}, []string{"--bucket", "b"}, []string{"/b/agent", "backup", "--bucket", "b"}},
		{"runbook-operator:dev", nil, []string{"check"}, []string{"/b/agent", "check"}},
		{"ghcr.io/runbook-operator/runbook-operator:v1", []string{"/manager"}, []string{"--leader-elect"}, []string{"/b/manager", "--leader-elect"}},
	}
	for _, tt := range tests {
		mp, ok := images.Lookup(tt.image)
		if !ok {
			t.Fatalf("%s is not mapped", tt.image)
		}
		got, err := mp.Argv(tt.command, tt.args, nil)
		if err != nil {
			t.Fatalf("%s %v: %v", tt.image, tt.command, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s %v %v = %q, want %q", tt.image, tt.command, tt.args, got, tt.want)
		}
	}
	if _, ok := DefaultImages("", "").Lookup("runbook-operator:dev"); ok {
		t.Error("the operator image is mapped without an agent binary")
	}
}

func TestRenameContext(t *testing.T) {
	in := []byte(`apiVersion: v1
kind: Config
clusters: [{name: envtest, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: admin, user: {token: x}}]
contexts: [{name: default, context: {cluster: envtest, user: admin}}]
current-context: default
`)
	cfg, err := clientcmd.Load(renameContext(in))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "devcluster" || cfg.Contexts["devcluster"] == nil || cfg.Contexts["devcluster"].AuthInfo != "admin" {
		t.Fatalf("contexts = %v, current %q", cfg.Contexts, cfg.CurrentContext)
	}
}

func TestDeathSignalWrapper(t *testing.T) {
	dir := t.TempDir()
	path := deathSignalWrapper(dir, "/assets", "etcd")
	if path == "/assets/etcd" {
		t.Skip("setpriv is not installed")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "--pdeathsig KILL -- /assets/etcd \"$@\"") {
		t.Fatalf("wrapper = %q", data)
	}
}

func TestProcessesIncludesThisProcess(t *testing.T) {
	procs := Processes()
	if len(procs) == 0 || procs[0].PID != os.Getpid() || procs[0].RSSBytes <= 0 {
		t.Fatalf("Processes() = %+v", procs)
	}
}

func TestControllersStarted(t *testing.T) {
	src := func(c string) string {
		return `{"level":"info","msg":"Starting EventSource","controller":"` + c + `","source":"kind source"}`
	}
	workers := func(c string) string {
		return `{"level":"info","msg":"Starting workers","controller":"` + c + `","worker count":1}`
	}
	ctrl := func(c string) string { return `{"level":"info","msg":"Starting Controller","controller":"` + c + `"}` }
	tests := []struct {
		name string
		log  []string
		want bool
	}{
		{"nothing yet", []string{`{"level":"info","logger":"setup","msg":"starting manager"}`}, false},
		{"one of two started", []string{src("a"), src("b"), ctrl("a"), workers("a"), ctrl("b")}, false},
		{"both started", []string{src("a"), src("b"), src("b"), ctrl("a"), workers("a"), ctrl("b"), workers("b")}, true},
	}
	for _, tt := range tests {
		if got := ControllersStarted(strings.Join(tt.log, "\n")); got != tt.want {
			t.Errorf("%s: ControllersStarted = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestMemorySummary(t *testing.T) {
	m := summarize([]ProcessInfo{
		{PID: 1, Name: "demo", RSSBytes: 50 << 20},
		{PID: 2, Name: "kube-apiserver", RSSBytes: 300 << 20},
		{PID: 3, Name: "postgres", RSSBytes: 20 << 20},
		{PID: 4, Name: "postgres", RSSBytes: 40 << 20},
	})
	want := "4 processes use 410 MiB RSS (kube-apiserver 300 MiB, postgres 60 MiB, demo 50 MiB)"
	if m.Total != 410<<20 || m.String() != want {
		t.Errorf("summary %d bytes, %q; want %q", m.Total, m.String(), want)
	}
	if live := Memory(); live.Processes < 1 || live.Total <= 0 {
		t.Errorf("Memory() of this test process: %+v", live)
	}
}
