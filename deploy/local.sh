#!/usr/bin/env bash
# Runs a simulation as N local processes, then merges them: the same report as one process, in about
# 1/N of the time on N cores.
# Usage: local.sh N PACKAGE [simulate options…]   (reports: pass --json/--junit/--html via MERGE_ARGS)
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: local.sh N PACKAGE [simulate options…]" >&2
  exit 2
fi
n=$1 package=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
pids=()
for ((k = 0; k < n; k++)); do
  FLEETGATE_SHARD_INDEX=$k "$here/shard.sh" "$n" "$out" "$package" --threads 1 "$@" > /dev/null &
  pids+=($!)
done
for pid in "${pids[@]}"; do
  wait "$pid"
done
# shellcheck disable=SC2086
exec "${FLEETGATE:-fleetgate}" merge "$out"/part-*.json ${MERGE_ARGS:-}
