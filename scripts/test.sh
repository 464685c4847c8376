#!/usr/bin/env bash
# Sets up the machine (Debian packages), builds lockstep in release mode for the multi-rank tests,
# and runs the whole test suite (unit tests and real `mpirun` tests).
#   scripts/test.sh [extra `swift test` arguments, e.g. --filter SchedulesTests]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
# The checkpoint interoperability tests read our files with Python's safetensors and numpy (PyPI).
if ! python3 -c "import safetensors, numpy" >/dev/null 2>&1; then
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet safetensors numpy
fi
swift build -c release --product lockstep
# Multi-rank tests launch this binary under mpirun; a release build keeps them quick.
export LOCKSTEP_BINARY="$PWD/.build/release/lockstep"
export SWIFT_BACKTRACE=enable=no
swift test "$@"
