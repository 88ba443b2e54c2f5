#!/usr/bin/env bash
# Builds `kubectl runbook` for each platform into dist/plugin/ as krew archives
# (kubectl-runbook, kubectl_complete-runbook, LICENSE) and writes
# dist/plugin/runbook.yaml from plugins/runbook.yaml with each archive's URL and
# sha256.
#
#   PLUGIN_URL=<base URL the archives are published at> PLUGIN_VERSION=v0.1.0 \
#   PLUGIN_PLATFORMS="linux/amd64 darwin/arm64" hack/plugin-dist.sh
#
# Without PLUGIN_URL the URIs are file:// paths of dist/plugin/ (enough for
# `kubectl krew install --manifest=… --archive=…`).
set -euo pipefail
cd "$(dirname "$0")/.."
version=${PLUGIN_VERSION:-v0.0.0-dev}
platforms=${PLUGIN_PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64}
out=dist/plugin
base=${PLUGIN_URL:-file://$PWD/$out}
mkdir -p "$out"
entries=""
for p in $platforms; do
  os=${p%/*} arch=${p#*/}
  stage=$(mktemp -d)
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -ldflags=-s -o "$stage/kubectl-runbook" ./cmd/kubectl-runbook
  cp plugins/kubectl_complete-runbook "$stage/"
  if [ -f LICENSE ]; then cp LICENSE "$stage/"; fi
  archive=kubectl-runbook_${os}_${arch}.tar.gz
  tar -C "$stage" -czf "$out/$archive" .
  rm -rf "$stage"
  sum=$(sha256sum "$out/$archive" | cut -d' ' -f1)
  entries+="  - selector:
      matchLabels: {os: $os, arch: $arch}
    uri: $base/$archive
    sha256: $sum
    bin: kubectl-runbook
    files:
    - {from: kubectl-runbook, to: .}
    - {from: kubectl_complete-runbook, to: .}
"
  echo "$out/$archive $sum"
done
awk -v v="$version" -v p="$entries" '{ if ($0 == "@PLATFORMS@") printf "%s", p; else { gsub("@VERSION@", v); print } }' plugins/runbook.yaml > "$out/runbook.yaml"
echo "$out/runbook.yaml"
