#!/usr/bin/env bash
# Benchmarks the agent's backup and restore against the runbook's commands on a
# throwaway PostgreSQL and versitygw (not a test: it prints figures and targets).
#
#   hack/bench-backup.sh                       # 1000 MB and 2000 MB databases
#   BENCH_SIZES_MB=300,1000 hack/bench-backup.sh
#
# Environment: BENCH_SIZES_MB (comma-separated sizes), BENCH_COMPRESSION (zstd|gzip|none),
# BENCH_JOBS (pg_restore -j for both sides), BENCH_RESTORE_RUNS (pg_restore / agent restore
# pairs per size, default 3; the median ratio is reported), BENCH_AGENT (a prebuilt agent
# binary to measure instead of cmd/agent, e.g. an older version). Needs versitygw from
# hack/test-binaries.sh and PostgreSQL server binaries (/usr/lib/postgresql/*/bin).
# Disk: about 4× the largest size in $TMPDIR.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${KUBEBUILDER_ASSETS:-}" && ! -x "$(hack/test-binaries.sh --print)/versitygw" ]]; then
  hack/test-binaries.sh >/dev/null
fi
exec go run ./test/bench
