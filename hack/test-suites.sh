#!/usr/bin/env bash
# make test's last phase, three runs at once (all but ./api/..., which make test ran
# first):
#   - every other package's tests (unit, envtest, data plane);
#   - the end-to-end suite in two halves, each on a devcluster of its own (Ginkgo
#     selects a half's specs by file: E2E_FIRST_HALF below), and TestDemo, on a third,
#     beside the first half.
# All of them mostly wait (on envtest's API server, on the devclusters' pods), so
# together they take about as long as the longest, where one after the other took
# the sum. Split the specs so that the halves take about the same time: the
# durations each spec took are in the e2e output ("• [N seconds]").
#
# Each run's output is kept and printed in one block when it finishes (a failing
# package's, or a failing spec's, whole output; the e2e halves print every spec and
# step, -ginkgo.v). The exit status is non-zero when any failed; all three always run
# to the end, so that one run shows every failure.
#
# Usage: KUBEBUILDER_ASSETS=... hack/test-suites.sh [go test flags...]
set -uo pipefail
cd "$(dirname "$0")/.."

# The specs of these files make the first half, with TestDemo beside it: ~9 of the
# ~18 minutes of specs, measured on 2 cores with everything else running (before
# release_query moved here, the halves took 523 s and 699 s).
E2E_FIRST_HALF='/(docs|install|helm|release_kill|release_query)_test\.go$'

flags=("$@")
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
mapfile -t pkgs < <(go list ./... | grep -v '/api/')
# Compile the e2e test binary once, before three runs want it at the same time.
go test -tags=e2e -c -o "$logs/e2e.test" ./test/e2e/ || exit 1

# run NAME CMD...: runs CMD with its output in $logs/NAME.log, then prints the log in
# one block (under a lock, so that blocks do not interleave) and records the status.
run() {
  local name=$1; shift
  "$@" >"$logs/$name.log" 2>&1
  local rc=$?
  echo "$rc" >"$logs/$name.rc"
  {
    flock 9
    echo "== $name finished ($(date -u +%T), exit $rc):"
    cat "$logs/$name.log"
  } 9>"$logs/print.lock"
}

run "all other packages" go test "${flags[@]}" "${pkgs[@]}" &
# The e2e binary runs in its package folder, as go test runs it.
e2e() {
  (cd test/e2e && "$logs/e2e.test" -test.v -test.timeout=75m "$@" -ginkgo.v)
}
run "end to end, first half, and TestDemo" e2e -test.run '^(TestE2E|TestDemo)$' -ginkgo.focus-file "$E2E_FIRST_HALF" &
run "end to end, second half" e2e -test.run '^TestE2E$' -ginkgo.skip-file "$E2E_FIRST_HALF" &
wait

status=0
echo "== summary ($(date -u +%T)):"
for f in "$logs"/*.rc; do
  name=$(basename "$f" .rc)
  rc=$(cat "$f")
  echo "   $name: exit $rc"
  [ "$rc" -eq 0 ] || status=1
done
exit "$status"
