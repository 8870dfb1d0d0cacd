#!/usr/bin/env bash
# Status command for profiles/cluster-generic: print running, success or failed for one SLURM
# job id, as snakemake's cluster-generic executor expects. Asks slurmctld first (it knows a job
# from submission until MinJobAge after its end, default 5 min), then the accounting database
# (sacct) for older jobs; so it works on clusters with and without slurmdbd.
set -uo pipefail
job=$1

if out=$(scontrol show job -o "$job" 2>&1); then
  state=$(grep -o 'JobState=[A-Z_]*' <<<"$out" | head -n 1 | cut -d= -f2)
elif [[ $out == *"Invalid job id"* ]]; then
  # Purged from slurmctld: only accounting still knows it (empty without slurmdbd -> failed).
  state=$(sacct -n -X -P -j "$job" -o State 2>/dev/null | head -n 1 | cut -d' ' -f1)
  state=${state:-UNKNOWN}
else
  # slurmctld did not answer (busy or restarting): ask again at the next poll.
  echo running
  exit 0
fi

case $state in
COMPLETED) echo success ;;
PENDING | CONFIGURING | RUNNING | COMPLETING | SUSPENDED | REQUEUED | REQUEUE_FED | \
  REQUEUE_HOLD | RESIZING | SIGNALING | STAGE_OUT | STOPPED | PREEMPTED) echo running ;;
*) echo failed ;; # FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, BOOT_FAIL, DEADLINE, ...
esac
