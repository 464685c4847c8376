#!/usr/bin/env bash
# Sets up the machine, builds lockstep in release mode for the multi-rank tests, and runs the
# whole test suite (unit tests and real `mpirun` tests).
#   scripts/test.sh [extra `swift test` arguments, e.g. --filter SchedulesTests]
# Besides what the main job needs (scripts/setup.sh), the tests use iproute2 (simulated cluster
# hosts in network namespaces), Slurm and munge (a real Slurm on those hosts), matplotlib (plots)
# and the safetensors and numpy Python packages (checkpoint interoperability) and PyTorch
# (checkpoints loaded as torch.nn.Sequential); this script installs them when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/apt_install.sh iproute2 slurmctld slurmd slurm-client munge
scripts/setup_plotting.sh
python3 -c "import safetensors, numpy" >/dev/null 2>&1 ||
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet safetensors numpy
# PyTorch (the CPU wheel, about a minute) loads checkpoints into torch.nn.Sequential in the tests.
python3 -c "import torch" >/dev/null 2>&1 ||
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet torch==2.13.0

swift build -c release --product lockstep
# Multi-rank tests launch this binary under mpirun; a release build keeps them quick.
export LOCKSTEP_BINARY="$PWD/.build/release/lockstep"
export SWIFT_BACKTRACE=enable=no
# Every test is XCTest: without Swift Testing, the run ends with XCTest's own summary line
# ("Executed N tests, with S tests skipped and F failures") instead of "0 tests" from Swift Testing.
swift test --disable-swift-testing "$@"
