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

package controller

import (
	"testing"

	"k8s.io/client-go/rest"
)

func TestAPIRateLimits(t *testing.T) {
	for _, tc := range []struct {
		qps       float32
		burst     int
		wantQPS   float32
		wantBurst int
		wantErr   bool
	}{
		{qps: DefaultAPIQPS, wantQPS: -1},
		{qps: -1, burst: 50, wantQPS: -1}, // no limit: no burst either
		{qps: 50, wantQPS: 50, wantBurst: 100},
		{qps: 50, burst: 80, wantQPS: 50, wantBurst: 80},
		{qps: 0.2, wantQPS: 0.2, wantBurst: 1},
		{qps: 0, wantErr: true},
		{qps: 20, burst: -1, wantErr: true},
	} {
		cfg := &rest.Config{QPS: 7, Burst: 9}
		err := APIRateLimits(cfg, tc.qps, tc.burst)
		if (err != nil) != tc.wantErr {
			t.Fatalf("APIRateLimits(%v, %d): error %v, want error %v", tc.qps, tc.burst, err, tc.wantErr)
		}
		if err != nil {
			if cfg.QPS != 7 || cfg.Burst != 9 {
				t.Fatalf("refused %v/%d, yet the config changed to %v/%d", tc.qps, tc.burst, cfg.QPS, cfg.Burst)
			}
			continue
		}
		if cfg.QPS != tc.wantQPS || cfg.Burst != tc.wantBurst {
			t.Fatalf("APIRateLimits(%v, %d): %v/%d, want %v/%d", tc.qps, tc.burst, cfg.QPS, cfg.Burst, tc.wantQPS, tc.wantBurst)
		}
	}
}
