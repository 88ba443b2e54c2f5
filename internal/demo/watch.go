package demo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1alpha1 "runbook-operator/api/v1alpha1"
)

// pollInterval is how often the walkthrough looks at the objects it watches.
const pollInterval = 200 * time.Millisecond

// WatchBackup prints each change of the backup's phase or Ready message as it
// happens, until the backup is Completed or Failed, and returns it then.
func (e *Env) WatchBackup(ctx context.Context, name string) (*opsv1alpha1.DatabaseBackup, error) {
	var prev *opsv1alpha1.DatabaseBackup
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		b := &opsv1alpha1.DatabaseBackup{}
		if err := e.Client.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: name}, b); err == nil {
			if line, changed := BackupChange(prev, b); changed {
				e.Out.Observe("%s", line)
			}
			prev = b
			if Finished(b) {
				return b, nil
			}
		}
		select {
		case <-ctx.Done():
			if prev != nil {
				return prev, fmt.Errorf("backup %s is still %s: %w", name, phaseOf(prev), context.Cause(ctx))
			}
			return nil, context.Cause(ctx)
		case <-t.C:
		}
	}
}

// Finished reports whether the backup reached Completed or Failed.
func Finished(b *opsv1alpha1.DatabaseBackup) bool {
	return b.Status.Phase == opsv1alpha1.BackupPhaseCompleted || b.Status.Phase == opsv1alpha1.BackupPhaseFailed
}

// BackupChange describes what a person watching the backup sees change between two
// observations (prev is nil at first): "Running    Job … is dumping …". changed is
// false when neither the phase nor the Ready message changed.
func BackupChange(prev, cur *opsv1alpha1.DatabaseBackup) (line string, changed bool) {
	if prev != nil && phaseOf(prev) == phaseOf(cur) && readyMessage(prev) == readyMessage(cur) {
		return "", false
	}
	msg := readyMessage(cur)
	if cur.Status.Phase == "" && msg == "" {
		msg = "created; the controller has not written a status yet"
	}
	line = fmt.Sprintf("%-10s %s", phaseOf(cur), msg)
	return strings.TrimRight(line, " "), true
}

func phaseOf(b *opsv1alpha1.DatabaseBackup) string {
	if b.Status.Phase == "" {
		return "(new)"
	}
	return string(b.Status.Phase)
}

func readyMessage(b *opsv1alpha1.DatabaseBackup) string {
	if c := meta.FindStatusCondition(b.Status.Conditions, opsv1alpha1.ConditionReady); c != nil {
		return c.Message
	}
	return ""
}
