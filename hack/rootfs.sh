#!/usr/bin/env bash
# Builds, with debootstrap from Debian's mirror, the file systems the tests run in,
# into a cache outside the checkout keyed by what they contain:
#
#   image       the Dockerfile's runtime stage: hack/image-packages.txt (the list the
#               Dockerfile reads too), its other suites' tools unpacked by
#               hack/image-tools.sh (which the Dockerfile runs too), without the
#               manager and agent binaries (tests bind-mount a fresh agent at /agent)
#   server-17   Debian trixie with the postgresql-17 server, for the tests' second
#               server major (the machine's own is bookworm's PostgreSQL 15)
#
#   hack/rootfs.sh                 build what is missing, print the directories
#   hack/rootfs.sh --print         print the directories only (image, then server-17)
#
# Needs root and debootstrap (apt-get install debootstrap). A build takes about a
# minute on 2 cores; a cached one nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${RUNBOOK_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/runbook-operator}
LIST=hack/image-packages.txt
key() { cat "$@" | sha256sum | cut -c1-12; }
IMAGE_DIR="$CACHE/rootfs/image-$(key "$LIST" hack/image-tools.sh "$0")"
SERVER_DIR="$CACHE/rootfs/server-17-$(echo postgresql-17 | key - "$0")"

if [[ "${1:-}" == "--print" ]]; then echo "$IMAGE_DIR"; echo "$SERVER_DIR"; exit 0; fi

log() { echo "rootfs: $*" >&2; }
packages() { awk -v s="$1" -v h="$2" '!/^#/ && NF == 3 && $1 == s && $3 == h {print $2}' "$LIST"; }
base_suite() { awk '!/^#/ && NF == 3 && $3 == "install" {print $1; exit}' "$LIST"; }

# debootstrap_into DIR SUITE PACKAGES...: a minimal Debian with PACKAGES, no
# service started while installing (policy-rc.d), apt's lists removed as the
# Dockerfile does.
debootstrap_into() {
  local dir=$1 suite=$2; shift 2
  rm -rf "$dir"
  mkdir -p "$dir/usr/sbin"
  printf '#!/bin/sh\nexit 101\n' > "$dir/usr/sbin/policy-rc.d"
  chmod +x "$dir/usr/sbin/policy-rc.d"
  debootstrap --variant=minbase --include="$(IFS=,; echo "$*")" "$suite" "$dir" >"$dir.log" 2>&1 ||
    { tail -20 "$dir.log" >&2; return 1; }
  rm -f "$dir/usr/sbin/policy-rc.d"
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/archives/*.deb
}

build_image() {
  [[ -x "$IMAGE_DIR/usr/bin/pg_dump" ]] && return 0
  local tmp="$IMAGE_DIR.tmp" start suite
  start=$(date +%s)
  suite=$(base_suite)
  log "building the image's runtime file system ($suite + $(packages "$suite" install | xargs)) in $IMAGE_DIR"
  debootstrap_into "$tmp" "$suite" $(packages "$suite" install)
  # The Dockerfile's tools stage, with the runtime stage's own apt and keyring.
  log "unpacking $(awk '!/^#/ && NF == 3 && $3 == "extract" {print $2 " (" $1 ")"}' "$LIST" | xargs)"
  cp "$LIST" hack/image-tools.sh "$tmp/tmp/"
  chroot "$tmp" /bin/sh /tmp/image-tools.sh /tmp/image-packages.txt / >&2
  rm -f "$tmp/tmp/image-packages.txt" "$tmp/tmp/image-tools.sh"
  # Where the Dockerfile copies the binaries and the kubelet mounts the
  # termination log (the tests bind-mount them there).
  : > "$tmp/agent"; : > "$tmp/manager"; : > "$tmp/dev/termination-log"
  for d in "$tmp"/usr/lib/postgresql/*/bin; do
    chroot --userspec=65532:65532 "$tmp" "${d#"$tmp"}/pg_dump" --version >&2
  done
  rm -rf "$IMAGE_DIR"; mv "$tmp" "$IMAGE_DIR"; rm -f "$tmp.log"
  log "built in $(( $(date +%s) - start ))s"
}

build_server() {
  [[ -x "$SERVER_DIR/usr/lib/postgresql/17/bin/postgres" ]] && return 0
  local tmp="$SERVER_DIR.tmp" start
  start=$(date +%s)
  log "building a trixie file system with postgresql-17 in $SERVER_DIR"
  debootstrap_into "$tmp" trixie postgresql-17
  # The package made a cluster for systemd; the tests make their own in /tmp.
  rm -rf "$tmp"/var/lib/postgresql/17/main "$tmp"/etc/postgresql/17/main
  rm -rf "$SERVER_DIR"; mv "$tmp" "$SERVER_DIR"; rm -f "$tmp.log"
  log "built in $(( $(date +%s) - start ))s"
}

command -v debootstrap >/dev/null || { log "debootstrap is missing: apt-get install debootstrap"; exit 1; }
mkdir -p "$CACHE/rootfs"
# One build at a time per cache (make test's packages may ask at once).
exec 9>"$CACHE/rootfs/.lock"
flock 9
build_image
build_server
echo "$IMAGE_DIR"
echo "$SERVER_DIR"
