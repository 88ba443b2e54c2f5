/*
Copyright 2026.

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

package agent

import (
	"context"

	"runbook-operator/internal/objectstore"
)

// delete removes the dump and its manifest; missing objects are fine.
func (e *env) delete(ctx context.Context, res *Result) error {
	store, err := e.store(ctx)
	if err != nil {
		return err
	}
	// The manifest first: a dump without a manifest no longer looks like a backup.
	for _, key := range []string{ManifestKey(e.o.Key), e.o.Key} {
		if err := store.Delete(ctx, key); err != nil {
			return err
		}
		res.Deleted = append(res.Deleted, key)
	}
	// And the parts of an upload a killed backup never completed.
	_, err = store.AbortIncomplete(ctx, e.o.Key)
	return err
}

var _ objectstore.Store = (*objectstore.S3)(nil)
