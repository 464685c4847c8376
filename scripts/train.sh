#!/usr/bin/env bash
# The main job: set up this machine, build lockstep (release), and train on Fashion-MNIST with
# mpirun.
#   scripts/train.sh [lockstep train options…]      e.g. scripts/train.sh --epochs 10
# Environment:
#   NP        ranks to start (default 2)
#   HOSTFILE  mpirun hostfile (default hostfiles/localhost)
#   LOCKSTEP_BINARY  run this lockstep instead of setting up and building (the tests do)
# Extra arguments go to `lockstep train` (see `lockstep train --help`).
# Ctrl-C, SIGTERM or SIGUSR1 to this script stop the run cleanly: it passes them to mpirun as
# SIGUSR1, which mpirun forwards to every rank at once (SIGTERM or SIGINT to mpirun itself would
# make it kill the ranks two seconds later and exit 1); the ranks stop at an agreed step with a
# checkpoint and the script exits 80. The same signal again ends the ranks at once.
set -euo pipefail
# Paths in the arguments (--data, --run-dir, …) and HOSTFILE are the caller's: the script builds
# in the repository and runs lockstep from the directory it was started in.
caller=$PWD
repository=$(cd "$(dirname "$0")/.." && pwd)
cd "$repository"

hostfile=${HOSTFILE:-hostfiles/localhost}
if [ -n "${HOSTFILE:-}" ] && [ "${HOSTFILE#/}" = "$HOSTFILE" ]; then hostfile=$caller/$HOSTFILE; fi
# Checked first, so a wrong HOSTFILE fails in a second, not after the build.
if [ ! -r "$hostfile" ]; then
  echo "error: hostfile $hostfile does not exist or cannot be read (HOSTFILE)" >&2
  echo "hint: set HOSTFILE to a file listing the nodes (see hostfiles/cluster.example), or unset it for this machine" >&2
  exit 66
fi

np=${NP:-2}
if ! [[ "$np" =~ ^[1-9][0-9]{0,5}$ ]]; then
  echo "error: NP must be a whole number of ranks from 1 to 999999, got '$np'" >&2
  exit 64
fi
for argument in "$@"; do
  case "$argument" in
    --np | -np | -n | --ranks | --np=* | -np=* | --ranks=*)
      echo "error: scripts/train.sh does not take $argument: its arguments go to 'lockstep train'" >&2
      echo "hint: set the number of ranks with NP=4 scripts/train.sh" >&2
      exit 64 ;;
  esac
done

if [ -n "${LOCKSTEP_BINARY:-}" ]; then
  binary=$LOCKSTEP_BINARY
else
  # Set-up and build progress go to standard error: standard output is the training's alone.
  scripts/setup.sh >&2
  swift build -c release --product lockstep >&2
  binary=$repository/.build/release/lockstep
fi

cores=$(nproc)
mpirun_args=(-np "$np")
if [ "$np" -gt "$cores" ]; then
  # More ranks than cores: allow it, and do not pin ranks that must share cores.
  mpirun_args+=(--oversubscribe --bind-to none)
else
  mpirun_args+=(--bind-to core)
fi
if [ "$(id -u)" -eq 0 ]; then
  # Open MPI refuses to run as root unless told twice.
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# A crash prints one line per rank instead of a multi-page backtrace from every rank.
export SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no}

# Under mpirun every rank's output is a pseudo-terminal, so lockstep cannot tell a terminal from a
# log file; this script can, and tells `--progress auto`: a live line on a terminal, plain
# timestamped lines in a log.
if [ -t 1 ]; then
  export LOCKSTEP_TERMINAL=1
else
  export LOCKSTEP_TERMINAL=0
fi

mpirun_args+=(--hostfile "$(cd "$(dirname "$hostfile")" && pwd)/$(basename "$hostfile")")
cd "$caller"
# mpirun in a process group of its own (job control), so that Ctrl-C reaches this script only; it
# reads no standard input (a background group must not read the terminal).
set -m
mpirun "${mpirun_args[@]}" --stdin none -x SWIFT_BACKTRACE -x LOCKSTEP_TERMINAL "$binary" train "$@" &
mpirun_pid=$!
set +m
forward() {
  echo "scripts/train.sh: $1: asking the ranks to stop at the next step (SIGUSR1 to mpirun)" >&2
  kill -USR1 "$mpirun_pid" 2>/dev/null || true
}
trap 'forward SIGINT' INT
trap 'forward SIGTERM' TERM
trap 'forward SIGUSR1' USR1
# A trapped signal interrupts `wait`: wait again until mpirun has really exited.
status=0
while true; do
  wait "$mpirun_pid" && status=0 || status=$?
  kill -0 "$mpirun_pid" 2>/dev/null || break
done
exit "$status"
