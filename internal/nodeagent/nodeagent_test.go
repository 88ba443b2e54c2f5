package nodeagent

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestImageLookupAndArgv(t *testing.T) {
	images := ImageMap{
		{Image: "demoapp", Binary: "/bin/demoapp", Entrypoints: []string{"python"}},
		{Image: "ghcr.io/runbook-operator/runbook-operator", Binary: "/bin/agent", Entrypoints: []string{"/agent"},
			Commands: map[string]string{"/manager": "/bin/manager"}},
		{Image: "ghcr.io/acme/*", Binary: "/bin/acme"},
		{Image: "ghcr.io/acme/special/*", Binary: "/bin/special"},
	}
	lookPath := func(name string) (string, error) {
		if name == "sh" {
			return "/usr/bin/sh", nil
		}
		return "", errors.New("not found")
	}
	tests := []struct {
		name, image   string
		command, args []string
		wantMapped    bool
		want          []string
		wantErr       string
	}{
		{name: "tag", image: "demoapp:1.2.0", args: []string{"serve"}, wantMapped: true, want: []string{"/bin/demoapp", "serve"}},
		{name: "no tag", image: "demoapp", args: []string{"migrate"}, wantMapped: true, want: []string{"/bin/demoapp", "migrate"}},
		{name: "entrypoint alias", image: "demoapp:1", command: []string{"python", "manage.py"}, args: []string{"migrate"}, wantMapped: true,
			want: []string{"/bin/demoapp", "manage.py", "migrate"}},
		{name: "binary base name", image: "demoapp@sha256:abc", command: []string{"/app/demoapp", "collectstatic"}, wantMapped: true,
			want: []string{"/bin/demoapp", "collectstatic"}},
		{name: "registry with port is not a tag", image: "localhost:5000/demoapp", wantMapped: false},
		{name: "other command", image: "ghcr.io/runbook-operator/runbook-operator:v0.1.0", command: []string{"/manager"}, args: []string{"--leader-elect"},
			wantMapped: true, want: []string{"/bin/manager", "--leader-elect"}},
		{name: "agent entrypoint", image: "ghcr.io/runbook-operator/runbook-operator:v0.1.0", command: []string{"/agent", "backup"},
			wantMapped: true, want: []string{"/bin/agent", "backup"}},
		{name: "host command", image: "demoapp:1", command: []string{"sh", "-c", "exit 3"}, wantMapped: true, want: []string{"/usr/bin/sh", "-c", "exit 3"}},
		{name: "unknown command", image: "demoapp:1", command: []string{"/usr/local/bin/celery"}, wantMapped: true, wantErr: "celery"},
		{name: "prefix", image: "ghcr.io/acme/api:2", wantMapped: true, want: []string{"/bin/acme"}},
		{name: "longest prefix wins", image: "ghcr.io/acme/special/x:2", wantMapped: true, want: []string{"/bin/special"}},
		{name: "unmapped", image: "redis:7", wantMapped: false},
		{name: "name prefix is not a match", image: "demoapp-worker:1", wantMapped: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mp, ok := images.Lookup(tt.image)
			if ok != tt.wantMapped {
				t.Fatalf("Lookup(%q) mapped = %v, want %v", tt.image, ok, tt.wantMapped)
			}
			if !ok {
				return
			}
			got, err := mp.Argv(tt.command, tt.args, lookPath)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Argv error = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Argv = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRepositoryAndTag(t *testing.T) {
	tests := []struct{ image, repo, tag string }{
		{"demoapp", "demoapp", ""},
		{"demoapp:1.2.3", "demoapp", "1.2.3"},
		{"localhost:5000/demoapp:v2", "localhost:5000/demoapp", "v2"},
		{"localhost:5000/demoapp", "localhost:5000/demoapp", ""},
		{"ghcr.io/x/y@sha256:0123", "ghcr.io/x/y", ""},
		{"ghcr.io/x/y:1@sha256:0123", "ghcr.io/x/y", "1"},
	}
	for _, tt := range tests {
		if got := Repository(tt.image); got != tt.repo {
			t.Errorf("Repository(%q) = %q, want %q", tt.image, got, tt.repo)
		}
		if got := Tag(tt.image); got != tt.tag {
			t.Errorf("Tag(%q) = %q, want %q", tt.image, got, tt.tag)
		}
	}
}

type fakeObjects struct {
	secrets    map[string]*corev1.Secret
	configMaps map[string]*corev1.ConfigMap
}

func (f fakeObjects) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	if s, ok := f.secrets[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

func (f fakeObjects) ConfigMap(_ context.Context, ns, name string) (*corev1.ConfigMap, error) {
	if c, ok := f.configMaps[ns+"/"+name]; ok {
		return c, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
}

func TestResolveEnv(t *testing.T) {
	src := fakeObjects{
		secrets: map[string]*corev1.Secret{
			"demo/db": {Data: map[string][]byte{"host": []byte("127.0.0.1"), "password": []byte("s3cret"), "bad-name": []byte("x")}},
		},
		configMaps: map[string]*corev1.ConfigMap{
			"demo/cfg": {Data: map[string]string{"LOG_LEVEL": "debug", "HOST": "from-cm"}},
		},
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "demo", UID: "u-1",
		Labels: map[string]string{"app": "web"}}}
	info := RuntimeInfo{PodIP: "198.19.1.2", HostIP: "127.0.0.1", NodeName: "devcluster",
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}
	secretRef := func(name, key string, optional bool) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: ptr.To(optional)}}
	}
	tests := []struct {
		name    string
		c       corev1.Container
		want    []EnvVar
		wantErr string
	}{
		{
			name: "plain, expansion and escapes",
			c: corev1.Container{Env: []corev1.EnvVar{
				{Name: "A", Value: "1"},
				{Name: "B", Value: "$(A)-$(MISSING)-$$(A)-$"},
			}},
			want: []EnvVar{{"A", "1"}, {"B", "1-$(MISSING)-$(A)-$"}},
		},
		{
			name: "secretKeyRef and configMapKeyRef",
			c: corev1.Container{Env: []corev1.EnvVar{
				{Name: "PGPASSWORD", ValueFrom: secretRef("db", "password", false)},
				{Name: "LEVEL", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "LOG_LEVEL"}}},
			}},
			want: []EnvVar{{"PGPASSWORD", "s3cret"}, {"LEVEL", "debug"}},
		},
		{
			name: "envFrom with prefix, env overrides",
			c: corev1.Container{
				EnvFrom: []corev1.EnvFromSource{
					{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}}, Prefix: "DB_"},
					{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
				},
				Env: []corev1.EnvVar{{Name: "HOST", Value: "$(DB_host):5432"}},
			},
			want: []EnvVar{{"DB_bad-name", "x"}, {"DB_host", "127.0.0.1"}, {"DB_password", "s3cret"}, {"HOST", "127.0.0.1:5432"}, {"LOG_LEVEL", "debug"}},
		},
		{
			name: "fieldRef and resourceFieldRef",
			c: corev1.Container{Env: []corev1.EnvVar{
				{Name: "NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				{Name: "IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
				{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
				{Name: "CPU", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
			}},
			want: []EnvVar{{"NAME", "web-1"}, {"IP", "198.19.1.2"}, {"APP", "web"}, {"CPU", "2"}},
		},
		{
			name: "optional missing secret and key are skipped",
			c: corev1.Container{Env: []corev1.EnvVar{
				{Name: "X", ValueFrom: secretRef("nope", "k", true)},
				{Name: "Y", ValueFrom: secretRef("db", "nope", true)},
			}},
			want: nil,
		},
		{
			name:    "missing secret is an error",
			c:       corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: secretRef("nope", "k", false)}}},
			wantErr: `secret "nope"`,
		},
		{
			name:    "missing key is an error",
			c:       corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: secretRef("db", "user", false)}}},
			wantErr: "couldn't find key user",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveEnv(context.Background(), pod, &tt.c, src, info)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("env = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestContainerEnvAndTerminationPathRewrite(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "job-1", Namespace: "demo"}}
	c := &corev1.Container{Image: "runbook-operator:v1"}
	env := ContainerEnv(pod, c, []EnvVar{{"RESULT", "/dev/termination-log"}, {"POD_NAME", "override"}},
		EnvContext{PodIP: "198.19.1.9", PodDir: "/state/p", TerminationLog: "/state/p/c/termination-log", Path: []string{"/img/1.0.0/bin"}})
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := m[k]; dup {
			t.Fatalf("duplicate %s in %v", k, env)
		}
		m[k] = v
	}
	want := map[string]string{
		"POD_IP": "198.19.1.9", "POD_NAME": "override", "HOSTNAME": "job-1",
		TerminationLogEnv: "/state/p/c/termination-log", "RESULT": "/state/p/c/termination-log",
		"RUNBOOK_IMAGE_TAG": "v1",
	}
	if !strings.HasPrefix(m["PATH"], "/img/1.0.0/bin:") || len(m["PATH"]) <= len("/img/1.0.0/bin:") {
		t.Errorf("PATH = %q, want the image's folder before the host's", m["PATH"])
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %q, want %q", k, m[k], v)
		}
	}
	args := RewritePath([]string{"backup", "--termination-log=/dev/termination-log", "/dev/termination-log"}, "/dev/termination-log", "/x/t")
	if !reflect.DeepEqual(args, []string{"backup", "--termination-log=/x/t", "/x/t"}) {
		t.Fatalf("RewritePath = %q", args)
	}
}

