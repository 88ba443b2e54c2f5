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

// Command alertrules writes config/prometheus's alert rules file and PrometheusRule
// from internal/alerting (make alert-rules). Run from the repository's root.
//
//	go run ./cmd/alertrules                       # make alert-rules: the committed files
//	go run ./cmd/alertrules -out DIR [-backup-rpo 25h] [-rotation-grace 1h] [-runbook-base URL]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"runbook-operator/internal/alerting"
)

func main() {
	o := alerting.Defaults
	flag.DurationVar(&o.BackupRPO, "backup-rpo", o.BackupRPO, "the oldest a scheduled database's last successful backup may be")
	flag.DurationVar(&o.RotationGrace, "rotation-grace", o.RotationGrace, "how long past due a scheduled rotation may still run")
	flag.StringVar(&o.RunbookBase, "runbook-base", o.RunbookBase, "the README's URL; runbook_url is this#<alert>")
	dir := flag.String("dir", ".", "the repository's root: the files go to their place in config/prometheus")
	out := flag.String("out", "", "write the two files into this directory instead (for other options than the committed defaults)")
	flag.Parse()
	files, err := alerting.Files(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "alertrules:", err)
		os.Exit(1)
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		path := filepath.Join(*dir, p)
		if *out != "" {
			path = filepath.Join(*out, filepath.Base(p))
		}
		// config/ files are read by kustomize and people, as every other checked-in file.
		if err := os.WriteFile(path, files[p], 0o644); err != nil { //nolint:gosec // see above
			fmt.Fprintln(os.Stderr, "alertrules:", err)
			os.Exit(1)
		}
	}
}
