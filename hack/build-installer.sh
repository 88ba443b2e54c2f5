#!/usr/bin/env bash
# Prints the installer (dist/install.yaml): kustomize build of config/default (CRDs,
# RBAC, the manager Deployment, its metrics Service) with the manager's image set to
# IMG. The image is set in an overlay in a temporary folder beside config/default
# (kustomize takes no absolute base), removed on exit, so config/ is not edited (the kubebuilder convention `kustomize edit set image` rewrites
# config/manager/kustomization.yaml).
#
#   hack/build-installer.sh IMG > dist/install.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
img=${1:?usage: hack/build-installer.sh IMG}
KUSTOMIZE=${KUSTOMIZE:-go run sigs.k8s.io/kustomize/kustomize/v5@v5.8.1}
# name[:tag] or name@digest, where name may hold a registry's host:port.
case "$img" in
  *@*) name=${img%@*} ref="  digest: ${img#*@}" ;;
  *) if [[ "${img##*/}" == *:* ]]; then name=${img%:*} ref="  newTag: ${img##*:}"; else name=$img ref="  newTag: latest"; fi ;;
esac
overlay=$(mktemp -d config/.installer-XXXXXX)
trap 'rm -rf "$overlay"' EXIT
cat > "$overlay/kustomization.yaml" <<YAML
resources:
- ../default
images:
- name: controller
  newName: $name
$ref
# config/manager copies the manager's image into AGENT_IMAGE before this overlay
# sets it: copy it again.
replacements:
- source:
    kind: Deployment
    fieldPath: spec.template.spec.containers.[name=manager].image
  targets:
  - select:
      kind: Deployment
    fieldPaths:
    - spec.template.spec.containers.[name=manager].env.[name=AGENT_IMAGE].value
YAML
$KUSTOMIZE build "$overlay"
