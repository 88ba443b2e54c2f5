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

package alertreceiver

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// NotifierName is the name of the notifier an alert-opened Incident gets from
// Options.Notifier (its deliveries are recorded under it).
const NotifierName = "alerts"

// ParseNotifier reads the --alert-receiver-notify flag, `TYPE:SECRET/KEY` (e.g.
// `Webhook:alert-notifications/url`): every Incident the receiver opens notifies a
// notifier of TYPE (Slack, PagerDuty or Webhook) whose URL (PagerDuty: routing key)
// is under KEY of the Secret SECRET in the Incident's own namespace. "" is none.
func ParseNotifier(s string) (*opsv1alpha1.Notifier, error) {
	if s == "" {
		return nil, nil
	}
	typ, ref, ok := strings.Cut(s, ":")
	name, key, ok2 := strings.Cut(ref, "/")
	if !ok || !ok2 || name == "" || key == "" {
		return nil, fmt.Errorf("%q: want TYPE:SECRET/KEY, e.g. Webhook:alert-notifications/url", s)
	}
	var t opsv1alpha1.NotifierType
	for _, known := range []opsv1alpha1.NotifierType{opsv1alpha1.NotifierSlack, opsv1alpha1.NotifierPagerDuty, opsv1alpha1.NotifierWebhook} {
		if strings.EqualFold(typ, string(known)) {
			t = known
		}
	}
	if t == "" {
		return nil, fmt.Errorf("%q: type %q is not Slack, PagerDuty or Webhook", s, typ)
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return nil, fmt.Errorf("%q: Secret name %q: %s", s, name, strings.Join(errs, "; "))
	}
	if errs := validation.IsConfigMapKey(key); len(errs) > 0 {
		return nil, fmt.Errorf("%q: key %q: %s", s, key, strings.Join(errs, "; "))
	}
	return &opsv1alpha1.Notifier{Name: NotifierName, Type: t,
		SecretRef: opsv1alpha1.SecretKeyReference{Name: name, Key: key}}, nil
}
