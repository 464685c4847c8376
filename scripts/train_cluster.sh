#!/usr/bin/env bash
# Trains across the nodes of a TCP cluster: `mpirun --hostfile HOSTFILE lockstep train …` with the
# settings a plain Ethernet cluster needs. Run it on the node that should hold rank 0's output
# (rank 0 is placed on the first node of the hostfile).
#   scripts/train_cluster.sh HOSTFILE [lockstep train options…]
#   e.g. LOCKSTEP_NET=10.0.0.0/24 scripts/train_cluster.sh hostfiles/cluster --epochs 10
#
# Environment:
#   NP                   ranks to start (default: the sum of the hostfile's slots=)
#   LOCKSTEP_NET         the cluster network for MPI traffic, as a subnet (10.0.0.0/24) or an
#                        interface name (eth1); default: every interface Open MPI finds usable
#   LOCKSTEP_BINARY      the lockstep binary, at the same absolute path on every node
#                        (default .build/release/lockstep in this checkout, built when missing)
#   LOCKSTEP_RSH_AGENT   how mpirun starts its daemons on the other nodes (default ssh; the
#                        simulated cluster of scripts/cluster_sim.sh sets its own agent)
#   OPENBLAS_CORETYPE    forwarded to every rank when set; so are LD_LIBRARY_PATH and
#                        SWIFT_BACKTRACE (default enable=no: one line per crashing rank)
#   LOCKSTEP_FORWARD     more variables to forward when set, by name, separated by spaces
#   LOCKSTEP_DRY_RUN     when set, print the mpirun command instead of running it
#   LOCKSTEP_COMMAND     the lockstep subcommand to run (default train; e.g. "bench step", which
#                        scripts/bench_scaling.sh --hostfile uses)
# Extra arguments go to `lockstep train` (or LOCKSTEP_COMMAND). Every node needs passwordless ssh from this one, the
# same Open MPI version, the binary and the dataset (README, "Running on a cluster").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

# die STATUS MESSAGE [HINT]: the error in lockstep's own format, with a documented exit status
# (64 usage, 66 missing input).
die() {
  echo "error: $2" >&2
  [ -z "${3:-}" ] || echo "hint: $3" >&2
  exit "$1"
}

[ $# -ge 1 ] || die 64 "scripts/train_cluster.sh needs a hostfile" "scripts/train_cluster.sh HOSTFILE [lockstep train options…]"
hostfile=$1
shift
[ -f "$hostfile" ] && [ -r "$hostfile" ] || die 66 "hostfile '$hostfile' is not a readable file" "copy hostfiles/cluster.example and list your nodes"

# MARK: - Ranks

# The sum of slots= over the hostfile's host lines; fails naming the first line without slots.
count_slots() {
  awk '
    { sub(/#.*/, "") }
    NF == 0 { next }
    {
      found = 0
      for (i = 2; i <= NF; i++) if ($i ~ /^slots=[0-9]+$/) { total += substr($i, 7); found = 1 }
      if (!found) { printf "line %d (%s) has no slots=N\n", NR, $1; bad = 1; exit }
    }
    END { if (!bad) print total + 0 }
  ' "$1"
}

if [ -n "${NP:-}" ]; then
  [[ $NP =~ ^[0-9]+$ && $NP -gt 0 ]] || die 64 "NP must be a positive integer, found '$NP'"
  np=$NP
else
  slots=$(count_slots "$hostfile")
  [[ $slots =~ ^[0-9]+$ ]] || die 64 "$hostfile: $slots" "give every host slots=N, or set NP"
  [ "$slots" -gt 0 ] || die 64 "$hostfile lists no hosts" "add one line 'NAME slots=N' per node (hostfiles/cluster.example shows them commented out)"
  np=$slots
fi

# MARK: - Binary

binary=${LOCKSTEP_BINARY:-$root/.build/release/lockstep}
if [ -z "${LOCKSTEP_BINARY:-}" ] && [ ! -x "$binary" ]; then
  echo "train_cluster: building $binary" >&2
  swift build --package-path "$root" -c release --product lockstep >&2
fi
[ -x "$binary" ] || die 66 "LOCKSTEP_BINARY '$binary' is not an executable file"
# The other nodes start it by this path: it must be absolute.
binary=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")

# MARK: - mpirun options

mpirun_args=(
  -np "$np" --hostfile "$hostfile"
  # Shared memory between ranks on one node, TCP between nodes; ob1 is the PML those BTLs plug into
  # (it keeps mpirun from probing for InfiniBand/OFI transports a plain cluster lacks).
  --mca pml ob1 --mca btl tcp,self,vader
  # mpirun starts one daemon per node itself, so only this node needs ssh access to the others;
  # each daemon stays in the foreground of its ssh session instead of detaching from it.
  --mca plm_rsh_no_tree_spawn 1 --mca orte_leave_session_attached 1
  # TCP keepalives on mpirun's control connections: a dead node or a cut link ends the job in
  # seconds (2 s idle, then 3 probes 1 s apart) instead of hanging forever.
  --mca oob_tcp_keepalive_time 2 --mca oob_tcp_keepalive_intvl 1 --mca oob_tcp_keepalive_probes 3
)
if [ -n "${LOCKSTEP_NET:-}" ]; then
  # MPI traffic (btl) and mpirun's control traffic (oob) only on the cluster network.
  mpirun_args+=(--mca btl_tcp_if_include "$LOCKSTEP_NET" --mca oob_tcp_if_include "$LOCKSTEP_NET")
fi
if [ -n "${LOCKSTEP_RSH_AGENT:-}" ]; then
  mpirun_args+=(--mca plm_rsh_agent "$LOCKSTEP_RSH_AGENT")
fi

# The remote environment starts empty, like an ssh login: forward what the ranks need.
export SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no}
mpirun_args+=(-x SWIFT_BACKTRACE)
for variable in OPENBLAS_CORETYPE LD_LIBRARY_PATH ${LOCKSTEP_FORWARD:-}; do
  [[ $variable =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die 64 "LOCKSTEP_FORWARD: '$variable' is not a variable name"
  [ -z "${!variable:-}" ] || mpirun_args+=(-x "$variable")
done
if [ "$(id -u)" -eq 0 ]; then
  # Open MPI refuses to run as root unless told twice; the ranks are told too.
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  mpirun_args+=(-x OMPI_ALLOW_RUN_AS_ROOT -x OMPI_ALLOW_RUN_AS_ROOT_CONFIRM)
fi

read -r -a subcommand <<< "${LOCKSTEP_COMMAND:-train}"

if [ -n "${LOCKSTEP_DRY_RUN:-}" ]; then
  # Words quoted for the shell only where they need it.
  words=()
  for word in mpirun "${mpirun_args[@]}" "$binary" "${subcommand[@]}" "$@"; do
    if [[ $word =~ ^[A-Za-z0-9_./=:,+@%-]+$ ]]; then words+=("$word"); else words+=("$(printf '%q' "$word")"); fi
  done
  echo "${words[*]}"
  exit 0
fi
exec mpirun "${mpirun_args[@]}" "$binary" "${subcommand[@]}" "$@"
