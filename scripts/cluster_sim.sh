#!/usr/bin/env bash
# A simulated cluster on this machine, for testing multi-host launches for real (root only).
#
# Each host is a Linux network namespace (lockstep-h0, lockstep-h1, …) with its own address on a
# private range that exists only inside the namespaces (10.250.0.1 = h0, 10.250.0.2 = h1, …), its own
# hostname (h0, h1, …) and its own /etc/hosts, and a veth link to a bridge inside a "switch"
# namespace (lockstep-sw). There is no default route anywhere and nothing in the root namespace
# changes, so no traffic can leave the machine. Commands run on a host see only its network.
#
#   scripts/cluster_sim.sh up N [--rate MBIT] [--slots K]
#       Create hosts h0…h(N-1) (replacing any earlier simulated cluster), optionally limit every
#       host's link to MBIT Mbit/s in each direction (HTB; netem is not available here), and write
#       the hostfile (K slots per host, default 1). Prints the hostfile's path.
#   scripts/cluster_sim.sh down
#       Kill every process on the simulated hosts and remove the namespaces (and with them the
#       bridge and veth links) and the state directory. Safe to repeat, and after a crash.
#   scripts/cluster_sim.sh launch [--timeout SEC] [--] COMMAND…
#       Run COMMAND on h0 of the cluster that is up, with the caller's environment plus
#       LOCKSTEP_SIM_HOSTFILE, LOCKSTEP_RSH_AGENT and LOCKSTEP_NET (what scripts/train_cluster.sh
#       needs) and a few OMPI_MCA_* settings for hosts that share cores (see cmd_launch). When
#       COMMAND is `mpirun …`, the cluster's options (hostfile, launch agent, TCP and
#       fault-detection settings, forwarded environment) are inserted after `mpirun`. COMMAND and
#       everything it starts on any host live in one PID namespace, so they all end with it. With
#       --timeout, COMMAND is stopped after SEC seconds (exit 124). Exits with COMMAND's status.
#   scripts/cluster_sim.sh run N [--rate MBIT] [--slots K] [--timeout SEC] [--] COMMAND…
#       up, launch, then down whatever happens (trap on EXIT, INT and TERM). Concurrent runs wait
#       for each other (a lock in /run/lock).
#   scripts/cluster_sim.sh agent HOST WORDS…
#       The launch agent for `mpirun --mca plm_rsh_agent`, in place of ssh: runs WORDS (joined
#       with spaces, through /bin/sh like an ssh login) on HOST (name or address) in a session of
#       its own and with an empty environment like an ssh login, so the ranks get only what mpirun
#       forwards with -x.
#   scripts/cluster_sim.sh cut HOST | heal HOST
#       Unplug HOST's cable at the switch (its peers see silence, as with a dead link), or plug it
#       back (then flush the neighbour caches and wait until every host is reachable again).
#   scripts/cluster_sim.sh kill HOST [NAME]
#       SIGKILL the processes named NAME (default lockstep) on HOST; fails when there are none.
#   scripts/cluster_sim.sh signal HOST SIGNAL [NAME]
#       Send SIGNAL (TERM, INT, USR1, …) to the processes named NAME (default lockstep) on HOST;
#       fails when there are none.
#   LOCKSTEP_SIM_PRIVATE_DIR=DIR (in the environment of launch or run)
#       DIR is not shared between hosts: h1, h2, … each see an empty tmpfs of their own there, as
#       with node-local storage; h0 sees the real folder.
#   scripts/cluster_sim.sh hostfile | status | check
#       Print the hostfile's path; or the hosts, their links and their processes; or check that
#       this machine can create the namespaces (root, iproute2), saying why not and failing if not.
#
# Environment: LOCKSTEP_SIM_DIR, the state directory (default /run/lockstep-sim: hostfile, hosts,
# Open MPI session directories). Only one simulated cluster exists at a time: `up` replaces it.
#
# Examples:
#   scripts/cluster_sim.sh run 3 -- mpirun -np 3 hostname
#   scripts/cluster_sim.sh run 3 -- scripts/train_cluster.sh /run/lockstep-sim/hostfile --epochs 1
#   scripts/cluster_sim.sh up 4 --rate 1000 && scripts/cluster_sim.sh launch mpirun -np 4 ./bench
#   scripts/cluster_sim.sh down
set -euo pipefail