func running() corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
}

func terminated(code int32) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}
}

func waiting(reason string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
}

func TestPhase(t *testing.T) {
	tests := []struct {
		name string
		run  PodRun
		want corev1.PodPhase
	}{
		{"creating", PodRun{InitDone: true, Containers: []ContainerRun{{State: waiting("ContainerCreating")}}}, corev1.PodPending},
		{"init running", PodRun{Init: []ContainerRun{{State: running()}}, Containers: []ContainerRun{{State: waiting("PodInitializing")}}}, corev1.PodPending},
		{"init failed for good", PodRun{Init: []ContainerRun{{State: terminated(1), Final: true}}, Containers: []ContainerRun{{State: waiting("PodInitializing")}}}, corev1.PodFailed},
		{"running", PodRun{InitDone: true, Containers: []ContainerRun{{State: running()}, {State: terminated(0), Final: true}}}, corev1.PodRunning},
		{"crash loop counts as running", PodRun{InitDone: true, Containers: []ContainerRun{{State: waiting("CrashLoopBackOff"), LastState: terminated(1)}}}, corev1.PodRunning},
		{"succeeded", PodRun{InitDone: true, Containers: []ContainerRun{{State: terminated(0), Final: true}, {State: terminated(0), Final: true}}}, corev1.PodSucceeded},
		{"failed", PodRun{InitDone: true, Containers: []ContainerRun{{State: terminated(0), Final: true}, {State: terminated(2), Final: true}}}, corev1.PodFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.run.Phase(); got != tt.want {
				t.Fatalf("Phase = %s, want %s", got, tt.want)
			}
		})
	}
}

