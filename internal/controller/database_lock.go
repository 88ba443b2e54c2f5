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

	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
	"runbook-operator/internal/dblock"
)

// databaseClaimants lists every backup and restore of the database behind the connection
// Secret in the namespace, as the database lock sees them. Backups and restores use
// the same listing (same index, same cache) so they reach the same decision.
func databaseClaimants(ctx context.Context, c client.Reader, namespace, secret string) ([]dblock.Claimant, error) {
	var backups opsv1alpha1.DatabaseBackupList
	if err := c.List(ctx, &backups, client.InNamespace(namespace),
		client.MatchingFields{IndexBackupDatabase: secret},
		client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	var restores opsv1alpha1.DatabaseRestoreList
	if err := c.List(ctx, &restores, client.InNamespace(namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	out := make([]dblock.Claimant, 0, len(backups.Items)+len(restores.Items))
	for i := range backups.Items {
		out = append(out, dblock.FromBackup(&backups.Items[i]))
	}
	for i := range restores.Items {
		if restores.Items[i].Spec.Database.SecretRef.Name == secret {
			out = append(out, dblock.FromRestore(&restores.Items[i]))
		}
	}
	return out, nil
}
