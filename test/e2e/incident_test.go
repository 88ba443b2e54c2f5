//go:build e2e

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

package e2e

import (
	"context"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/demo"
	"runbook-operator/internal/evidence"
	"runbook-operator/internal/incident"
)

// The Incident a Release's rollback opens is checked in release_test.go's ordered
// specs (it follows 1.2.0's rollback); these are its helpers. The PagerDuty receiver
// is demo.PagerDutyReceiver, an httptest server on the host loopback speaking Events
// API v2, which the manager (a host process) reaches.

// pdRoutingKey is the routing key the e2e Release's Incident notifier reads from
// Secret pdSecret.
const (
	pdRoutingKey = "e2e-routing-key-0123456789abcdef"
	pdSecret     = "e2e-pagerduty"
)

// pagerDuty is the receiver of the e2e Release's Incident notifier, started before the
// Release is created.
var pagerDuty *demo.PagerDutyReceiver

// startPagerDuty starts the receiver and the Secret holding its routing key.
func startPagerDuty(ctx context.Context) {
	GinkgoHelper()
	pagerDuty = demo.NewPagerDutyReceiver()
	DeferCleanup(pagerDuty.Close)
	Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: pdSecret, Namespace: ns},
		StringData: map[string]string{"routing-key": pdRoutingKey},
	}))).To(Succeed())
}

// evidenceOf concatenates the Incident's evidence ConfigMaps in order and checks the
// result against status.evidence.sha256.
func evidenceOf(ctx context.Context, inc *opsv1alpha1.Incident) string {
	GinkgoHelper()
	Expect(inc.Status.Evidence).NotTo(BeNil())
	var b strings.Builder
	for _, name := range inc.Status.Evidence.ConfigMaps {
		cm := &corev1.ConfigMap{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: inc.Namespace, Name: name}, cm)).To(Succeed())
		b.WriteString(cm.Data[incident.EvidenceKey])
	}
	Expect(evidence.Sum(b.String())).To(Equal(inc.Status.Evidence.SHA256))
	return b.String()
}

// patchIncident merge-patches the Incident's spec as `kubectl patch --type merge` does.
func patchIncident(ctx context.Context, inc *opsv1alpha1.Incident, patch string) {
	GinkgoHelper()
	Expect(k8sClient.Patch(ctx, inc, client.RawPatch(types.MergePatchType, []byte(patch)))).To(Succeed())
}

// tailOf is the last n bytes of s.
func tailOf(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
