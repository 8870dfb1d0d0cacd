#!/usr/bin/env bash
# A real single-node SLURM cluster (with accounting) on this machine, to try and test the
# cluster profiles (profiles/slurm, profiles/cluster-generic) without a site cluster.
#
#   sudo scripts/slurm-local.sh start    # install missing packages, configure, start, smoke test
#   sudo scripts/slurm-local.sh status   # which daemons run, and who started them; sinfo
#   sudo scripts/slurm-local.sh stop     # stop only the daemons this script started
#
# Debian/Ubuntu packages: munge, slurmctld, slurmd, slurm-client, slurmdbd, mariadb-server.
# Daemons are started by hand (no systemd needed) as root. Why accounting (slurmdbd + MariaDB):
# snakemake-executor-plugin-slurm polls `sacct` for job status whenever `sacct` exists; without
# slurmdbd every poll fails quietly and snakemake waits forever.
#
# Idempotent: `start` on a running cluster only re-checks it. A daemon that was already running
# (e.g. started by the system) is reused and never stopped by `stop`; the PIDs of the daemons
# this script started are kept in $RECG_SLURM_STATE and `stop` kills exactly those.
# `stop` also moves slurm.conf aside: with a slurm.conf but no controller, every snakemake call
# (even a local one) stalls ~10 s, because the slurm plugin queries `scontrol` at import.
#
# Environment:
#   SLURM_CPUS        CPUs the node offers (default: max(nproc, 2), since rules use threads: 2;
#                     more than the real cores is allowed via SlurmdParameters=config_overrides)
#   SLURM_MEM_MB      RealMemory of the node (default: 90 % of MemTotal)
#   RECG_SLURM_STATE  state directory (default: /run/recg-slurm)
#
# Exit codes: 0 ok; 1 failure; 2 usage; 3 SLURM cannot be installed here (not root, no apt-get,
# or apt-get failed). The test suite skips on 3 (except under CI=true) and fails on anything else.
set -euo pipefail

STATE=${RECG_SLURM_STATE:-/run/recg-slurm}
ETC=/etc/slurm
CONF=$ETC/slurm.conf
DBD_CONF=$ETC/slurmdbd.conf
LOG_DIR=/var/log/slurm
RUN_DIR=/run/slurm
MARKER="# Written by recg scripts/slurm-local.sh"
PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd) # start order; stop goes in reverse
NODE=$(hostname -s)
ACCOUNT_DB=slurm_acct_db

