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
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// eventLists records what the Incident reconciler's API reader answered to each list of
// Events (the real API server's answers, passed through unchanged).
var eventLists eventListLog

type eventList struct {
	namespace, fields string
	limit             int64
	items             int
}

type eventListLog struct {
	mu    sync.Mutex
	lists []eventList
}

// wrap returns r recording its Event lists here.
func (l *eventListLog) wrap(r client.Reader) client.Reader { return eventListReader{Reader: r, log: l} }

// in returns the lists made in namespace.
func (l *eventListLog) in(namespace string) []eventList {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []eventList
	for _, e := range l.lists {
		if e.namespace == namespace {
			out = append(out, e)
		}
	}
	return out
}

type eventListReader struct {
	client.Reader
	log *eventListLog
}

func (r eventListReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	err := r.Reader.List(ctx, list, opts...)
	if evs, ok := list.(*corev1.EventList); ok && err == nil {
		o := (&client.ListOptions{}).ApplyOptions(opts)
		e := eventList{namespace: o.Namespace, limit: o.Limit, items: len(evs.Items)}
		if o.FieldSelector != nil {
			e.fields = o.FieldSelector.String()
		}
		r.log.mu.Lock()
		r.log.lists = append(r.log.lists, e)
		r.log.mu.Unlock()
	}
	return err
}

var _ = Describe("Incident evidence events", func() {
	It("holds the latest events of the release's objects only, from one list of the namespace's events in bounded pages", func() {
		ctx := context.Background()
		ns := newNamespace(ctx)
		incidentClock.SetNow(time.Now())
		rel := &opsv1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: "saas", Namespace: ns}, Spec: opsv1alpha1.ReleaseSpec{
			Version: "1.2.0", Image: "example.com/saas:1.2.0", Components: []opsv1alpha1.Component{{Name: "web"}}}}
		Expect(k8sClient.Create(ctx, rel)).To(Succeed())
		uids := map[string]types.UID{}
		for _, name := range []string{"saas-web-1", "other-web-1"} {
			release := map[string]string{"saas-web-1": "saas", "other-web-1": "other"}[name]
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{opsv1alpha1.LabelRelease: release}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/saas:1.2.0"}}}}
			Expect(k8sClient.Create(ctx, pod)).To(Succeed())
			uids[name] = pod.UID
		}
		// Events name their object's UID, as the kubelet's and controllers' do, but for
		// every third of the release's pod's (matched by kind and name then).
		seq := 0
		event := func(kind, name, msg string, at time.Time) {
			GinkgoHelper()
			seq++
			uid := uids[name]
			if kind != "Pod" || (name == "saas-web-1" && seq%3 == 0) {
				uid = ""
			}
			e := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", name, at.UnixNano()), Namespace: ns},
				InvolvedObject: corev1.ObjectReference{Kind: kind, Name: name, Namespace: ns, UID: uid},
				Reason:         "BackOff", Message: msg, Type: corev1.EventTypeWarning, Count: 1,
				FirstTimestamp: metav1.NewTime(at), LastTimestamp: metav1.NewTime(at)}
			Expect(k8sClient.Create(ctx, e)).To(Succeed())
		}
		// More events of the release's pod than the bundle keeps, interleaved with more
		// events of another release's pod and of a Deployment of another name (the
		// namespace holds more than a page); the newest of all belong to the other
		// objects. All are newer than the Release controller's own events about the
		// Release (now), which the bundle holds too.
		base := time.Now().Add(time.Hour).Truncate(time.Second)
		n := evidenceEvents + 50
		for i := range n {
			event("Pod", "saas-web-1", fmt.Sprintf("mine-%03d", i), base.Add(time.Duration(i)*time.Second))
			event("Pod", "other-web-1", fmt.Sprintf("theirs-%03d", i), base.Add(time.Duration(i)*time.Second+time.Millisecond))
			event("Deployment", "other-web", fmt.Sprintf("theirs-dep-%03d", i), base.Add(time.Duration(i)*time.Second+2*time.Millisecond))
		}
		event("Pod", "other-web-1", "theirs-newest", base.Add(time.Hour))
		event("Deployment", "saas-web-1", "a Deployment named like the pod", base.Add(time.Hour)) // same name, other kind
		// An earlier pod of the same name (deleted, created again): another UID.
		e := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "saas-web-1.earlier", Namespace: ns},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "saas-web-1", Namespace: ns, UID: "0d9a4c3e-earlier-pod"},
			Reason:         "BackOff", Message: "theirs-earlier-pod", Type: corev1.EventTypeWarning, Count: 1,
			FirstTimestamp: metav1.NewTime(base.Add(2 * time.Hour)), LastTimestamp: metav1.NewTime(base.Add(2 * time.Hour))}
		Expect(k8sClient.Create(ctx, e)).To(Succeed())

		inc := &opsv1alpha1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "events", Namespace: ns}, Spec: opsv1alpha1.IncidentSpec{
			Severity: opsv1alpha1.SeverityP2, Title: "Crash loop", ReleaseRef: &opsv1alpha1.LocalObjectReference{Name: "saas"},
			Response: &opsv1alpha1.IncidentResponse{CaptureEvidence: true}}}
		Expect(k8sClient.Create(ctx, inc)).To(Succeed())
		Eventually(condStatus(ctx, inc, opsv1alpha1.ConditionEvidenceCaptured), "20s").Should(HavePrefix("True"))
		Expect(condStatus(ctx, inc, opsv1alpha1.ConditionEvidenceCaptured)()).To(ContainSubstring(fmt.Sprintf("%d events", evidenceEvents)))

		var lines []string
		in := false
		for _, l := range strings.Split(evidenceBundle(ctx, inc), "\n") {
			if strings.HasPrefix(l, "=== ") {
				in = l == "=== events ==="
			} else if in && l != "" {
				lines = append(lines, l)
			}
		}
		section := strings.Join(lines, "\n")
		Expect(lines).To(HaveLen(evidenceEvents), "the latest %d", evidenceEvents)
		Expect(lines[0]).To(HaveSuffix(fmt.Sprintf("mine-%03d", n-evidenceEvents)), "oldest first")
		Expect(lines[len(lines)-1]).To(HaveSuffix(fmt.Sprintf("mine-%03d", n-1)))
		for _, l := range lines {
			Expect(l).To(ContainSubstring(" Pod/saas-web-1 BackOff (x1): mine-"))
		}
		Expect(section).NotTo(ContainSubstring("theirs"))
		Expect(section).NotTo(ContainSubstring("named like the pod"))

		By("the namespace's events were listed once, in bounded pages, whatever the number of objects")
		lists := eventLists.in(ns)
		for _, l := range lists {
			Expect(l.fields).To(BeEmpty(), "no list per object")
			Expect(l.limit).To(BeNumerically("==", evidenceListPage))
			Expect(l.items).To(BeNumerically("<=", evidenceListPage))
		}
		Expect(lists).To(HaveLen(2), "%d events in the namespace: two pages", 3*n+3)
	})
})

