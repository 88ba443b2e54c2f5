#!/usr/bin/env bash
# Builds the binaries the tests need from source through the Go module proxy
# (kube-apiserver, kube-controller-manager, kubectl, etcd, versitygw) into a cache
# outside the checkout, keyed by version. Each binary is rebuilt only when it is
# missing. Prints the assets directory (use it as KUBEBUILDER_ASSETS) on its last
# line; the e2e suite runs $KUBEBUILDER_ASSETS/kubectl.
#
#   hack/test-binaries.sh            build what is missing, print the directory
#   hack/test-binaries.sh --print    print the directory only
#   hack/test-binaries.sh --print-helm  print the helm binary's path only (HELM_BIN)
#
# helm (for the chart's tests) is built into its own entry, $CACHE/tools/helm-VERSION,
# so that a new helm version leaves the assets entry above valid, and the reverse.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.37.2}
ETCD_VERSION=${ETCD_VERSION:-3.7.3}
VERSITYGW_VERSION=${VERSITYGW_VERSION:-1.8.0}
CACHE=${RUNBOOK_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/runbook-operator}
ASSETS="$CACHE/assets/k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_versitygw-${VERSITYGW_VERSION}"
HELM_VERSION=${HELM_VERSION:-4.3.2}
HELM_BIN="$CACHE/tools/helm-${HELM_VERSION}/helm"

if [[ "${1:-}" == "--print" ]]; then echo "$ASSETS"; exit 0; fi
if [[ "${1:-}" == "--print-helm" ]]; then echo "$HELM_BIN"; exit 0; fi
mkdir -p "$ASSETS"

log() { echo "test-binaries: $*" >&2; }

# build_in_module NAME MODULE_SETUP_FN PACKAGE LDFLAGS
# Builds PACKAGE inside a throwaway module prepared by MODULE_SETUP_FN and installs
# the result atomically as $ASSETS/NAME.
build_in_module() {
  local name=$1 setup=$2 pkg=$3 ldflags=${4:-}
  if [[ -x "$ASSETS/$name" ]]; then return 0; fi
  local dir start
  dir=$(mktemp -d)
  start=$(date +%s)
  log "building $name ($pkg) in $dir"
  (cd "$dir" && "$setup" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$ASSETS/.$name.tmp" "$pkg")
  mv "$ASSETS/.$name.tmp" "$ASSETS/$name"
  rm -rf "$dir"
  log "built $name in $(( $(date +%s) - start ))s"
}

setup_kubernetes() {
  go mod init runbook-testbin/kubernetes >/dev/null 2>&1
  go mod edit -go=1.26 -require="k8s.io/kubernetes@v$K8S_VERSION"
  # k8s.io/kubernetes replaces its staging modules with ./staging/...; point each at
  # the published module of the matching version instead.
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  local staged
  staged=$(grep -E '^\s*k8s\.io/[^ ]+ => \./staging/' "$gomod" | awk '{print $1}' || true)
  if [[ -z "$staged" ]]; then
    staged=$(awk '/^replace \(/{r=1;next} r&&/^\)/{r=0} r&&/=> \.\/staging/{print $1}' "$gomod")
  fi
  for m in $staged; do
    go mod edit -replace="$m=$m@v0.${K8S_VERSION#1.}"
  done
  cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
GO
  go mod tidy >/dev/null
}

setup_etcd() {
  go mod init runbook-testbin/etcd >/dev/null 2>&1
  go mod edit -require="go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' > tools.go
  go mod tidy >/dev/null
}

setup_versitygw() {
  go mod init runbook-testbin/versitygw >/dev/null 2>&1
  go mod edit -require="github.com/versity/versitygw@v$VERSITYGW_VERSION"
  printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/versity/versitygw/cmd/versitygw"\n' > tools.go
  go mod tidy >/dev/null
}

# build_helm builds helm (helm.sh/helm/v4's cmd/helm) into $HELM_BIN under a lock of
# its own, so that two runs at once build it once. The chart's tests (helm lint, helm
# template) and the e2e spec (helm install) run it.
build_helm() {
  if [[ -x "$HELM_BIN" ]]; then return 0; fi
  local dir
  dir=$(dirname "$HELM_BIN")
  mkdir -p "$dir"
  (
    flock 9
    if [[ -x "$HELM_BIN" ]]; then exit 0; fi  # built by the run that held the lock
    local tmp start
    tmp=$(mktemp -d)
    start=$(date +%s)
    log "building helm (helm.sh/helm/v4/cmd/helm@v$HELM_VERSION) in $tmp"
    cd "$tmp"
    go mod init runbook-testbin/helm >/dev/null 2>&1
    go mod edit -require="helm.sh/helm/v4@v$HELM_VERSION"
    printf '//go:build tools\n\npackage tools\n\nimport _ "helm.sh/helm/v4/cmd/helm"\n' > tools.go
    go mod tidy >/dev/null
    CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
      -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=v$HELM_VERSION" \
      -o "$HELM_BIN.tmp" helm.sh/helm/v4/cmd/helm
    mv "$HELM_BIN.tmp" "$HELM_BIN"
    cd / && rm -rf "$tmp"
    log "built helm in $(( $(date +%s) - start ))s"
  ) 9>"$dir/.lock"
}

k8s_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${K8S_VERSION#1.}"
k8s_ldflags="${k8s_ldflags%.*}"  # gitMinor is the minor number only
k8s_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2)"

# build_kubectl: kubectl for the e2e spec that runs `kubectl runbook` (the plugin on
# PATH). Same k8s.io/kubernetes source and flags as kube-apiserver, so it reuses
# most of its compiled packages from the Go build cache; it lives in the same
# version-keyed directory (adding it changes no key, and a cache made before kubectl
# existed gets only kubectl built). Built under its own lock so that two concurrent
# runs build it once.
build_kubectl() {
  if [[ -x "$ASSETS/kubectl" ]]; then return 0; fi
  (
    flock 9
    build_in_module kubectl setup_kubernetes k8s.io/kubernetes/cmd/kubectl "$k8s_ldflags"
  ) 9>"$ASSETS/.kubectl.lock"
}

build_in_module etcd setup_etcd go.etcd.io/etcd/server/v3 "-s -w"
build_in_module versitygw setup_versitygw github.com/versity/versitygw/cmd/versitygw "-s -w"
build_in_module kube-apiserver setup_kubernetes k8s.io/kubernetes/cmd/kube-apiserver "$k8s_ldflags"
build_in_module kube-controller-manager setup_kubernetes k8s.io/kubernetes/cmd/kube-controller-manager "$k8s_ldflags"
build_kubectl
build_helm

echo "$ASSETS"