readonly prefix=lockstep-
readonly switch_ns=${prefix}sw
readonly subnet=10.250.0.0/24
readonly state_dir=${LOCKSTEP_SIM_DIR:-/run/lockstep-sim}
readonly self=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
readonly max_hosts=64
# Namespace names are machine-wide, so the lock is too, whatever the state directory.
readonly lock_file=/run/lock/lockstep-sim.lock

die() {
  echo "cluster_sim: $*" >&2
  exit 2
}

host_address() { echo "10.250.0.$(($1 + 1))"; }

# MARK: - Lookup

# The index of HOST, given as a name (h1) or an address (10.250.0.2); dies when unknown.
host_index() {
  local host=$1 address name
  [ -f "$state_dir/hosts" ] || die "no simulated cluster is up (no $state_dir/hosts); run '$0 up N' first"
  while read -r address name; do
    case $name in h[0-9]*) ;; *) continue ;; esac
    if [ "$host" = "$name" ] || [ "$host" = "$address" ]; then
      echo "${name#h}"
      return
    fi
  done <"$state_dir/hosts"
  die "unknown host '$host' (hosts: $(awk '/ h[0-9]/ {printf "%s ", $2}' "$state_dir/hosts"))"
}

cluster_namespaces() { ip netns list | awk -v p="^$prefix" '$1 ~ p {print $1}'; }

# MARK: - Up and down

# Whether this machine can host a simulated cluster; says why not on stdout and fails.
cmd_check() {
  local tool probe=${prefix}probe-$$ error
  [ "$(id -u)" -eq 0 ] || { echo "creating network namespaces needs root (running as uid $(id -u))"; return 1; }
  for tool in ip tc unshare flock mpirun; do
    command -v "$tool" >/dev/null || { echo "'$tool' is not installed (iproute2, util-linux, openmpi-bin)"; return 1; }
  done
  if ! error=$(ip netns add "$probe" 2>&1 && ip -n "$probe" link add br0 type bridge 2>&1 &&
    ip -n "$probe" link add name va type veth peer name vb 2>&1); then
    ip netns delete "$probe" 2>/dev/null || true
    echo "cannot create a network namespace with a bridge and a veth pair: $error"
    return 1
  fi
  ip netns delete "$probe"
}

cmd_down() {
  local namespaces ns pids attempt
  namespaces=$(cluster_namespaces)
  for ns in $namespaces; do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -z "$pids" ] || kill -TERM $pids 2>/dev/null || true
  done
  for ns in $namespaces; do
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
      pids=$(ip netns pids "$ns" 2>/dev/null || true)
      [ -n "$pids" ] || break
      if [ "$attempt" -ge 5 ]; then kill -KILL $pids 2>/dev/null || true; fi
      sleep 0.1
    done
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -z "$pids" ] || echo "cluster_sim: processes $pids in $ns survived SIGKILL" >&2
    ip netns delete "$ns" 2>/dev/null || true
  done
  rm -rf "$state_dir"
}

# Sets up the switch namespace with its bridge, then one host per index in 0..<count.
cmd_up() {
  local count=${1:-} rate="" slots=1 index ns address
  [[ $count =~ ^[0-9]+$ ]] && [ "$count" -ge 1 ] && [ "$count" -le $max_hosts ] ||
    die "up: expected a host count from 1 to $max_hosts, found '${count}'"
  shift
  while [ $# -gt 0 ]; do
    case $1 in
      --rate) rate=${2:-}; shift 2 || die "--rate needs a value in Mbit/s" ;;
      --slots) slots=${2:-}; shift 2 || die "--slots needs a count" ;;
      *) die "up: unknown option '$1' (expected --rate MBIT or --slots K)" ;;
    esac
  done
  [ -z "$rate" ] || [[ $rate =~ ^[0-9]+$ && $rate -gt 0 ]] || die "--rate: expected Mbit/s as a positive integer, found '$rate'"
  [[ $slots =~ ^[0-9]+$ && $slots -gt 0 ]] || die "--slots: expected a positive integer, found '$slots'"
  [ "$(id -u)" -eq 0 ] || die "creating network namespaces needs root"

  cmd_down
  mkdir -p "$state_dir"
  {
    echo "127.0.0.1 localhost"
    for ((index = 0; index < count; index++)); do echo "$(host_address $index) h$index"; done
  } >"$state_dir/hosts"
  {
    echo "# Simulated hosts (scripts/cluster_sim.sh): network namespaces ${prefix}h0…, bridge in $switch_ns."
    for ((index = 0; index < count; index++)); do echo "h$index slots=$slots"; done
  } >"$state_dir/hostfile"

  add_namespace "$switch_ns"
  ip -n "$switch_ns" link add br0 type bridge
  ip -n "$switch_ns" link set br0 up
  for ((index = 0; index < count; index++)); do
    ns=${prefix}h$index
    address=$(host_address $index)
    add_namespace "$ns"
    # The veth pair is created straight inside the two namespaces: nothing touches the root one.
    ip -n "$switch_ns" link add "h$index" type veth peer name eth0 netns "$ns"
    ip -n "$switch_ns" link set "h$index" master br0 up
    ip -n "$ns" addr add "$address/24" dev eth0
    ip -n "$ns" link set eth0 up
    if [ -n "$rate" ]; then
      limit_rate "$switch_ns" "h$index" "$rate" # towards the host
      limit_rate "$ns" eth0 "$rate"             # from the host
    fi
  done
  wait_reachable "$count"
  echo "$state_dir/hostfile"
}