func condition(st corev1.PodStatus, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

func TestBuildStatus(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	earlier := metav1.NewTime(now.Add(-time.Hour))
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Generation: 3},
		Status: corev1.PodStatus{QOSClass: corev1.PodQOSBestEffort, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: earlier},
			{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "EvictionByEvictionAPI"},
		}},
	}
	tests := []struct {
		name          string
		run           PodRun
		wantPhase     corev1.PodPhase
		wantReady     corev1.ConditionStatus
		wantReadyTime metav1.Time
		wantReason    string
	}{
		{
			name:      "ready keeps its transition time",
			run:       PodRun{PodIP: "198.19.1.2", HostIP: "127.0.0.1", InitDone: true, Containers: []ContainerRun{{Name: "web", State: running(), Ready: true}}},
			wantPhase: corev1.PodRunning, wantReady: corev1.ConditionTrue, wantReadyTime: earlier,
		},
		{
			name:      "not ready",
			run:       PodRun{PodIP: "198.19.1.2", InitDone: true, Containers: []ContainerRun{{Name: "web", State: running()}}},
			wantPhase: corev1.PodRunning, wantReady: corev1.ConditionFalse, wantReadyTime: metav1.NewTime(now), wantReason: "ContainersNotReady",
		},
		{
			name:      "completed",
			run:       PodRun{PodIP: "198.19.1.2", InitDone: true, Containers: []ContainerRun{{Name: "job", State: terminated(0), Final: true, Ready: true}}},
			wantPhase: corev1.PodSucceeded, wantReady: corev1.ConditionFalse, wantReadyTime: metav1.NewTime(now), wantReason: "PodCompleted",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := BuildStatus(pod, tt.run, now)
			if st.Phase != tt.wantPhase {
				t.Fatalf("phase = %s, want %s", st.Phase, tt.wantPhase)
			}
			ready := condition(st, corev1.PodReady)
			if ready == nil || ready.Status != tt.wantReady || !ready.LastTransitionTime.Equal(&tt.wantReadyTime) || ready.Reason != tt.wantReason {
				t.Fatalf("Ready condition = %+v, want %s since %s reason %q", ready, tt.wantReady, tt.wantReadyTime, tt.wantReason)
			}
			if c := condition(st, corev1.DisruptionTarget); c == nil || c.Reason != "EvictionByEvictionAPI" {
				t.Fatalf("a condition the node does not own was dropped: %+v", st.Conditions)
			}
			if st.PodIP != tt.run.PodIP || len(st.PodIPs) != 1 || st.QOSClass != corev1.PodQOSBestEffort {
				t.Fatalf("status = %+v", st)
			}
			if len(st.ContainerStatuses) != 1 || st.ContainerStatuses[0].Ready != (tt.wantReady == corev1.ConditionTrue) {
				t.Fatalf("container statuses = %+v", st.ContainerStatuses)
			}
			// Building again from the written status changes nothing (no update loop).
			written := pod.DeepCopy()
			written.Status = st
			if again := BuildStatus(written, tt.run, now.Add(time.Minute)); !statusEqual(again, st) {
				t.Fatalf("status not stable:\n%+v\n%+v", again, st)
			}
		})
	}
}