func TestKeepLatestKeepsTheNewestOldestFirst(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	ev := func(name string, last, created time.Time) corev1.Event {
		return corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created)}, LastTimestamp: metav1.NewTime(last)}
	}
	names := func(evs []corev1.Event) string {
		var out []string
		for _, e := range evs {
			out = append(out, e.Name)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		what  string
		in    []corev1.Event
		limit int
		want  string
	}{
		{"fewer than the limit: all, oldest first", []corev1.Event{ev("b", t0.Add(time.Minute), t0), ev("a", t0, t0)}, 3, "a b"},
		{"the newest by lastTimestamp, not by creation", []corev1.Event{ev("old", t0, t0.Add(time.Hour)), ev("new", t0.Add(2*time.Minute), t0), ev("mid", t0.Add(time.Minute), t0)}, 2, "mid new"},
		{"no lastTimestamp: the creation time", []corev1.Event{ev("x", time.Time{}, t0.Add(3*time.Minute)), ev("y", t0.Add(time.Minute), t0)}, 1, "x"},
		{"the same time: by name, as a namespace list", []corev1.Event{ev("c", t0, t0), ev("a", t0, t0), ev("b", t0, t0)}, 2, "b c"},
		{"none", nil, 2, ""},
	} {
		t.Run(tc.what, func(t *testing.T) {
			got := keepLatest(tc.in, tc.limit)
			if names(got) != tc.want {
				t.Fatalf("got %q, want %q", names(got), tc.want)
			}
		})
	}
}
