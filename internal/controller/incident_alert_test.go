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
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/alertreceiver"
)

// startAlertReceiver serves an Alertmanager receiver with opts, as the manager's
// ServiceAccount, whose bearer token is in a Secret of ns; it stops after the spec.
func startAlertReceiver(ctx context.Context, ns string, opts alertreceiver.Options) *httptest.Server {
	GinkgoHelper()
	Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "am-token", Namespace: ns},
		StringData: map[string]string{"token": "am-secret-token"}})).To(Succeed())
	asManager, err := client.New(managerCfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	rcv := httptest.NewServer(&alertreceiver.Receiver{Client: asManager, Reader: asManager,
		TokenSecret: types.NamespacedName{Namespace: ns, Name: "am-token"}, Options: opts})
	DeferCleanup(rcv.Close)
	return rcv
}

// postAlerts posts an Alertmanager notification to rcv and expects it stored (200).
func postAlerts(rcv *httptest.Server, body []byte) {
	GinkgoHelper()
	req, err := http.NewRequest(http.MethodPost, rcv.URL+alertreceiver.Path, bytes.NewReader(body))
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Authorization", "Bearer am-secret-token")
	resp, err := rcv.Client().Do(req)
	Expect(err).NotTo(HaveOccurred())
	resp.Body.Close()
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
}

// The Alertmanager receiver and the Incident reconciler write the same status: the
// receiver's entries and condition survive the reconciler's patches, and the
// reconciler takes an alert-opened Incident through its response (evidence only).
var _ = Describe("Incident opened by an Alertmanager notification", func() {
	It("keeps the alert entries beside the reconciler's, captures evidence, and leaves resolution to a person", func() {
		ctx := context.Background()
		ns := newNamespace(ctx)
		rcv := startAlertReceiver(ctx, ns, alertreceiver.Options{})

		notify := func(status, endsAt string) {
			GinkgoHelper()
			body := fmt.Sprintf(`{"version":"4","groupKey":"{}:{alertname=\"RunbookBackupFailing\", namespace=\"%[1]s\"}","truncatedAlerts":0,
"status":"%[2]s","receiver":"runbook-operator","groupLabels":{"alertname":"RunbookBackupFailing","namespace":"%[1]s"},
"commonLabels":{"alertname":"RunbookBackupFailing","namespace":"%[1]s","severity":"critical"},"commonAnnotations":{"summary":"Backups failing"},
"externalURL":"http://127.0.0.1:9093","alerts":[{"status":"%[2]s","labels":{"alertname":"RunbookBackupFailing","namespace":"%[1]s","severity":"critical"},
"annotations":{"summary":"Backups failing"},"startsAt":"2026-12-07T10:00:00Z","endsAt":"%[3]s","generatorURL":"http://127.0.0.1:9090/graph","fingerprint":"c58563e7fe732ad8"}]}`,
				ns, status, endsAt)
			postAlerts(rcv, []byte(body))
		}
		entryTypes := func(inc *opsv1alpha1.Incident) []string {
			var out []string
			for _, e := range getIncident(ctx, inc).Status.Timeline {
				out = append(out, e.Type)
			}
			return out
		}

		notify("firing", "0001-01-01T00:00:00Z")
		inc := &opsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Namespace: ns,
			Name: alertreceiver.Name(`{}:{alertname="RunbookBackupFailing", namespace="`+ns+`"}`, 1)}}
		Eventually(func() []string { return entryTypes(inc) }).Should(ContainElements(
			alertreceiver.TimelineAlertFiring, opsv1alpha1.TimelineOpened, opsv1alpha1.TimelineEvidenceCaptured))
		Eventually(condStatus(ctx, inc, opsv1alpha1.ConditionEvidenceCaptured)).Should(HavePrefix("True"))
		got := getIncident(ctx, inc)
		Expect(got.Spec.Severity).To(Equal(opsv1alpha1.SeverityP1))
		Expect(got.Status.Phase).To(Equal(opsv1alpha1.IncidentPhaseOpen))
		Expect(got.Status.Actions).To(HaveLen(1), "evidence only: %+v", got.Status.Actions)

		notify("resolved", "2026-12-07T11:00:00Z")
		Eventually(condStatus(ctx, inc, alertreceiver.ConditionResolutionProposed)).Should(HavePrefix("True " + alertreceiver.ReasonAlertsResolved))
		pokeIncident(ctx, inc) // the reconciler runs again and patches status
		Consistently(condStatus(ctx, inc, alertreceiver.ConditionResolutionProposed), 2*time.Second).Should(HavePrefix("True"))
		Expect(getIncident(ctx, inc).Status.Phase).To(Equal(opsv1alpha1.IncidentPhaseOpen), "a resolved alert does not resolve the incident")
		Expect(entryTypes(inc)).To(ContainElements(alertreceiver.TimelineAlertFiring, alertreceiver.TimelineAlertResolved, alertreceiver.TimelineAlertsResolved))

		editIncident(ctx, inc, func(i *opsv1alpha1.Incident) { i.Spec.Resolution = "backups fixed" })
		Eventually(func() opsv1alpha1.IncidentPhase { return getIncident(ctx, inc).Status.Phase }).Should(Equal(opsv1alpha1.IncidentPhaseResolved))
		Expect(entryTypes(inc)).To(ContainElement(alertreceiver.TimelineAlertFiring))
	})
})
