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

package helmchart

import (
	"strings"
	"testing"
)

const sa = `apiVersion: v1
kind: ServiceAccount
metadata:
  name: rbo-controller-manager
  namespace: rbo-system
`

const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.dev
spec:
  group: example.dev
`

const leaderRole = `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: rbo-leader-election-role
  namespace: rbo-system
  labels: {app.kubernetes.io/name: rbo, app.kubernetes.io/managed-by: kustomize}
rules:
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, create]
`

const viewer = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: rbo-widget-viewer-role
  labels: {rbac.authorization.k8s.io/aggregate-to-view: "true", control-plane: controller-manager}
rules:
- apiGroups: [example.dev]
  resources: [widgets]
  verbs: [get]
`

const binding = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: rbo-manager-rolebinding
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: rbo-manager-role}
subjects:
- {kind: ServiceAccount, name: rbo-controller-manager, namespace: rbo-system}
`

func docs(d ...string) []byte { return []byte(strings.Join(d, "---\n")) }

func TestGenerate(t *testing.T) {
	files, err := Generate(docs(sa, crd, leaderRole, viewer, binding, "apiVersion: v1\nkind: Service\nmetadata: {name: rbo-svc, namespace: rbo-system}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Errorf("files %v, want the CRD and %s", keys(files), RBACFile)
	}
	c := string(files["crds/widgets.example.dev.yaml"])
	if !strings.HasPrefix(c, Header) || !strings.Contains(c, "name: widgets.example.dev\n") || !strings.Contains(c, "group: example.dev\n") {
		t.Errorf("CRD file:\n%s", c)
	}
	rbac := string(files[RBACFile])
	for _, want := range []string{
		Header,
		// The Role: its name templated, in the Lease's namespace, the tools' labels
		// replaced by the chart's, its rules verbatim.
		"kind: Role\nmetadata:\n  name: {{ include \"runbook-operator.fullname\" . }}-leader-election-role\n  namespace: {{ include \"runbook-operator.leaderElectionNamespace\" . }}\n  labels:\n    {{- include \"runbook-operator.labels\" . | nindent 4 }}\nrules:\n- apiGroups:\n  - coordination.k8s.io\n  resources:\n  - leases\n  verbs:\n  - get\n  - create\n",
		// Other labels (aggregation) are kept.
		"  name: {{ include \"runbook-operator.fullname\" . }}-widget-viewer-role\n  labels:\n    {{- include \"runbook-operator.labels\" . | nindent 4 }}\n    rbac.authorization.k8s.io/aggregate-to-view: \"true\"\nrules:",
		// The binding: the role's name and the subject templated.
		"  name: '{{ include \"runbook-operator.fullname\" . }}-manager-role'\nsubjects:\n- kind: ServiceAccount\n  name: '{{ include \"runbook-operator.serviceAccountName\" . }}'\n  namespace: '{{ .Release.Namespace }}'\n",
	} {
		if !strings.Contains(rbac, want) {
			t.Errorf("%s lacks\n%s\nin\n%s", RBACFile, want, rbac)
		}
	}
	if strings.Contains(rbac, "kustomize") || strings.Contains(rbac, "rbo-") || strings.Contains(rbac, "Service\n") {
		t.Errorf("%s keeps the installer's names, labels or non-RBAC objects:\n%s", RBACFile, rbac)
	}
}

func TestGenerateRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		install []byte
		want    string
	}{
		"no manager ServiceAccount": {docs(crd, viewer), "no namespaced ServiceAccount"},
		"a name without the prefix": {docs(sa, strings.Replace(viewer, "rbo-widget", "other-widget", 1)), `lacks the installer's prefix "rbo-"`},
		"another subject":           {docs(sa, strings.Replace(binding, "name: rbo-controller-manager", "name: someone", 1)), "is not the manager's ServiceAccount"},
		"another namespace":         {docs(sa, strings.Replace(leaderRole, "namespace: rbo-system", "namespace: elsewhere", 1)), "is not the manager's"},
		"not YAML":                  {[]byte("kind: [\n"), "reading the installer"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Generate(tc.install)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
