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
	"fmt"

	"k8s.io/client-go/rest"
)

// DefaultAPIQPS is the manager's client-side rate limit (--kube-api-qps): none, as
// controller-runtime's GetConfig leaves it; the API server's Priority and Fairness
// queues the manager's requests instead. A token bucket applies per API client and
// resource, so at client-go's 20 requests a second an Incident's evidence (a pod log
// read per container of 50 pods) waited about a second on it alone.
const DefaultAPIQPS float32 = -1

// APIRateLimits sets cfg's client-side rate limit: qps < 0 none (the API server's
// Priority and Fairness applies); qps > 0 that many requests a second per client and
// resource with bursts of burst (0: twice qps). qps 0 is refused: client-go would
// read it as its own default of 5.
func APIRateLimits(cfg *rest.Config, qps float32, burst int) error {
	switch {
	case qps == 0:
		return fmt.Errorf("--kube-api-qps 0: want a positive rate, or -1 for no client-side limit")
	case burst < 0:
		return fmt.Errorf("--kube-api-burst %d: want 0 (twice the rate) or more", burst)
	case qps < 0:
		cfg.QPS, cfg.Burst = -1, 0
	default:
		if burst == 0 {
			burst = max(int(2*qps), 1)
		}
		cfg.QPS, cfg.Burst = qps, burst
	}
	return nil
}
