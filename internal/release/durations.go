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

package release

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// The only place that knows the Go type of the API's duration fields.

func dur(d *metav1.Duration) *time.Duration {
	if d == nil || d.Duration <= 0 {
		return nil
	}
	return &d.Duration
}

func durationOr(v *opsv1alpha1.ReleaseVerify, get func(*opsv1alpha1.ReleaseVerify) *time.Duration, def time.Duration) time.Duration {
	if v == nil {
		return def
	}
	if d := get(v); d != nil {
		return *d
	}
	return def
}

// MigrationTimeout is the migration Job's activeDeadline.
func MigrationTimeout(m *opsv1alpha1.Migrations) time.Duration {
	if d := dur(m.Timeout); d != nil {
		return *d
	}
	return 30 * time.Minute
}

// PreDeployTimeout is a pre-deploy Job's activeDeadline.
func PreDeployTimeout(p *opsv1alpha1.PreDeployJob) time.Duration {
	if d := dur(p.Timeout); d != nil {
		return *d
	}
	return 10 * time.Minute
}
