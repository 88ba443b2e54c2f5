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

package harness

import (
	"context"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// ManagerNamespace and ManagerServiceAccount are where the manager runs:
// config/default's namespace and config/rbac's ServiceAccount.
const (
	ManagerNamespace      = "runbook-operator-system"
	ManagerServiceAccount = "controller-manager"
)

// BindManagerRole gives the manager's ServiceAccount what the operator's manifests
// give it: the ClusterRole in roleFile (config/rbac/role.yaml, generated from the
// RBAC markers), the namespace and ServiceAccount, and a ClusterRoleBinding between
// them; objects that exist are kept. It returns the user name to impersonate, so
// that a rule missing from the markers is refused as in a real cluster.
func BindManagerRole(ctx context.Context, cs kubernetes.Interface, roleFile string) (string, error) {
	raw, err := os.ReadFile(roleFile)
	if err != nil {
		return "", err
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal(raw, role); err != nil {
		return "", fmt.Errorf("%s: %w", roleFile, err)
	}
	rbac, core := cs.RbacV1(), cs.CoreV1()
	ignoreExists := func(_ any, err error) error {
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}
	if err := ignoreExists(rbac.ClusterRoles().Create(ctx, role, metav1.CreateOptions{})); err != nil {
		return "", err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ManagerNamespace}}
	if err := ignoreExists(core.Namespaces().Create(ctx, ns, metav1.CreateOptions{})); err != nil {
		return "", err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ManagerNamespace, Name: ManagerServiceAccount}}
	if err := ignoreExists(core.ServiceAccounts(ManagerNamespace).Create(ctx, sa, metav1.CreateOptions{})); err != nil {
		return "", err
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "manager-rolebinding"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ManagerNamespace, Name: ManagerServiceAccount}},
	}
	if err := ignoreExists(rbac.ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{})); err != nil {
		return "", err
	}
	return "system:serviceaccount:" + ManagerNamespace + ":" + ManagerServiceAccount, nil
}
