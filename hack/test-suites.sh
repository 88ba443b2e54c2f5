#!/usr/bin/env bash
# make test's last phase: the end-to-end suite and, beside it, every other package's
# tests (all but ./api/..., which make test ran first). Both mostly wait, on envtest's
# API server and on the devclusters' pods, so together they take about as long as the
# end-to-end suite alone, ~7 minutes less than one after the other.
#
# The e2e output streams; the packages' output (one line per package, or a failing
# package's whole output) is printed in one block when they finish. The exit status
# is non-zero when either failed, and both always run to the end so that one run
# shows every failure.
#
# Usage: KUBEBUILDER_ASSETS=... hack/test-suites.sh [go test flags...]
set -uo pipefail
cd "$(dirname "$0")/.."

flags=("$@")
pkg_log=$(mktemp)
trap 'rm -f "$pkg_log"' EXIT
mapfile -t pkgs < <(go list ./... | grep -v '/api/')

(
  go test "${flags[@]}" "${pkgs[@]}" >"$pkg_log" 2>&1
  rc=$?
  echo "== all other packages finished ($(date -u +%T), exit $rc):"
  cat "$pkg_log"
  exit "$rc"
) &
pkg_pid=$!

go test "${flags[@]}" -tags=e2e ./test/e2e/ -v -ginkgo.v
e2e_rc=$?
wait "$pkg_pid"
pkg_rc=$?

echo "== end to end: exit $e2e_rc; all other packages: exit $pkg_rc ($(date -u +%T))"
if [ "$e2e_rc" -ne 0 ] || [ "$pkg_rc" -ne 0 ]; then
  exit 1
fi
