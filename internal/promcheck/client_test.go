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

package promcheck

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/promcheck/promtest"
)

// selfSigned is a certificate for 127.0.0.1 and its key, in PEM.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "prometheus-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

var lt1 = opsv1alpha1.PrometheusQuery{Name: "one", Condition: opsv1alpha1.QueryCondition{Op: opsv1alpha1.QueryLessThan, Value: "2"}}

// query runs expr against t and returns the verdict Evaluate gives it.
func query(t *testing.T, target Target, expr string) Measurement {
	t.Helper()
	q, err := NewQuerier(target)
	if err != nil {
		t.Fatalf("NewQuerier: %v", err)
	}
	defer q.Close()
	v, err := q.Query(context.Background(), expr, time.Time{})
	return Evaluate(lt1, expr, v, err)
}

// The real Prometheus answers PromQL: a scalar, a vector of one series, no series, a
// NaN and several series come back as the verdict rules say; a syntax error and a
// stopped server are errors.
func TestQuerierAgainstPrometheus(t *testing.T) {
	srv := promtest.Start(t, promtest.Options{})
	target := Target{Address: srv.URL, Timeout: 5 * time.Second}
	cases := []struct {
		expr    string
		verdict opsv1alpha1.QueryVerdict
		detail  string
	}{
		{"scalar(vector(1))", opsv1alpha1.QueryPass, "1 < 2"},
		{"vector(1)", opsv1alpha1.QueryPass, "1 < 2"},
		{"vector(3)", opsv1alpha1.QueryFail, "3 is not < 2"},
		{`absent(nothing_here) * 0 + 5`, opsv1alpha1.QueryFail, "5 is not < 2"},
		{"nothing_here", opsv1alpha1.QueryInconclusive, "no data"},
		{"vector(0) / vector(0)", opsv1alpha1.QueryInconclusive, "NaN"},
		{`label_replace(vector(1), "a", "x", "", "") or label_replace(vector(1), "a", "y", "", "")`, opsv1alpha1.QueryInconclusive, "2 series where one is expected"},
		{"vector(1)[1m:10s]", opsv1alpha1.QueryInconclusive, "not one instant value"},
		{"sum(rate(x[1m]", opsv1alpha1.QueryError, "Prometheus: bad_data"},
	}
	for _, tc := range cases {
		m := query(t, target, tc.expr)
		if m.Verdict != tc.verdict || !strings.Contains(m.Detail, tc.detail) {
			t.Errorf("%s: %s %q, want %s with %q", tc.expr, m.Verdict, m.Detail, tc.verdict, tc.detail)
		}
	}
	srv.Stop()
	if m := query(t, target, "vector(1)"); m.Verdict != opsv1alpha1.QueryError || !strings.Contains(m.Detail, "connection refused") {
		t.Errorf("stopped server: %s %q, want an Error saying connection refused", m.Verdict, m.Detail)
	}
}

// An https Prometheus is reached with the CA given, and refused without it.
func TestQuerierTrustsTheGivenCA(t *testing.T) {
	cert, key := selfSigned(t)
	srv := promtest.Start(t, promtest.Options{CertPEM: cert, KeyPEM: key})
	if m := query(t, Target{Address: srv.URL, CAPEM: cert}, "vector(1)"); m.Verdict != opsv1alpha1.QueryPass {
		t.Fatalf("with the CA: %s %q, want Pass", m.Verdict, m.Detail)
	}
	if m := query(t, Target{Address: srv.URL}, "vector(1)"); m.Verdict != opsv1alpha1.QueryError || !strings.Contains(m.Detail, "certificate") {
		t.Fatalf("without the CA: %s %q, want an Error about the certificate", m.Verdict, m.Detail)
	}
	if _, err := NewQuerier(Target{Address: srv.URL, CAPEM: []byte("not pem")}); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("a CA that is not PEM: %v", err)
	}
}

// The bearer token reaches a proxy in front of Prometheus that requires it (Prometheus
// 2.42 itself checks only basic auth), and never appears in an error.
func TestQuerierSendsTheBearerToken(t *testing.T) {
	srv := promtest.Start(t, promtest.Options{})
	up, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(up)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret-token" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	if m := query(t, Target{Address: proxy.URL, BearerToken: "s3cret-token"}, "vector(1)"); m.Verdict != opsv1alpha1.QueryPass {
		t.Fatalf("with the token: %s %q, want Pass", m.Verdict, m.Detail)
	}
	m := query(t, Target{Address: proxy.URL, BearerToken: "wrong-s3cret"}, "vector(1)")
	if m.Verdict != opsv1alpha1.QueryError || !strings.Contains(m.Detail, "401") {
		t.Fatalf("with a wrong token: %s %q, want an Error with 401", m.Verdict, m.Detail)
	}
	if strings.Contains(m.Detail, "s3cret") {
		t.Fatalf("the error names the token: %q", m.Detail)
	}
}
