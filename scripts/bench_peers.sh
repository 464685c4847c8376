#!/usr/bin/env bash
# Runs lockstep and the peer trainers back to back, same model (784-512-256-10), data
# (Fashion-MNIST), global batch (128), SGD momentum 0.9, one thread per process, and prints the
# ratios of their training samples/s (medians over epochs; evaluation excluded):
#   lockstep 1 rank / PyTorch 1 process, lockstep 2 ranks / lockstep 1 rank,
#   lockstep 2 ranks / PyTorch DDP (gloo) 2 ranks, and the numpy + mpi4py peer at 1 and 2 ranks.
#
#   scripts/bench_peers.sh [PEERS_DIR]
# Environment:
#   PEERS_DIR          the peer scripts (default ../shared/peers from the repository root)
#   FASHION_MNIST_DIR  the dataset (default /usr/share/datasets/fashion-mnist)
#   EPOCHS             epochs per run (default 3: subnormals slow unflushed trainers from epoch 2-3)
#   PEER_FTZ           1 (default) runs the peers with --ftz (flush denormals, as lockstep does),
#                      0 with their defaults
#   VENV               Python virtual environment for the peers (default .venv-peers, git-ignored),
#                      created and filled on first use: torch==2.13.0 (CPU wheel), numpy, mpi4py,
#                      threadpoolctl
#   OUT                JSON Lines with every run and the ratios (default runs/peers.jsonl)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

peers=${1:-${PEERS_DIR:-../shared/peers}}
[ -f "$peers/torch_mlp.py" ] && [ -f "$peers/mpi4py_mlp.py" ] || {
  echo "bench_peers: no peer scripts in $peers (pass the folder or set PEERS_DIR)" >&2
  exit 66
}
peers=$(cd "$peers" && pwd)
export FASHION_MNIST_DIR=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
epochs=${EPOCHS:-3}
venv=${VENV:-.venv-peers}
out=${OUT:-runs/peers.jsonl}
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")  # the runs happen in the peers' folder
: > "$out"

# The peers' Python packages, in a virtual environment of their own.
if ! "$venv/bin/python" -c "import torch, numpy, mpi4py, threadpoolctl" >/dev/null 2>&1; then
  echo "bench_peers: installing torch==2.13.0 numpy mpi4py threadpoolctl into $venv" >&2
  python3 -m venv "$venv"
  PIP_ROOT_USER_ACTION=ignore "$venv/bin/pip" install --quiet --upgrade pip
  PIP_ROOT_USER_ACTION=ignore "$venv/bin/pip" install --quiet torch==2.13.0 numpy mpi4py threadpoolctl
fi
python=$root/$venv/bin/python

scripts/setup.sh >/dev/null
swift build -c release --product lockstep >/dev/null
lockstep=$root/.build/release/lockstep
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no}
peer_options=(--epochs "$epochs" --threads 1 --no-eval)
[ "${PEER_FTZ:-1}" = 1 ] && peer_options+=(--ftz)
mpirun_two=(mpirun -np 2 --bind-to core -x FASHION_MNIST_DIR -x SWIFT_BACKTRACE)
metrics=$(mktemp)
trap 'rm -f "$metrics"' EXIT

# record NAME RANKS SAMPLES_PER_S: one JSON line.
record() {
  printf '{"bench": "peers", "name": "%s", "ranks": %d, "samples_per_s": %s}\n' "$1" "$2" "$3" | tee -a "$out" >&2
}
# lockstep_run NAME RANKS COMMAND…: the median of the epochs' samples_per_s in the metrics file.
lockstep_run() {
  local name=$1 ranks=$2
  shift 2
  "$@" train --epochs "$epochs" --data-dir "$FASHION_MNIST_DIR" --metrics "$metrics" >/dev/null
  record "$name" "$ranks" "$(python3 -c 'import json,statistics,sys; print(statistics.median(json.loads(l)["samples_per_s"] for l in open(sys.argv[1])))' "$metrics")"
}
# peer_run NAME RANKS COMMAND…: samples_per_s_median_epoch from the peer's RESULT line.
peer_run() {
  local name=$1 ranks=$2
  shift 2
  record "$name" "$ranks" "$("$@" | sed -n 's/^RESULT //p' | python3 -c 'import json,sys; print(json.load(sys.stdin)["samples_per_s_median_epoch"])')"
}

cd "$peers"
lockstep_run lockstep 1 "$lockstep"
peer_run torch 1 "$python" torch_mlp.py "${peer_options[@]}"
peer_run mpi4py 1 "$python" mpi4py_mlp.py "${peer_options[@]}"
lockstep_run lockstep 2 "${mpirun_two[@]}" "$lockstep"
peer_run torch-ddp-gloo 2 "${mpirun_two[@]}" "$python" torch_mlp.py --ddp "${peer_options[@]}"
peer_run mpi4py 2 "${mpirun_two[@]}" "$python" mpi4py_mlp.py "${peer_options[@]}"
cd "$root"

python3 - "$out" <<'PY'
import json, sys
path = sys.argv[1]
runs = {(r["name"], r["ranks"]): r["samples_per_s"] for r in map(json.loads, open(path)) if r.get("bench") == "peers"}
ratios = [
    ("lockstep 1 rank / PyTorch 1 process", runs[("lockstep", 1)] / runs[("torch", 1)], 1.2),
    ("lockstep 2 ranks / lockstep 1 rank", runs[("lockstep", 2)] / runs[("lockstep", 1)], 1.8),
    ("lockstep 2 ranks / PyTorch DDP gloo 2 ranks", runs[("lockstep", 2)] / runs[("torch-ddp-gloo", 2)], 3.0),
    ("lockstep 1 rank / numpy+mpi4py 1 rank", runs[("lockstep", 1)] / runs[("mpi4py", 1)], None),
    ("lockstep 2 ranks / numpy+mpi4py 2 ranks", runs[("lockstep", 2)] / runs[("mpi4py", 2)], None),
]
with open(path, "a") as file:
    for name, ratio, target in ratios:
        file.write(json.dumps({"bench": "peers_ratio", "ratio_name": name, "ratio": ratio, "target": target}) + "\n")
print("%-46s %8s %8s" % ("", "ratio", "target"))
for name, ratio, target in ratios:
    print("%-46s %7.2f× %8s" % (name, ratio, "-" if target is None else "≥ %.1f×" % target))
print(f"runs and ratios: {path}")
PY
