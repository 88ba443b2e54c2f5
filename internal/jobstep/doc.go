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

// Package jobstep is the Job step every reconciler shares: create a Job under a
// deterministic name, adopt it after a restart, refuse one owned by someone else,
// notice it was deleted before it finished, read its container's termination result
// and explain a failure in one sentence. Its outcomes are internal/reconcile's typed
// errors: a *reconcile.Stalling needs a person, a *reconcile.Waiting requeues
// quietly, any other error is retried with backoff.
package jobstep
