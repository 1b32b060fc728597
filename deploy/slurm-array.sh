#!/usr/bin/env bash
# A Slurm job array: `sbatch deploy/slurm-array.sh`; each task runs one shard (SLURM_ARRAY_TASK_ID),
# then `sbatch --dependency=afterok:JOBID --wrap 'fleetgate merge parts/part-*.json --json report.json'`.
#SBATCH --job-name=fleetgate-gate
#SBATCH --array=0-15
#SBATCH --cpus-per-task=2
#SBATCH --mem=512M
#SBATCH --output=logs/shard-%a.out
set -euo pipefail
# Under sbatch the script runs from a spool copy: find deploy/ from the submit directory.
exec "${SLURM_SUBMIT_DIR:-.}/deploy/shard.sh" 16 parts policies/edge-ai --trials 3000 --seed 7 --threads 2