# A namespace with loopback up and IPv6 off (only the 10.250.0.0/24 addresses exist in it).
add_namespace() {
  ip netns add "$1"
  ip netns exec "$1" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6'
  ip -n "$1" link set lo up
}

# An HTB shaper on DEVICE's egress with a short queue under it, about 6 ms at the rate like a
# switch port's buffer: the default leaf queue holds 1000 packets, which at 100 Mbit/s puts up to
# 120 ms of bulk data in front of every small message. (fq_codel and sfq are not in this kernel.)
limit_rate() {
  local ns=$1 device=$2 mbit=$3 packets=$(($3 / 2 > 20 ? $3 / 2 : 20))
  ip netns exec "$ns" tc qdisc add dev "$device" root handle 1: htb default 1
  ip netns exec "$ns" tc class add dev "$device" parent 1: classid 1:1 htb rate "${mbit}mbit" ceil "${mbit}mbit" quantum 60000
  ip netns exec "$ns" tc qdisc add dev "$device" parent 1:1 handle 10: pfifo limit "$packets"
}

# Waits until h0 reaches every host: a refused TCP connection to port 9 proves the path works.
wait_reachable() {
  local count=$1 index attempt probe
  for ((index = 1; index < count; index++)); do
    for attempt in $(seq 1 30); do
      probe=$(ip netns exec "${prefix}h0" timeout 0.5 bash -c "exec 3<>/dev/tcp/$(host_address $index)/9" 2>&1 || true)
      [[ $probe != *"Connection refused"* ]] || continue 2
      sleep 0.1
    done
    die "h$index is not reachable from h0"
  done
}

# MARK: - Running commands on hosts

# __inside HOST HOSTS-FILE COMMAND…: runs in HOST's fresh UTS and mount namespaces.
cmd_inside() {
  local host=$1 hosts_file=$2
  shift 2
  hostname "$host"
  mount --bind "$hosts_file" /etc/hosts
  # A folder the other hosts do not share with h0 (node-local storage): an empty tmpfs of their own.
  if [ -n "${LOCKSTEP_SIM_PRIVATE_DIR:-}" ] && [ "$host" != h0 ]; then
    mkdir -p "$LOCKSTEP_SIM_PRIVATE_DIR"
    mount -t tmpfs -o size=64m tmpfs "$LOCKSTEP_SIM_PRIVATE_DIR"
  fi
  exec "$@"
}

# on_host INDEX COMMAND…: COMMAND on host INDEX with its hostname and hosts file.
on_host() {
  local index=$1
  shift
  exec ip netns exec "${prefix}h$index" unshare --uts --mount "$self" __inside "h$index" "$state_dir/hosts" "$@"
}

# launch_on_h0 COMMAND…: like on_host 0, and COMMAND becomes the init of a new PID namespace that
# every process it starts on any host (through the agent) inherits. When it ends, or when this
# launcher is killed (--kill-child), the kernel kills and reaps them all: a rank stranded by a cut
# link cannot outlive the job, and no orphan is left for a PID 1 that may not reap (as in some
# containers).
launch_on_h0() {
  exec ip netns exec "${prefix}h0" unshare --uts --mount --pid --kill-child \
    "$self" __inside h0 "$state_dir/hosts" "$@"
}

