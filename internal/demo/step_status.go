package demo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"runbook-operator/internal/plugin"
)

// StatusStep ends the walkthrough with `kubectl runbook status`: every object the
// steps left, as the plugin shows them to a person on call.
func StatusStep() Step {
	return Step{Name: "status", Title: "Everything at a glance: kubectl runbook status", Run: status}
}

func status(ctx context.Context, e *Env) error {
	e.Out.Say(`On call, nobody reads YAML first. The kubectl plugin (make plugin builds
bin/kubectl-runbook; on PATH it is "kubectl runbook") shows the namespace's runbook
objects as a tree, and its other commands create or patch the same objects the steps
above applied: backup now, restore, release rollback/retry/pause/resume, rotate,
incident open/ack/resolve, report (docs/plugin.md).`)
	e.Out.Command("kubectl runbook -n %s status", e.Namespace)
	var b strings.Builder
	if err := plugin.Status(ctx, e.Client, &b, e.Namespace, "", time.Now(), plugin.Palette{}); err != nil {
		return fmt.Errorf("kubectl runbook status: %w", err)
	}
	e.Out.Block(b.String())
	if e.Backup != nil && !strings.Contains(b.String(), "DatabaseBackup "+e.Backup.Name+"  Completed") {
		return fmt.Errorf("the tree does not show the completed backup %s", e.Backup.Name)
	}
	e.Out.Check("the tree shows what the steps left")
	return nil
}