func TestIPPool(t *testing.T) {
	p := newIPPool(mustAddr("198.19.5.253"), mustAddr("198.19.6.3"))
	var got []string
	for range 4 {
		ip, err := p.Allocate()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ip)
	}
	want := []string{"198.19.5.253", "198.19.5.254", "198.19.6.2", "198.19.6.3"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("allocated %v, want %v (.255, .0 and .1 skipped)", got, want)
	}
	if _, err := p.Allocate(); err == nil {
		t.Fatal("allocated from a full pool")
	}
	p.Release("198.19.5.254")
	if ip, err := p.Allocate(); err != nil || ip != "198.19.5.254" {
		t.Fatalf("after release got %q, %v", ip, err)
	}
}

func TestResolvePortAndTail(t *testing.T) {
	c := &corev1.Container{Name: "web", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8000}}}
	for _, tt := range []struct {
		port intstr.IntOrString
		want int
		err  bool
	}{{intstr.FromInt32(81), 81, false}, {intstr.FromString("http"), 8000, false}, {intstr.FromString("grpc"), 0, true}} {
		got, err := ResolvePort(tt.port, c)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ResolvePort(%v) = %d, %v", tt.port, got, err)
		}
	}
	if got := string(TailLines([]byte("a\nb\nc\n"), 2, 100)); got != "b\nc" {
		t.Errorf("TailLines = %q", got)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
