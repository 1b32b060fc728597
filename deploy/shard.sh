#!/usr/bin/env bash
# Runs one shard of a `fleetgate simulate` run, taking the shard index from the engine that started it:
#   JOB_COMPLETION_INDEX   (Kubernetes Indexed Job)
#   SLURM_ARRAY_TASK_ID    (Slurm job array; with --array=0-(N-1))
#   FLEETGATE_SHARD_INDEX  (a CI matrix, or anything else)
# Usage: shard.sh SHARDS OUT_DIR PACKAGE [simulate options…]
# Every shard must run the same inputs, seed and trials; `fleetgate merge OUT_DIR/part-*.json` then
# writes the report a single run would have written.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: shard.sh SHARDS OUT_DIR PACKAGE [simulate options…]" >&2
  exit 2
fi
shards=$1 out=$2 package=$3
shift 3
index=${JOB_COMPLETION_INDEX:-${SLURM_ARRAY_TASK_ID:-${FLEETGATE_SHARD_INDEX:-}}}
if [ -z "$index" ]; then
  echo "error: no shard index: set JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID or FLEETGATE_SHARD_INDEX" >&2
  exit 2
fi
exec "${FLEETGATE:-fleetgate}" simulate "$package" --shard "$index/$shards" --out "$out" "$@"
