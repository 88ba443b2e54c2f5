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

// Command helmchart writes the Helm chart's generated files (crds/ and
// templates/rbac.yaml of charts/runbook-operator) from dist/install.yaml (make
// helm-chart, after make build-installer). Run from the repository's root. CRD files
// the installer no longer has are removed.
//
//	go run ./cmd/helmchart [-install dist/install.yaml] [-chart charts/runbook-operator]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"runbook-operator/internal/helmchart"
)

func main() {
	install := flag.String("install", "dist/install.yaml", "the installer to derive the chart's CRDs and RBAC from")
	chart := flag.String("chart", "charts/runbook-operator", "the chart's folder")
	flag.Parse()
	if err := run(*install, *chart); err != nil {
		fmt.Fprintln(os.Stderr, "helmchart:", err)
		os.Exit(1)
	}
}

func run(install, chart string) error {
	data, err := os.ReadFile(install) //nolint:gosec // G304: the repository's dist/install.yaml (a flag for tests)
	if err != nil {
		return err
	}
	files, err := helmchart.Generate(data)
	if err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(chart, helmchart.CRDDir, "*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range old {
		rel, _ := filepath.Rel(chart, f)
		if _, ok := files[filepath.ToSlash(rel)]; !ok {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	for rel, b := range files {
		path := filepath.Join(chart, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil { //nolint:gosec // G301: a folder of the repository's chart, committed
			return err
		}
		if cur, err := os.ReadFile(path); err == nil && string(cur) == string(b) { //nolint:gosec // G304: the chart's own generated files
			continue
		}
		if err := os.WriteFile(path, b, 0o644); err != nil { //nolint:gosec // G306: a committed file of the chart, readable like the rest of the repository
			return err
		}
		fmt.Println("wrote", path)
	}
	return nil
}
