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
	"fmt"
	"time"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// The only place that knows the Go type of the API's duration fields.

func dur(d *opsv1alpha1.Duration) *time.Duration {
	if d == nil || d.Duration < 0 || d.Err() != nil {
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

// DurationError names the first duration field of spec the operator cannot use (text
// the API server accepted but that is no Go duration), or nil.
func DurationError(spec *opsv1alpha1.ReleaseSpec) error {
	check := func(field string, d *opsv1alpha1.Duration) error {
		if d != nil && d.Err() != nil {
			return fmt.Errorf("spec.%s: %w", field, d.Err())
		}
		return nil
	}
	var errs []error
	if m := spec.Migrations; m != nil {
		errs = append(errs, check("migrations.timeout", m.Timeout))
	}
	for i := range spec.PreDeploy {
		errs = append(errs, check(fmt.Sprintf("preDeploy[%d].timeout", i), spec.PreDeploy[i].Timeout))
	}
	if v := spec.Verify; v != nil {
		errs = append(errs, check("verify.interval", v.Interval), check("verify.window", v.Window), check("verify.progressDeadline", v.ProgressDeadline))
	}
	if c := spec.Canary; c != nil {
		errs = append(errs, check("canary.window", c.Window))
	}
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
