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

// Package conditions keeps an object's status conditions coherent with kstatus:
// Ready summarises, Reconciling is True while work is in flight, Stalled is True
// only for terminal states that need a person. Every setter stamps the object's
// generation and keeps lastTransitionTime when the status did not change.
package conditions

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// Object is a kind with status conditions and an observed generation.
type Object interface {
	client.Object
	GetConditions() []metav1.Condition
	SetConditions([]metav1.Condition)
	SetObservedGeneration(int64)
}

// Set adds or updates one condition. lastTransitionTime changes only when the
// status changes; observedGeneration is the object's generation.
func Set(obj Object, condType string, status metav1.ConditionStatus, reason, message string) {
	conds := obj.GetConditions()
	meta.SetStatusCondition(&conds, metav1.Condition{
		Type:               condType,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: obj.GetGeneration(),
	})
	obj.SetConditions(conds)
}

// Get returns the condition of the given type, or nil.
func Get(obj Object, condType string) *metav1.Condition {
	return meta.FindStatusCondition(obj.GetConditions(), condType)
}

// IsTrue reports whether the condition of the given type is True.
func IsTrue(obj Object, condType string) bool {
	return meta.IsStatusConditionTrue(obj.GetConditions(), condType)
}

// Remove deletes the condition of the given type.
func Remove(obj Object, condType string) {
	conds := obj.GetConditions()
	meta.RemoveStatusCondition(&conds, condType)
	obj.SetConditions(conds)
}

// MarkReconciling says work is in flight: Reconciling=True, Stalled=False and
// Ready=False with the same reason and message.
func MarkReconciling(obj Object, reason, message string) {
	obj.SetObservedGeneration(obj.GetGeneration())
	Set(obj, opsv1alpha1.ConditionReconciling, metav1.ConditionTrue, reason, message)
	Set(obj, opsv1alpha1.ConditionStalled, metav1.ConditionFalse, reason, message)
	Set(obj, opsv1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
}

// MarkReady says the object reached its goal: Ready=True, Reconciling=False, Stalled=False.
func MarkReady(obj Object, reason, message string) {
	obj.SetObservedGeneration(obj.GetGeneration())
	Set(obj, opsv1alpha1.ConditionReady, metav1.ConditionTrue, reason, message)
	Set(obj, opsv1alpha1.ConditionReconciling, metav1.ConditionFalse, reason, message)
	Set(obj, opsv1alpha1.ConditionStalled, metav1.ConditionFalse, reason, message)
}

// MarkStalled says the object cannot progress without a person: Stalled=True,
// Ready=False, Reconciling=False.
func MarkStalled(obj Object, reason, message string) {
	obj.SetObservedGeneration(obj.GetGeneration())
	Set(obj, opsv1alpha1.ConditionStalled, metav1.ConditionTrue, reason, message)
	Set(obj, opsv1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
	Set(obj, opsv1alpha1.ConditionReconciling, metav1.ConditionFalse, reason, message)
}

// MarkNotReady says the object is healthy to watch but not at its goal and not
// working on it either (for example a suspended schedule whose last run failed):
// Ready=False, Reconciling=False, Stalled=False.
func MarkNotReady(obj Object, reason, message string) {
	obj.SetObservedGeneration(obj.GetGeneration())
	Set(obj, opsv1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
	Set(obj, opsv1alpha1.ConditionReconciling, metav1.ConditionFalse, reason, message)
	Set(obj, opsv1alpha1.ConditionStalled, metav1.ConditionFalse, reason, message)
}

// Observe records that the object's current generation was acted on without changing
// its outcome (a finished object whose permitted spec change needs no new work):
// observedGeneration and every condition's observedGeneration become the generation,
// so kstatus and Argo CD stop waiting for the controller.
func Observe(obj Object) {
	conds := obj.GetConditions()
	for i := range conds {
		conds[i].ObservedGeneration = obj.GetGeneration()
	}
	obj.SetConditions(conds)
	obj.SetObservedGeneration(obj.GetGeneration())
}
