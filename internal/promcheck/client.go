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
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Target is where to query and how: the address, an optional bearer token and an
// optional PEM bundle of CAs (read from their Secret or ConfigMap by the caller), and
// the timeout of each query.
type Target struct {
	Address     string
	BearerToken string
	CAPEM       []byte
	Timeout     time.Duration
}

// Querier runs instant queries against one Prometheus.
type Querier struct {
	api     promv1.API
	timeout time.Duration
	tr      *http.Transport
}

// NewQuerier makes a client of t's Prometheus API. The token is sent as an
// Authorization header only; it is never part of an error.
func NewQuerier(t Target) (*Querier, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if len(t.CAPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(t.CAPEM) {
			return nil, errors.New("prometheus.ca holds no PEM certificate")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	var rt http.RoundTripper = tr
	if t.BearerToken != "" {
		rt = bearer{token: t.BearerToken, next: tr}
	}
	c, err := api.NewClient(api.Config{Address: t.Address, RoundTripper: rt})
	if err != nil {
		return nil, err
	}
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Querier{api: promv1.NewAPI(c), timeout: timeout, tr: tr}, nil
}

// Close closes the client's idle connections (a querier lives for one round).
func (q *Querier) Close() { q.tr.CloseIdleConnections() }

// Query evaluates query at the given time (an instant query; the zero time is
// Prometheus's now). Warnings are dropped:
// the value is what the verdict reads.
func (q *Querier) Query(ctx context.Context, query string, at time.Time) (model.Value, error) {
	ctx, cancel := context.WithTimeout(ctx, q.timeout)
	defer cancel()
	v, _, err := q.api.Query(ctx, query, at, promv1.WithTimeout(q.timeout))
	return v, err
}

type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(req)
}
