package nodeagent

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestFailureReport(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	r := &failureReport{interval: time.Minute}
	steps := []struct {
		at   time.Duration
		msg  string
		want bool
	}{
		{0, "HTTP probe failed with statuscode: 503", true},                 // the first failure
		{10 * time.Second, "HTTP probe failed with statuscode: 503", false}, // the same, within the interval
		{50 * time.Second, "HTTP probe failed with statuscode: 503", false}, // still within
		{60 * time.Second, "HTTP probe failed with statuscode: 503", true},  // once per interval
		{70 * time.Second, "HTTP probe failed with statuscode: 500", true},  // a new answer at once
		{80 * time.Second, "HTTP probe failed with statuscode: 503", true},  // and back
		{90 * time.Second, "HTTP probe failed with statuscode: 503", false}, // counted from the last report
		{140 * time.Second, "HTTP probe failed with statuscode: 503", true}, // a minute after 80 s
		{141 * time.Second, "dial tcp 10.0.0.1:80: connect: connection refused", true},
	}
	for _, s := range steps {
		if got := r.due(s.msg, t0.Add(s.at)); got != s.want {
			t.Errorf("at %s, %q: due = %v, want %v", s.at, s.msg, got, s.want)
		}
	}
}

// TestHTTPProbe probes a real HTTP server: the error is the kubelet's message, which
// names the status code and leaves the body out.
func TestHTTPProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte("ok"))
		case "/moved":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		case "/agent":
			if r.Header.Get("User-Agent") != "kube-probe/1.37" || r.Host != "web.example" || r.Header.Get("X-Probe") != "1" {
				w.WriteHeader(http.StatusBadRequest)
			}
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("schema: ProgrammingError: secret-looking body"))
		}
	}))
	defer srv.Close()
	host, portStr, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	c := &corev1.Container{Name: "web", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}}
	headers := []corev1.HTTPHeader{{Name: "Host", Value: "web.example"}, {Name: "X-Probe", Value: "1"}}
	tests := []struct {
		path    string
		port    intstr.IntOrString
		headers []corev1.HTTPHeader
		wantErr string
	}{
		{path: "/ok", port: intstr.FromString("http")},
		{path: "ok", port: intstr.FromInt32(int32(port))},
		{path: "/moved", port: intstr.FromString("http")},
		{path: "/agent", port: intstr.FromString("http"), headers: headers},
		{path: "/agent", port: intstr.FromString("http"), wantErr: "HTTP probe failed with statuscode: 400"},
		{path: "/health", port: intstr.FromString("http"), wantErr: "HTTP probe failed with statuscode: 503"},
		{path: "/ok", port: intstr.FromString("metrics"), wantErr: `container web has no port named "metrics"`},
	}
	for _, tt := range tests {
		err := httpProbe(context.Background(), &corev1.HTTPGetAction{Path: tt.path, Port: tt.port, HTTPHeaders: tt.headers}, c, host)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.path, err)
		case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
			t.Errorf("%s: error %v, want %q", tt.path, err, tt.wantErr)
		}
	}
	srv.Close()
	err := httpProbe(context.Background(), &corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt32(int32(port))}, c, host)
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "/ok") {
		t.Errorf("closed server: %v, want the URL and connection refused", err)
	}
}

func TestTCPProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := tcpProbe(context.Background(), "127.0.0.1", port); err != nil {
		t.Errorf("open port: %v", err)
	}
	_ = l.Close()
	if err := tcpProbe(context.Background(), "127.0.0.1", port); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("closed port: %v, want connection refused", err)
	}
}

// TestExecProbe runs host commands: a failing one reports its output, as the kubelet's
// "Liveness probe failed: cat: /tmp/healthy: No such file or directory" does.
func TestExecProbe(t *testing.T) {
	mapping, _ := ImageMap{{Image: "demoapp", Binary: "/bin/true"}}.Lookup("demoapp:1")
	pr := &prober{w: &podWorker{dir: t.TempDir()}, c: corev1.Container{Name: "web", Image: "demoapp:1"}, mapping: mapping}
	tests := []struct {
		command []string
		wantErr string
	}{
		{command: []string{"sh", "-c", "exit 0"}},
		{command: []string{"sh", "-c", "echo not healthy; exit 1"}, wantErr: "not healthy"},
		{command: []string{"sh", "-c", "exit 2"}, wantErr: "exit status 2"},
		{command: []string{"/usr/local/bin/no-such-program"}}, // nothing to run on the host: success
	}
	for _, tt := range tests {
		err := pr.execProbe(context.Background(), tt.command)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%v: %v", tt.command, err)
		case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
			t.Errorf("%v: error %v, want %q", tt.command, err, tt.wantErr)
		}
	}
}