cmd_agent() {
  [ $# -ge 2 ] || die "agent: expected HOST COMMAND…"
  local index
  index=$(host_index "$1")
  shift
  # Like sshd: a session of its own (mpirun's signals to its launch child stop here, as they stop
  # at a local ssh client: a remote daemon must notice a lost mpirun by itself), an empty
  # environment with the login basics, then the words through the shell.
  on_host "$index" setsid --wait env -i HOME="${HOME:-/root}" USER="$(id -un)" LOGNAME="$(id -un)" SHELL=/bin/sh \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/sh -c "$*"
}

# The options `run` inserts after a literal `mpirun`.
sim_mpirun_options() {
  local options=(
    --hostfile "$state_dir/hostfile"
    --mca plm_rsh_agent "$self agent"
    --mca plm_rsh_no_tree_spawn 1
    --mca orte_leave_session_attached 1
    --mca pml ob1 --mca btl tcp,self,vader
    --mca btl_tcp_if_include $subnet --mca oob_tcp_if_include $subnet
    --mca oob_tcp_keepalive_time 2 --mca oob_tcp_keepalive_intvl 1 --mca oob_tcp_keepalive_probes 3
    -x SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no}
  )
  [ -z "${OPENBLAS_CORETYPE:-}" ] || options+=(-x OPENBLAS_CORETYPE)
  if [ "$(id -u)" -eq 0 ]; then options+=(--allow-run-as-root); fi
  printf '%s\0' "${options[@]}"
}

# stop_launch PID: ends the launch started by launch_on_h0 (PID is its unshare): SIGTERM to the
# PID namespace's init (COMMAND), SIGKILL after 2 s; unshare then reaps it and exits.
stop_launch() {
  local launcher=$1 init attempt
  init=$(pgrep -P "$launcher" || true)
  [ -n "$init" ] || { kill -KILL "$launcher" 2>/dev/null || true; return; }
  kill -TERM "$init" 2>/dev/null || true
  for attempt in $(seq 1 20); do
    kill -0 "$launcher" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$init" 2>/dev/null || true
}

# launch [--timeout SEC] [--] COMMAND…: COMMAND on h0 of the cluster that is up; its status.
cmd_launch() {
  local timeout="" command status watchdog
  while [ $# -gt 0 ]; do
    case $1 in
      --timeout) timeout=${2:-}; shift 2 || die "--timeout needs seconds" ;;
      --) shift; break ;;
      *) break ;;
    esac
  done
  [ $# -gt 0 ] || die "launch: expected a command"
  [ -z "$timeout" ] || [[ $timeout =~ ^[0-9]+$ ]] || die "--timeout: expected whole seconds, found '$timeout'"
  [ -f "$state_dir/hostfile" ] || die "no simulated cluster is up (no $state_dir/hostfile); run '$0 up N' first"
  command=("$@")
  if [ "${command[0]}" = mpirun ]; then
    local inserted=()
    mapfile -d '' inserted < <(sim_mpirun_options)
    command=(mpirun "${inserted[@]}" "${command[@]:1}")
  fi

  export LOCKSTEP_SIM_HOSTFILE="$state_dir/hostfile" LOCKSTEP_RSH_AGENT="$self agent" LOCKSTEP_NET=$subnet
  # The simulated hosts share this machine's cores, and each believes it has all of them: ranks
  # that busy-poll would starve each other (milliseconds per message instead of ~50 µs), and
  # binding would pin every host's rank 0 to the same core. mpirun forwards OMPI_MCA_* to the ranks.
  export OMPI_MCA_mpi_yield_when_idle=${OMPI_MCA_mpi_yield_when_idle:-1}
  export OMPI_MCA_hwloc_base_binding_policy=${OMPI_MCA_hwloc_base_binding_policy:-none}
  # Open MPI's session directories (one per host, named after it) go where `down` removes them.
  export OMPI_MCA_orte_tmpdir_base=$state_dir/tmp
  mkdir -p "$OMPI_MCA_orte_tmpdir_base"
  rm -f "$state_dir/timed-out"

  trap '[ -z "${launch_pid:-}" ] || stop_launch "$launch_pid"; exit 130' INT
  trap '[ -z "${launch_pid:-}" ] || stop_launch "$launch_pid"; exit 143' TERM
  (launch_on_h0 "${command[@]}") 9>&- &
  launch_pid=$!
  if [ -n "$timeout" ]; then
    # Polls rather than sleeping the whole time, so it ends by itself and leaves no orphan.
    (
      deadline=$((SECONDS + timeout))
      while kill -0 "$launch_pid" 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
          echo "cluster_sim: '${command[*]}' still running after ${timeout}s; stopping it" >&2
          touch "$state_dir/timed-out"
          stop_launch "$launch_pid"
          break
        fi
        sleep 0.2
      done
    ) 9>&- &
    watchdog=$!
  fi
  status=0
  wait "$launch_pid" || status=$?
  launch_pid=""
  if [ -n "$timeout" ]; then
    wait "$watchdog" || true
    [ ! -e "$state_dir/timed-out" ] || status=124
  fi
  return $status
}

