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

package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Accessors used by internal/conditions, so that one helper serves every kind.

// GetConditions returns the status conditions.
func (in *DatabaseBackup) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *DatabaseBackup) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// SetObservedGeneration records the generation acted on.
func (in *DatabaseBackup) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// GetConditions returns the status conditions.
func (in *BackupSchedule) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *BackupSchedule) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// SetObservedGeneration records the generation acted on.
func (in *BackupSchedule) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// GetConditions returns the status conditions.
func (in *DatabaseRestore) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *DatabaseRestore) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// SetObservedGeneration records the generation acted on.
func (in *DatabaseRestore) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// GetConditions returns the status conditions.
func (in *Release) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *Release) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// SetObservedGeneration records the generation acted on.
func (in *Release) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// GetConditions returns the status conditions.
func (in *SecretRotation) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *SecretRotation) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// SetObservedGeneration records the generation acted on.
func (in *SecretRotation) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// GetConditions returns the status conditions.
func (in *Incident) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *Incident) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// SetObservedGeneration records the generation acted on.
func (in *Incident) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }
