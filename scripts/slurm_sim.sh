#!/usr/bin/env bash
# A real Slurm on the simulated hosts of scripts/cluster_sim.sh, for trying and testing job scripts
# (root only, Linux; installs Debian's slurmctld, slurmd, slurm-client and munge when missing).
#
# One munged in the root namespace (a private socket and key; every host reaches it through the
# socket's path), slurmctld on h0, slurmd on every host, each daemon in its host's network
# namespace with the host's own hostname and /etc/hosts, and one partition `sim` of all N hosts
# (1 CPU each). Nothing is started through systemd, and nothing outside the state directory, the
# namespaces and Slurm's cgroups (/sys/fs/cgroup/freezer/slurm_h*, removed by `down`) changes.
#
#   scripts/slurm_sim.sh up N
#       Install the packages when missing, create hosts h0…h(N-1) with scripts/cluster_sim.sh
#       (replacing any simulated cluster and Slurm), start the daemons and wait until every node
#       is idle. Prints the slurm.conf path.
#   scripts/slurm_sim.sh down
#       Stop the daemons and every job (TERM, then KILL), remove Slurm's cgroups, the hosts
#       (cluster_sim.sh down) and the state directory. Safe to repeat, and after a crash.
#   scripts/slurm_sim.sh launch [--timeout SEC] [--] COMMAND…
#       Run COMMAND on h0 with SLURM_CONF set, so sbatch, squeue, scontrol and scancel reach the
#       controller (through cluster_sim.sh launch: the caller's environment, which sbatch passes
#       on to the job; exit 124 after SEC seconds). Exits with COMMAND's status.
#   scripts/slurm_sim.sh run N [--timeout SEC] [--] COMMAND…
#       up, launch, then down whatever happens (trap on EXIT, INT and TERM). Concurrent runs of
#       this and of cluster_sim.sh run wait for each other (the same lock in /run/lock).
#   scripts/slurm_sim.sh status
#       The nodes and the queue as Slurm sees them, and the daemons' PIDs.
#
# Environment: LOCKSTEP_SLURM_DIR, the state directory (default /run/lockstep-slurm: slurm.conf,
# munge key and socket, controller state, spool, per-node TmpFS, logs). Job ids start at 1 again
# after every `up` (a new state directory): name output files with the job name, not only its id.
#
# Examples:
#   scripts/slurm_sim.sh run 2 -- sinfo
#   scripts/slurm_sim.sh run 2 --timeout 300 -- sbatch --wait -J demo scripts/lockstep.sbatch --epochs 2
#   scripts/slurm_sim.sh up 2 && scripts/slurm_sim.sh launch -- sbatch -J demo scripts/lockstep.sbatch
#   scripts/slurm_sim.sh launch -- squeue; scripts/slurm_sim.sh down
set -euo pipefail

readonly base=${LOCKSTEP_SLURM_DIR:-/run/lockstep-slurm}
readonly scripts_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly cluster_sim=$scripts_dir/cluster_sim.sh
readonly sim_dir=${LOCKSTEP_SIM_DIR:-/run/lockstep-sim}
readonly prefix=lockstep-
readonly lock_file=/run/lock/lockstep-sim.lock
readonly packages=(slurmctld slurmd slurm-client munge)

die() {
  echo "slurm_sim: $*" >&2
  exit 2
}

# MARK: - Configuration

# write_config COUNT: slurm.conf and cgroup.conf for hosts h0…h(COUNT-1) at cluster_sim's addresses.
write_config() {
  local count=$1 index
  mkdir -p "$base"/{etc,state,log,run} "$base/munge/socket"
  for ((index = 0; index < count; index++)); do mkdir -p "$base/spool/h$index" "$base/tmp/h$index"; done
  {
    cat <<EOF
# Written by scripts/slurm_sim.sh for the simulated hosts of scripts/cluster_sim.sh.
ClusterName=lockstep-sim
SlurmctldHost=h0(10.250.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: a requeued job waits this long before it can start again (Slurm's default is 120 s).
AuthInfo=socket=$base/munge/socket/munge.socket,cred_expire=10
StateSaveLocation=$base/state
SlurmdSpoolDir=$base/spool/%n
SlurmctldPidFile=$base/run/slurmctld.pid
SlurmdPidFile=$base/run/slurmd-%n.pid
SlurmctldLogFile=$base/log/slurmctld.log
SlurmdLogFile=$base/log/slurmd-%n.log
# Per node: with one shared TmpFS, both nodes create the same PMIx folder and srun --mpi=pmix fails.
TmpFS=$base/tmp/%n
MailProg=/bin/true
# cgroup: every process of a job ends with it (proctrack/linuxproc leaked mpirun ranks here).
ProctrackType=proctrack/cgroup
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# Each host sees all of this machine's cores; the nodes are declared with 1 CPU, which is not an error.
SlurmdParameters=config_overrides
JobRequeue=1
ReturnToService=2
SchedulerParameters=sched_interval=2,bf_interval=1
KillWait=30
MinJobAge=600
EOF
    for ((index = 0; index < count; index++)); do
      echo "NodeName=h$index NodeAddr=10.250.0.$((index + 1)) CPUs=1 State=UNKNOWN"
    done
    echo "PartitionName=sim Nodes=$(node_list "$count") Default=YES MaxTime=INFINITE State=UP"
  } >"$base/etc/slurm.conf"
  cat >"$base/etc/cgroup.conf" <<EOF
CgroupPlugin=cgroup/v1
CgroupMountpoint=/sys/fs/cgroup
ConstrainCores=no
ConstrainRAMSpace=no
ConstrainSwapSpace=no
ConstrainDevices=no
EOF
}

node_list() {
  local count=$1 index names=()
  for ((index = 0; index < count; index++)); do names+=("h$index"); done
  (IFS=,; echo "${names[*]}")
}

# MARK: - Daemons

# on_host INDEX COMMAND…: COMMAND in host INDEX's network namespace with its hostname and hosts
# file. Not `ip netns exec`, which remounts /sys and so hides the cgroup hierarchy from slurmd.
on_host() {
  local index=$1
  shift
  nsenter --net="/run/netns/${prefix}h$index" unshare --uts --mount -- \
    "$cluster_sim" __inside "h$index" "$sim_dir/hosts" env SLURM_CONF="$base/etc/slurm.conf" "$@"
}

# Closes every file descriptor above 2 that this (sub)shell inherited: a daemon holding its
# caller's pipe or socket would keep the caller waiting for an end of file (Foundation's Process,
# which runs the tests, watches its child through such a socket).
close_inherited_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    [ "$fd" -gt 2 ] && [ "$fd" -ne 255 ] && eval "exec $fd>&-" 2>/dev/null || true
  done
}

# start_daemon NAME INDEX COMMAND…: COMMAND on host INDEX in a session of its own, detached from
# the caller's terminal, pipes and sockets.
start_daemon() {
  local name=$1 index=$2
  shift 2
  (close_inherited_fds; LOCKSTEP_SIM_PRIVATE_DIR="" exec setsid "$0" __on_host "$index" "$@" </dev/null >>"$base/log/$name.out" 2>&1 &)
}

start_munge() {
  mungekey --create --keyfile="$base/munge/munge.key" >/dev/null
  chmod 600 "$base/munge/munge.key"
  # munged refuses a socket directory that others cannot enter ("Socket is inaccessible").
  chmod 755 "$base/munge" "$base/munge/socket"
  (close_inherited_fds; exec munged --socket="$base/munge/socket/munge.socket" --key-file="$base/munge/munge.key" \
    --pid-file="$base/run/munged.pid" --log-file="$base/log/munged.log" --seed-file="$base/munge/munged.seed" \
    </dev/null >>"$base/log/munged.out" 2>&1) ||
    die "munged did not start: $(tail -3 "$base/log/munged.log" "$base/log/munged.out" 2>/dev/null)"
}

# wait_idle COUNT: until sinfo on h0 shows COUNT idle nodes (30 s at most).
wait_idle() {
  local count=$1 attempt idle=""
  for attempt in $(seq 1 150); do
    idle=$(on_host 0 sinfo -h -N -t idle -o %N 2>/dev/null | sort -u | grep -c . || true)
    [ "$idle" -lt "$count" ] || return 0
    sleep 0.2
  done
  die "only ${idle:-0} of $count nodes became idle within 30 s; logs in $base/log: $(tail -n 3 "$base"/log/slurm*.log 2>/dev/null)"
}

# MARK: - Up and down

cmd_up() {
  local count=${1:-} index
  [[ $count =~ ^[0-9]+$ ]] && [ "$count" -ge 1 ] && [ "$count" -le 64 ] ||
    die "up: expected a host count from 1 to 64, found '$count'"
  [ $# -le 1 ] || die "up: unexpected '$2' (expected only the host count)"
  [ "$(id -u)" -eq 0 ] || die "Slurm on simulated hosts needs root (running as uid $(id -u))"
  "$scripts_dir/apt_install.sh" "${packages[@]}" iproute2 util-linux >&2
  cmd_down
  "$cluster_sim" up "$count" >/dev/null
  write_config "$count"
  start_munge
  start_daemon slurmctld 0 slurmctld -D -i
  for ((index = 0; index < count; index++)); do
    start_daemon "slurmd-h$index" "$index" slurmd -D -N "h$index"
  done
  wait_idle "$count"
  echo "$base/etc/slurm.conf"
}

# pids_in FILE…: the PIDs named by the pid files that exist and are alive.
pids_in() {
  local file pid
  for file in "$@"; do
    [ -f "$file" ] || continue
    pid=$(cat "$file" 2>/dev/null || true)
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
  done
  return 0
}

# stop_pids SECONDS PID…: TERM, then KILL those still alive after SECONDS.
stop_pids() {
  local seconds=$1 pid attempt alive
  shift
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  for attempt in $(seq 1 $((seconds * 10))); do
    alive=()
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
    [ ${#alive[@]} -gt 0 ] || return 0
    sleep 0.1
  done
  kill -KILL "${alive[@]}" 2>/dev/null || true
}

# Removes Slurm's cgroups of the simulated nodes (slurm_h0, …), deepest first; each is empty
# once its processes are gone.
remove_cgroups() {
  local controller dir attempt
  for controller in /sys/fs/cgroup/*/; do
    for dir in "$controller"slurm_h[0-9]*; do
      [ -d "$dir" ] || continue
      for attempt in 1 2 3 4 5 6 7 8 9 10; do
        find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
        [ -d "$dir" ] || break
        # A frozen or dying process keeps its cgroup a moment longer.
        find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
        sleep 0.2
      done
      [ ! -d "$dir" ] || echo "slurm_sim: could not remove $dir" >&2
    done
  done
}

cmd_down() {
  local munged
  # Daemons first, with TERM (slurmd ends its jobs' steps), then whatever is left on the hosts.
  stop_pids 5 $(pids_in "$base"/run/slurmd-*.pid "$base/run/slurmctld.pid")
  "$cluster_sim" down
  remove_cgroups
  munged=$(pids_in "$base/run/munged.pid")
  # After a crash that lost the pid file: the munged serving this state directory's socket.
  [ -n "$munged" ] || munged=$(pgrep -f -x "munged --socket=$base/munge/socket/munge.socket .*" || true)
  stop_pids 5 $munged
  rm -rf "$base"
}

# MARK: - Commands on h0

cmd_launch() {
  [ -f "$base/etc/slurm.conf" ] || die "no simulated Slurm is up (no $base/etc/slurm.conf); run '$0 up N' first"
  SLURM_CONF="$base/etc/slurm.conf" exec "$cluster_sim" launch "$@"
}

# run N [--timeout SEC] [--] COMMAND…: up, launch, down (always), one run at a time.
cmd_run() {
  local count=${1:-} launch_options=() status
  shift || true
  while [ $# -gt 0 ]; do
    case $1 in
      --timeout) launch_options+=("$1" "${2:-}"); shift 2 || die "--timeout needs seconds" ;;
      --) shift; break ;;
      -*) die "run: unknown option '$1' (expected --timeout SEC)" ;;
      *) break ;;
    esac
  done
  [ $# -gt 0 ] || die "run: expected a command after the host count"
  mkdir -p "$(dirname "$lock_file")"
  exec 9>"$lock_file"
  flock 9
  trap 'status=$?; trap - EXIT INT TERM; cmd_down; exit $status' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  cmd_up "$count" >/dev/null
  status=0
  (SLURM_CONF="$base/etc/slurm.conf" "$cluster_sim" launch "${launch_options[@]}" -- "$@") 9>&- || status=$?
  exit $status
}

cmd_status() {
  if [ ! -f "$base/etc/slurm.conf" ]; then
    echo "no simulated Slurm is up (no $base/etc/slurm.conf)"
    return 0
  fi
  echo "slurm.conf: $base/etc/slurm.conf"
  echo "daemons: munged $(pids_in "$base/run/munged.pid") slurmctld $(pids_in "$base/run/slurmctld.pid")" \
    "slurmd $(pids_in "$base"/run/slurmd-*.pid | tr '\n' ' ')"
  on_host 0 sinfo -N || true
  on_host 0 squeue || true
}

command=${1:-}
shift || true
case $command in
  up) cmd_up "$@" ;;
  down) cmd_down ;;
  run) cmd_run "$@" ;;
  launch) cmd_launch "$@" ;;
  status) cmd_status ;;
  __on_host) on_host "$@" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2; exit 2 ;;
esac
