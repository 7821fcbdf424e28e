#!/usr/bin/env bash
# `make slurm-down`: stop the one-node cluster `make slurm-up` started (slurmctld, slurmd, munged), by
# their pid files. Its slurm.conf and spool directories stay, so the next `make slurm-up` takes seconds.
set -euo pipefail

stop() {  # pid file, name
  local pid
  pid=$(cat "$1" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    echo "slurm-down: stopped $2"
  else
    echo "slurm-down: $2 is not running"
  fi
}
stop /run/slurmd.pid slurmd
stop /run/slurmctld.pid slurmctld
stop /run/munge/munged.pid munged