# run N [up options] [--timeout SEC] [--] COMMAND…: up, launch, down (always), one run at a time.
cmd_run() {
  local count=${1:-} up_options=() launch_options=() status
  shift || true
  while [ $# -gt 0 ]; do
    case $1 in
      --rate | --slots) up_options+=("$1" "${2:-}"); shift 2 || die "$1 needs a value" ;;
      --timeout) launch_options+=("$1" "${2:-}"); shift 2 || die "--timeout needs seconds" ;;
      --) shift; break ;;
      *) break ;;
    esac
  done
  [ $# -gt 0 ] || die "run: expected a command after the host count"
  mkdir -p "$(dirname "$lock_file")"
  exec 9>"$lock_file"
  flock 9
  trap 'status=$?; trap - EXIT; [ -z "${launch_pid:-}" ] || stop_launch "$launch_pid"; cmd_down; exit $status' EXIT
  cmd_up "$count" "${up_options[@]}" >/dev/null
  status=0
  cmd_launch "${launch_options[@]}" -- "$@" || status=$?
  exit $status
}

# MARK: - Faults

cmd_cut() {
  local index
  index=$(host_index "${1:-}")
  ip -n "$switch_ns" link set "h$index" down
}

cmd_heal() {
  local index count ns
  index=$(host_index "${1:-}")
  ip -n "$switch_ns" link set "h$index" up
  count=$(grep -c ' h[0-9]' "$state_dir/hosts")
  for ns in $(cluster_namespaces); do ip -n "$ns" neigh flush all 2>/dev/null || true; done
  wait_reachable "$count"
}

cmd_kill() {
  cmd_signal "${1:-}" KILL "${2:-lockstep}"
}

cmd_signal() {
  local index signal=${2:-} name=${3:-lockstep} pid victims=()
  index=$(host_index "${1:-}")
  [ -n "$signal" ] || die "signal: give the signal, e.g. signal h0 TERM mpirun"
  for pid in $(ip netns pids "${prefix}h$index"); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] && victims+=("$pid")
  done
  [ ${#victims[@]} -gt 0 ] || die "$([ "$signal" = KILL ] && echo kill || echo signal): no process named '$name' on h$index"
  kill "-$signal" "${victims[@]}" || die "signal: kill -$signal failed"
  echo "cluster_sim: sent SIG$signal to ${victims[*]} ($name) on h$index" >&2
}

cmd_status() {
  local ns
  [ -f "$state_dir/hostfile" ] && echo "hostfile: $state_dir/hostfile" || echo "no state directory ($state_dir)"
  for ns in $(cluster_namespaces); do
    echo "== $ns"
    ip -n "$ns" -br addr
    local pids
    pids=$(ip netns pids "$ns" | tr '\n' ',')
    [ -z "$pids" ] || ps -o pid=,comm= -p "${pids%,}"
  done
}

command=${1:-}
shift || true
case $command in
  up) cmd_up "$@" ;;
  down) cmd_down ;;
  run) cmd_run "$@" ;;
  launch) cmd_launch "$@" ;;
  agent) cmd_agent "$@" ;;
  __inside) cmd_inside "$@" ;;
  cut) cmd_cut "$@" ;;
  heal) cmd_heal "$@" ;;
  kill) cmd_kill "$@" ;;
  signal) cmd_signal "$@" ;;
  check) cmd_check ;;
  hostfile) echo "$state_dir/hostfile" ;;
  status) cmd_status ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2; exit 2 ;;
esac
