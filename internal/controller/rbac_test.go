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
	"context"
	"path/filepath"

	. "github.com/onsi/gomega"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"runbook-operator/test/harness"
)

// The suite's managers run as the operator's ServiceAccount with the project's own
// ClusterRole (config/rbac/role.yaml, generated from the RBAC markers), on an API
// server that enforces owner-reference permissions as OpenShift does: a rule missing
// from the markers fails the specs that need it.

// managerConfig applies the project's ClusterRole and binds it to the manager's
// ServiceAccount, and returns cfg impersonating that ServiceAccount.
func managerConfig(ctx context.Context, cfg *rest.Config) *rest.Config {
	manager, err := harness.BindManagerRole(ctx, kubernetes.NewForConfigOrDie(cfg), filepath.Join("..", "..", "config", "rbac", "role.yaml"))
	Expect(err).NotTo(HaveOccurred())
	out := rest.CopyConfig(cfg)
	out.Impersonate = rest.ImpersonationConfig{UserName: manager}
	return out
}
