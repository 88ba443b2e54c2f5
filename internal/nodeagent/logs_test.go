package nodeagent

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestContainerLogsServesOnlyThePodsContainers serves the kubelet log endpoint over
// real HTTP: a container name from the URL that is not one of the pod's, such as an
// escaped path out of the pod's folder, is refused instead of read.
func TestContainerLogsServesOnlyThePodsContainers(t *testing.T) {
	root := t.TempDir()
	podDir := filepath.Join(root, "pods", "demo_web")
	if err := os.MkdirAll(podDir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(podDir, "app.log"), []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "secret.log"), []byte("not for you\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "web", UID: "u1"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}
	a := &Agent{workers: map[types.UID]*podWorker{"u1": {key: "demo/web", dir: podDir, pod: pod}}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", a.containerLogs)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, tt := range []struct {
		path     string
		wantCode int
		wantBody string
	}{
		{"/containerLogs/demo/web/app", http.StatusOK, "hello\n"},
		{"/containerLogs/demo/web/..%2F..%2Fsecret", http.StatusBadRequest, "container \"../../secret\" in pod \"web\" is not available\n"},
		{"/containerLogs/demo/web/other", http.StatusBadRequest, "container \"other\" in pod \"web\" is not available\n"},
		{"/containerLogs/demo/db/app", http.StatusNotFound, ""},
	} {
		resp, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != tt.wantCode || (tt.wantBody != "" && string(body) != tt.wantBody) {
			t.Errorf("GET %s: %d %q, want %d %q", tt.path, resp.StatusCode, body, tt.wantCode, tt.wantBody)
		}
	}
}
