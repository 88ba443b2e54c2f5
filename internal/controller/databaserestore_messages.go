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
	"fmt"

	batchv1 "k8s.io/api/batch/v1"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// Messages of the DatabaseRestore controller. They name objects, databases and S3
// locations, never a value from a Secret; the agent's own error messages are scrubbed
// by the agent, and a termination message that is not an agent result (a log tail) is
// never quoted.

func inPlace(rs *opsv1alpha1.DatabaseRestore) bool {
	return rs.Spec.Mode == opsv1alpha1.RestoreModeInPlace
}

func keepPrevious(rs *opsv1alpha1.DatabaseRestore) bool {
	return rs.Spec.KeepPrevious == nil || *rs.Spec.KeepPrevious
}

// modeSummary says in a few words what the restore does to the live database.
func modeSummary(rs *opsv1alpha1.DatabaseRestore) string {
	switch {
	case inPlace(rs):
		return "InPlace: the live database is dropped and recreated"
	case keepPrevious(rs):
		return "Swap: restored into a new database, then swapped in; the replaced one is kept"
	}
	return "Swap: restored into a new database, then swapped in; the replaced one is dropped (keepPrevious: false)"
}

// partialAdvice says what a restore that stopped part-way may have left behind.
func partialAdvice(rs *opsv1alpha1.DatabaseRestore) string {
	if inPlace(rs) {
		return "In InPlace mode the database may have been dropped and be incomplete: check it, and restore again before relying on it"
	}
	return "In Swap mode the live database is replaced only by the final rename, so it is most likely unchanged: a database named <name>_pre_restore_<timestamp> exists only if the swap happened"
}

// restoredMessage describes a successful restore from the agent's result.
func restoredMessage(rs *opsv1alpha1.DatabaseRestore, job *batchv1.Job, resErr error) string {
	if resErr != nil {
		return fmt.Sprintf("Restore Job %s succeeded, but its result could not be read (%v): restored tables, rows and the previous database's name are unknown", job.Name, resErr)
	}
	st := rs.Status
	msg := fmt.Sprintf("Restored %s into database %s: %d tables, %d rows", st.SourceLocation, st.RestoredDatabase, st.TablesRestored, st.RowsRestored)
	switch {
	case inPlace(rs):
		return msg + " (in place: the previous contents were dropped)"
	case st.PreviousDatabase != "":
		return msg + fmt.Sprintf("; the replaced database is kept as %s, drop it once satisfied", st.PreviousDatabase)
	case !keepPrevious(rs):
		return msg + "; the replaced database was dropped (keepPrevious: false)"
	}
	return msg + "; there was no database to replace"
}

func (r *DatabaseRestoreReconciler) event(rs *opsv1alpha1.DatabaseRestore, eventType, reason, action, note string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(rs, nil, eventType, reason, action, "%s", note)
	}
}
