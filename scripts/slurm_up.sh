#!/usr/bin/env bash
# `make slurm-up`: a one-node Slurm cluster on this machine (Debian's slurm-wlm + munge), for the Slurm
# launcher's tests and CI (docs/slurm.md). Idempotent: when the node is already idle it says so and exits in
# well under a second. Runs as root (SlurmUser=root, as in the recipe that ran here: shared/NOTES.md);
# installs nothing itself. `make slurm-down` (scripts/slurm_down.sh) stops what this started.
set -euo pipefail

CONF=/etc/slurm/slurm.conf
MARK="# written by evalpin's scripts/slurm_up.sh: a one-node cluster on localhost"
HOST=$(hostname -s)
say() { echo "slurm-up: $*"; }
fail() { echo "slurm-up: $*" >&2; exit 1; }

for cmd in munged slurmctld slurmd sinfo scontrol; do
  command -v "$cmd" >/dev/null || fail "$cmd is not installed. Install Slurm and munge: apt-get install -y slurm-wlm munge (as root), then make slurm-up"
done

node_state() { sinfo -h -n "$HOST" -o %T 2>/dev/null | head -n1 || true; }
case "$(node_state)" in
  idle|mixed|allocated) say "up: node $HOST is $(node_state) (sinfo)"; exit 0 ;;
esac
[ "$(id -u)" = 0 ] || fail "run as root (the one-node cluster runs its daemons as root): sudo make slurm-up"

# munge: the key (Debian's package usually made one), then the daemon as the munge user.
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
fi
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  install -d -o munge -g munge -m 0755 /run/munge
  runuser -u munge -- munged
fi

# slurm.conf: ours, rewritten only when it changes; a file someone else wrote is never overwritten.
if [ -f "$CONF" ] && ! head -n1 "$CONF" | grep -qF "$MARK"; then
  fail "$CONF exists and was not written by make slurm-up: this machine has its own Slurm; use it (docs/slurm.md) or move $CONF aside, then make slurm-up"
fi
MEMORY=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
WANTED=$(cat <<EOF
$MARK
ClusterName=evalpin
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SchedulerParameters=sched_interval=1
NodeName=$HOST CPUs=$(nproc) RealMemory=$MEMORY State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
)
if [ "$(cat "$CONF" 2>/dev/null)" != "$WANTED" ]; then
  install -d /etc/slurm
  printf '%s\n' "$WANTED" > "$CONF.tmp" && mv "$CONF.tmp" "$CONF"
  if scontrol ping >/dev/null 2>&1; then scontrol reconfigure; fi
fi
install -d /var/spool/slurmctld /var/spool/slurmd /var/log/slurm

running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
running /run/slurmctld.pid || slurmctld
running /run/slurmd.pid || slurmd

for _ in $(seq 60); do
  case "$(node_state)" in
    idle|mixed|allocated) say "up: node $HOST is idle ($(nproc) CPUs, ${MEMORY} MB; partition debug)"; exit 0 ;;
    down*|drain*) scontrol update NodeName="$HOST" State=RESUME 2>/dev/null || true ;;
  esac
  sleep 0.5
done
fail "node $HOST did not become idle in 30 s (sinfo: $(node_state)); see /var/log/slurm/slurmctld.log and /var/log/slurm/slurmd.log"
