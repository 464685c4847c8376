#!/usr/bin/env bash
# The main job: set up this machine, build lockstep (release), and train on Fashion-MNIST with
# mpirun.
#   scripts/train.sh [lockstep train options…]      e.g. scripts/train.sh --epochs 10
# Environment:
#   NP        ranks to start (default 2)
#   HOSTFILE  mpirun hostfile (default hostfiles/localhost)
# Extra arguments go to `lockstep train` (see `lockstep train --help`).
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

scripts/setup.sh
swift build -c release --product lockstep

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
exec mpirun "${mpirun_args[@]}" -x SWIFT_BACKTRACE -x LOCKSTEP_TERMINAL "$repository/.build/release/lockstep" train "$@"
