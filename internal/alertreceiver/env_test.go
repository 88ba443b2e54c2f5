/*
Copyright 2026 The runbook-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package alertreceiver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/test/harness"
)

// The envtest tests run the receiver against a real API server (the Incident CRD,
// its validation) as the manager's ServiceAccount with config/rbac/role.yaml, so a
// missing RBAC marker fails them.

var (
	envOnce   sync.Once
	envErr    error
	testEnv   *envtest.Environment
	admin     client.Client // the test's own client
	asMgr     client.Client // the manager's identity
	scheme    = runtime.NewScheme()
	testToken = "s3cr3t-token-for-tests"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if testEnv != nil {
		_ = testEnv.Stop()
	}
	os.Exit(code)
}

// env starts envtest once; a test that needs it fails (never skips) without it.
func env(t testing.TB) {
	t.Helper()
	envOnce.Do(func() {
		utilruntime.Must(clientgoscheme.AddToScheme(scheme))
		utilruntime.Must(opsv1alpha1.AddToScheme(scheme))
		if os.Getenv("KUBEBUILDER_ASSETS") == "" {
			envErr = fmt.Errorf("KUBEBUILDER_ASSETS is not set: export KUBEBUILDER_ASSETS=$(hack/test-binaries.sh --print)")
			return
		}
		testEnv = &envtest.Environment{
			CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
			ErrorIfCRDPathMissing: true,
		}
		var cfg *rest.Config
		if cfg, envErr = testEnv.Start(); envErr != nil {
			return
		}
		if admin, envErr = client.New(cfg, client.Options{Scheme: scheme}); envErr != nil {
			return
		}
		ctx := context.Background()
		user, err := harness.BindManagerRole(ctx, kubernetes.NewForConfigOrDie(cfg), filepath.Join("..", "..", "config", "rbac", "role.yaml"))
		if err != nil {
			envErr = err
			return
		}
		mc := rest.CopyConfig(cfg)
		mc.Impersonate = rest.ImpersonationConfig{UserName: user}
		if asMgr, envErr = client.New(mc, client.Options{Scheme: scheme}); envErr != nil {
			return
		}
		for _, ns := range []string{"shop", "ops", "bench"} {
			if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
				envErr = err
				return
			}
		}
		envErr = admin.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "alert-receiver", Namespace: "ops"},
			Data: map[string][]byte{"token": []byte(testToken + "\n")}})
	})
	if envErr != nil {
		t.Fatalf("envtest: %v", envErr)
	}
}

// newReceiver is a receiver as cmd/manager builds it (the manager's identity, uncached
// reads), served on loopback.
func newReceiver(t testing.TB, opts Options) (*Receiver, *httptest.Server) {
	env(t)
	r := &Receiver{Client: asMgr, Reader: asMgr, TokenSecret: types.NamespacedName{Namespace: "ops", Name: "alert-receiver"}, Options: opts}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

// post sends body with token ("" for none) and returns the status code and answer.
func post(t testing.TB, c *http.Client, url, token string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+Path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// readFixture returns a testdata file with its group key made unique to the test, so
// that tests sharing the API server do not share Incidents.
func readFixture(t testing.TB, name, group string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Replace(raw, []byte(`"groupKey": "`), []byte(`"groupKey": "`+group+`/`), 1)
}

// incidentsOf lists the Incidents a group opened.
func incidentsOf(t testing.TB, ns, groupKey string) []opsv1alpha1.Incident {
	t.Helper()
	var l opsv1alpha1.IncidentList
	if err := admin.List(context.Background(), &l, client.InNamespace(ns), client.MatchingLabels{LabelAlertGroup: GroupHash(groupKey)}); err != nil {
		t.Fatal(err)
	}
	return l.Items
}
