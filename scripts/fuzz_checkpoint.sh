#!/usr/bin/env bash
# Fuzzes the checkpoint reader longer than CI does: COUNT random mutations of a real checkpoint
# (default 1000000), from SEED (default: the current time), through the same test as CI
# (Tests/CheckpointsTests/CheckpointFuzzTests.swift). Every read must either return the original
# contents or throw a CheckpointError; the test prints a summary of the refusals.
#   scripts/fuzz_checkpoint.sh [COUNT] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."

count="${1:-1000000}"
seed="${2:-$(date +%s)}"
echo "fuzz_checkpoint: $count mutations, seed $seed" >&2
swift build --build-tests
LOCKSTEP_FUZZ_COUNT="$count" LOCKSTEP_FUZZ_SEED="$seed" SWIFT_BACKTRACE=enable=no \
  swift test --skip-build --filter CheckpointsTests.CheckpointFuzzTests