log() { printf '[slurm-local] %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}
cannot_install() {
  log "SLURM cannot be installed here: $*"
  exit 3
}

# Wait until "$@" succeeds, for at most $1 seconds (polling every 0.5 s).
wait_for() {
  local seconds=$1
  shift
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

pid_alive() { # pid name: is process `pid` alive and called `name`?
  [[ -n $1 && -r /proc/$1/comm ]] && [[ $(cat "/proc/$1/comm") == "$2" ]]
}

ours() { # name: pid of the daemon this script started, if it is still alive
  local file=$STATE/$1.pid pid
  [[ -r $file ]] || return 1
  pid=$(<"$file")
  pid_alive "$pid" "$1" && echo "$pid"
}

running() { pgrep -x "$1" >/dev/null 2>&1; } # started by anyone

record() { # name pidfile: remember the pid a daemon wrote, so that `stop` can kill exactly it
  local pid
  wait_for 15 test -s "$2" || die "$1 did not write $2 (see $LOG_DIR)"
  pid=$(<"$2")
  pid_alive "$pid" "$1" || die "$1 exited right after start (see $LOG_DIR/$1.log)"
  echo "$pid" >"$STATE/$1.pid"
  log "started $1 (pid $pid)"
}

# --- packages ---------------------------------------------------------------------------------

install_packages() {
  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
      missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  command -v apt-get >/dev/null || cannot_install "no apt-get (needs Debian or Ubuntu)"
  log "installing ${missing[*]}"
  # Keep the packages' init scripts from starting daemons during install: this script starts
  # and tracks them itself. Only when no policy-rc.d exists, and removed again afterwards.
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=1
  fi
  local rc=0
  {
    apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}"
  } >"$STATE/apt.log" 2>&1 || rc=$?
  ((own_policy)) && rm -f "$policy"
  if ((rc != 0)); then
    tail -n 20 "$STATE/apt.log" >&2
    cannot_install "apt-get install ${missing[*]} failed (rc $rc, log $STATE/apt.log)"
  fi
}

# --- configuration ----------------------------------------------------------------------------

default_cpus() {
  local n
  n=$(nproc)
  echo $((n > 2 ? n : 2))
}

default_mem_mb() {
  awk '/^MemTotal:/ { printf "%d\n", $2 / 1024 * 0.9 }' /proc/meminfo
}

# The generated slurm.conf; every setting that is not a plain default is explained.
slurm_conf() {
  cat <<EOF
$MARKER; \`scripts/slurm-local.sh stop\` moves it aside.
ClusterName=recg
# name(address): no DNS needed
SlurmctldHost=$NODE(127.0.0.1)
# Daemons and jobs as root: no slurm user or file-permission setup on a throwaway cluster
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# No cgroups or systemd on these machines
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
# Accounting through slurmdbd: the snakemake slurm plugin polls sacct for job states
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
# Keep the plugin's --comment (rule_<name>_wildcards_<...>) so that sacct shows which rule ran
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/linux
JobCompType=jobcomp/none
# CPUs and memory are consumable, as on a real cluster
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
# Reject impossible requests at sbatch time instead of leaving them pending forever
EnforcePartLimits=ALL
# Trust the CPUs/RealMemory below even when they exceed the hardware (SLURM_CPUS)
SlurmdParameters=config_overrides
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
# Finished jobs stay in squeue for 5 min (the plugin's squeue status mode relies on it)
MinJobAge=300
KillWait=5
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
Waittime=0
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

dbd_password() { # reuse the password of an existing slurmdbd.conf, else make one
  local pass=""
  [[ -r $DBD_CONF ]] && pass=$(sed -n 's/^StoragePass=//p' "$DBD_CONF")
  [[ -n $pass ]] || pass=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  echo "$pass"
}

slurmdbd_conf() {
  cat <<EOF
$MARKER
DbdHost=localhost
SlurmUser=root
AuthType=auth/munge
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$1
StorageLoc=$ACCOUNT_DB
LogFile=$LOG_DIR/slurmdbd.log
PidFile=$RUN_DIR/slurmdbd.pid
EOF
}

# write_if_changed path mode content: returns 0 when the file changed
write_if_changed() {
  if [[ -f $1 ]] && [[ $(<"$1") == "$3" ]]; then
    return 1
  fi
  install -m "$2" /dev/null "$1.new"
  printf '%s\n' "$3" >"$1.new"
  mv "$1.new" "$1"
}

# --- daemons ----------------------------------------------------------------------------------

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    return 0
  fi
  [[ -s /etc/munge/munge.key ]] || mungekey --create >/dev/null 2>&1 ||
    die "no /etc/munge/munge.key and mungekey --create failed"
  install -d -o munge -g munge -m 0755 /run/munge
  rm -f /run/munge/munged.pid
  su -s /bin/sh munge -c /usr/sbin/munged || die "munged failed to start"
  record munged /run/munge/munged.pid
  wait_for 10 sh -c 'munge -n | unmunge' || die "munge does not answer"
}

mariadb_up() { mariadb-admin --protocol=socket ping >/dev/null 2>&1; }

start_mariadb() {
  if ! mariadb_up; then
    install -d -o mysql -g mysql /run/mysqld
    if [[ ! -d /var/lib/mysql/mysql ]]; then
      mariadb-install-db --user=mysql --datadir=/var/lib/mysql >"$LOG_DIR/mariadb-install.log" 2>&1 ||
        die "mariadb-install-db failed (see $LOG_DIR/mariadb-install.log)"
    fi
    rm -f /run/mysqld/mysqld.pid
    # Socket only: slurmdbd connects to "localhost", which the client library maps to the socket.
    setsid /usr/sbin/mariadbd --user=mysql --skip-networking \
      --pid-file=/run/mysqld/mysqld.pid >>"$LOG_DIR/mariadbd.log" 2>&1 </dev/null &
    record mariadbd /run/mysqld/mysqld.pid
    wait_for 30 mariadb_up || die "MariaDB does not answer (see $LOG_DIR/mariadbd.log)"
  fi
  mariadb --protocol=socket <<EOF || die "cannot create the accounting database"
CREATE DATABASE IF NOT EXISTS $ACCOUNT_DB;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$1';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$1';
GRANT ALL ON $ACCOUNT_DB.* TO 'slurm'@'localhost';
EOF
}

# stop_ours name: TERM (then KILL) the daemon this script started, by its recorded pid
stop_ours() {
  local name=$1 pid
  if pid=$(ours "$name"); then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    while pid_alive "$pid" "$name" && ((SECONDS < deadline)); do sleep 0.2; done
    if pid_alive "$pid" "$name"; then
      log "$name (pid $pid) ignored SIGTERM for 30 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$STATE/$name.pid"
}

start_slurm_daemon() { # name: start slurmdbd/slurmctld/slurmd unless running
  local name=$1
  running "$name" && return 0
  rm -f "$RUN_DIR/$name.pid"
  "/usr/sbin/$name" || die "$name failed to start (see $LOG_DIR/$name.log)"
  record "$name" "$RUN_DIR/$name.pid"
}

node_state() { sinfo -h -n "$NODE" -o %T 2>/dev/null | head -n 1; }

node_ready() { [[ $(node_state) =~ ^(idle|mixed|allocated|completing) ]]; }

smoke_test() {
  local out job state
  out=$(timeout -k 5 90 sbatch --wait -t 2 -o /dev/null -J recg-smoke --wrap 'srun true' 2>&1) ||
    die "smoke test job failed: $out"
  job=$(sed -n 's/^Submitted batch job \([0-9]*\).*/\1/p' <<<"$out")
  for _ in $(seq 40); do
    state=$(sacct -n -X -P -j "$job" -o State 2>/dev/null | head -n 1)
    [[ $state == COMPLETED ]] && break
    sleep 0.5
  done
  [[ $state == COMPLETED ]] || die "smoke test job $job is '${state:-missing}' in sacct"
  log "smoke test ok: job $job ran (sbatch + srun) and sacct recorded it COMPLETED"
}

# --- commands ---------------------------------------------------------------------------------

cmd_start() {
  [[ $(id -u) == 0 ]] || cannot_install "needs root (packages, daemons, /etc/slurm)"
  mkdir -p "$STATE"
  install_packages

  CPUS=${SLURM_CPUS:-$(default_cpus)}
  MEM_MB=${SLURM_MEM_MB:-$(default_mem_mb)}
  [[ $CPUS =~ ^[1-9][0-9]*$ ]] || die "SLURM_CPUS must be a positive integer, got '$CPUS'"
  [[ $MEM_MB =~ ^[1-9][0-9]*$ ]] || die "SLURM_MEM_MB must be a positive integer, got '$MEM_MB'"
  install -d "$ETC" "$LOG_DIR" "$RUN_DIR" /var/spool/slurmctld /var/spool/slurmd

  local conf changed=0
  conf=$(slurm_conf)
  if [[ ! -f $CONF || $(<"$CONF") != "$conf" ]]; then
    changed=1
    # Never rewrite the configuration under a controller this script did not start.
    if running slurmctld && ! ours slurmctld >/dev/null; then
      die "a slurmctld not started by this script runs with another $CONF; stop it first"
    fi
  fi
  rm -f "$CONF.stopped"
  write_if_changed "$CONF" 644 "$conf" || true

  local pass
  pass=$(dbd_password)
  start_munge
  start_mariadb "$pass"
  if write_if_changed "$DBD_CONF" 600 "$(slurmdbd_conf "$pass")"; then
    stop_ours slurmdbd
  fi
  start_slurm_daemon slurmdbd
  wait_for 30 sacctmgr -n list cluster || die "slurmdbd does not answer (see $LOG_DIR/slurmdbd.log)"

  if ((changed)); then # new CPUs/memory: restart the daemons this script runs
    stop_ours slurmd
    stop_ours slurmctld
  fi
  start_slurm_daemon slurmctld
  wait_for 30 sh -c 'scontrol ping | grep -q UP' ||
    die "slurmctld does not answer (see $LOG_DIR/slurmctld.log)"
  start_slurm_daemon slurmd
  if ! wait_for 10 node_ready; then
    scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
    wait_for 30 node_ready || die "node $NODE is '$(node_state)' (see $LOG_DIR/slurmd.log)"
  fi
  smoke_test
  log "cluster up: node $NODE, $CPUS CPUs, $MEM_MB MB, partition debug, account root"
}

cmd_stop() {
  local i
  for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
    stop_ours "${DAEMONS[i]}"
  done
  # A live slurm.conf without a controller stalls every snakemake start by ~10 s.
  if [[ -f $CONF ]] && ! running slurmctld && grep -qF "$MARKER" "$CONF"; then
    mv "$CONF" "$CONF.stopped"
    log "moved $CONF to $CONF.stopped"
  fi
  for name in "${DAEMONS[@]}"; do
    if running "$name"; then log "still running (not started by this script): $name"; fi
  done
}

cmd_status() {
  local name pid all=0
  for name in "${DAEMONS[@]}"; do
    if pid=$(ours "$name"); then
      echo "$name: running (pid $pid, started by this script)"
    elif running "$name"; then
      echo "$name: running (not started by this script)"
    else
      echo "$name: stopped"
      all=1
    fi
  done
  if ((all == 0)); then
    sinfo -N -o '%N %T %c %m %P' || all=1
  fi
  return "$all"
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*)
  echo "usage: $0 {start|stop|status}" >&2
  exit 2
  ;;
esac
