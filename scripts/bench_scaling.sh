#!/usr/bin/env bash
# Scaling of the training step over 1, 2 and 4 ranks, measured with `lockstep bench step`:
#   weak scaling:   fixed local batch (BATCH per rank, global batch N × BATCH)
#   strong scaling: fixed global batch (BATCH over all ranks, BATCH / N per rank)
# and, for every local batch used, one process without MPI (no communication at all): the
# baseline of the per-rank efficiency, samples_per_s(N) / (N × baseline at the same local batch).
# With N > 1 ranks, bench step also measures the ceiling in the same run (every rank running the
# step at once with no communication): ceiling_samples_per_s and ceiling_fraction, the share of
# it the real step reaches (the cores' mutual slowdown is in the ceiling, not in the fraction).
# Every configuration runs REPEATS times, interleaved, and the summary takes medians.
#
#   scripts/bench_scaling.sh [--hostfile FILE] [lockstep bench step options…]    e.g. --synthetic 60000
# With --hostfile, the ranks run across the hosts of FILE through scripts/train_cluster.sh (TCP
# between hosts, with its cluster settings; LOCKSTEP_NET and LOCKSTEP_RSH_AGENT apply), and the
# one-process baseline runs here. On simulated hosts:
#   scripts/cluster_sim.sh run 4 [--rate 1000] -- scripts/bench_scaling.sh --hostfile /run/lockstep-sim/hostfile
# Environment:
#   RANKS    rank counts (default "1 2 4"; more ranks than cores run with --oversubscribe)
#   BATCH    the weak local batch and the strong global batch (default 128; divisible by each N)
#   REPEATS  repetitions of the whole sweep (default 3)
#   OUT      summary JSON Lines (default runs/scaling.jsonl; the raw lines go to OUT.raw)
#   LOCKSTEP the lockstep binary (default $LOCKSTEP_BINARY, else .build/release/lockstep, built when missing)
# Draw it with scripts/plot_scaling.py OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

hostfile=""
if [ "${1:-}" = --hostfile ]; then
  hostfile=${2:?--hostfile needs a file}
  [ -r "$hostfile" ] || { echo "bench_scaling: hostfile '$hostfile' is not readable" >&2; exit 66; }
  shift 2
fi

ranks=${RANKS:-1 2 4}
batch=${BATCH:-128}
repeats=${REPEATS:-3}
out=${OUT:-runs/scaling.jsonl}
lockstep=${LOCKSTEP:-${LOCKSTEP_BINARY:-.build/release/lockstep}}
[ -x "$lockstep" ] || swift build -c release --product lockstep >&2
mkdir -p "$(dirname "$out")"
raw="$out.raw"
: > "$raw"

if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no}
cores=$(nproc)
step_options=(--json --steps 100 --repetitions 5 "$@")

# measure KIND RANKS GLOBAL_BATCH: one bench step line, tagged, appended to the raw file.
measure() {
  local kind=$1 n=$2 global=$3 line
  if [ "$kind" = baseline ]; then
    line=$("$lockstep" bench step --global-batch "$global" "${step_options[@]}")
  elif [ -n "$hostfile" ]; then
    line=$(NP=$n LOCKSTEP_COMMAND="bench step" LOCKSTEP_BINARY="$lockstep" \
      scripts/train_cluster.sh "$hostfile" --global-batch "$global" "${step_options[@]}")
  else
    local bind=(--bind-to core)
    [ "$n" -gt "$cores" ] && bind=(--oversubscribe --bind-to none)
    line=$(mpirun -np "$n" "${bind[@]}" -x SWIFT_BACKTRACE "$lockstep" bench step --global-batch "$global" "${step_options[@]}")
  fi
  printf '{"scaling": "%s", "repeat": %d, "result": %s}\n' "$kind" "$repeat" "$line" >> "$raw"
  echo "  $kind ranks $n global batch $global: $(printf '%s' "$line" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.0f samples/s, wait %.1f%%" % (d["samples_per_s"], 100 * d["wait_fraction"]))')" >&2
}

for repeat in $(seq 1 "$repeats"); do
  echo "repeat $repeat of $repeats" >&2
  declare -A local_batches=()
  for n in $ranks; do
    if [ $((batch % n)) -ne 0 ]; then echo "BATCH $batch does not divide by $n ranks" >&2; exit 64; fi
    local_batches[$((batch / n))]=1
    measure weak "$n" $((n * batch))
    [ "$n" -gt 1 ] && measure strong "$n" "$batch"
  done
  for local in "${!local_batches[@]}"; do measure baseline 1 "$local"; done
done

python3 - "$raw" "$out" <<'PY'
import json, statistics, sys
raw, out = sys.argv[1], sys.argv[2]
rows = [json.loads(line) for line in open(raw) if line.strip()]
def median(kind, ranks, local, key):
    values = [r["result"][key] for r in rows if r["scaling"] == kind and r["result"]["ranks"] == ranks
              and r["result"]["local_batch"] == local and r["result"].get(key) is not None]
    return statistics.median(values) if values else None
summary = []
for kind in ("weak", "strong"):
    for ranks in sorted({r["result"]["ranks"] for r in rows if r["scaling"] in ("weak", "strong")}):
        sample = [r["result"] for r in rows if r["result"]["ranks"] == ranks
                  and (r["scaling"] == kind or (ranks == 1 and r["scaling"] == "weak"))]
        if not sample:
            continue
        local, global_batch = sample[0]["local_batch"], sample[0]["global_batch"]
        source = "weak" if ranks == 1 else kind
        sps = median(source, ranks, local, "samples_per_s")
        baseline = median("baseline", 1, local, "samples_per_s")
        # Speedup over one process: at the same local batch (weak), at the whole global batch (strong).
        full = baseline if kind == "weak" else median("baseline", 1, global_batch, "samples_per_s")
        summary.append({
            "bench": "scaling", "scaling": kind, "ranks": ranks, "global_batch": global_batch, "local_batch": local,
            "samples_per_s": sps, "baseline_samples_per_s": baseline,
            "per_rank_efficiency": sps / (ranks * baseline) if baseline else None,
            "speedup": sps / full if full else None,
            "wait_fraction": median(source, ranks, local, "wait_fraction"),
            "roofline_fraction": median(source, ranks, local, "roofline_fraction"),
            "ceiling_samples_per_s": median(source, ranks, local, "ceiling_samples_per_s"),
            "ceiling_fraction": median(source, ranks, local, "ceiling_fraction"),
            "peak_rss_bytes": max(r["peak_rss_bytes"] for r in sample),
            "repeats": len([1 for r in rows if r["scaling"] == source and r["result"]["ranks"] == ranks]),
        })
with open(out, "w") as file:
    for record in summary:
        file.write(json.dumps(record, sort_keys=True) + "\n")
print("%-7s %5s %7s %7s %11s %11s %10s %8s %10s %10s" % ("scaling", "ranks", "global", "local", "samples/s",
      "1-proc s/s", "per-rank", "speedup", "comm wait", "of ceiling"))
for r in summary:
    pct = lambda v: "-" if v is None else "%.1f%%" % (100 * v)
    print("%-7s %5d %7d %7d %11.0f %11.0f %10s %8s %10s %10s" % (r["scaling"], r["ranks"], r["global_batch"], r["local_batch"],
          r["samples_per_s"], r["baseline_samples_per_s"] or 0, pct(r["per_rank_efficiency"]),
          "-" if r["speedup"] is None else "%.2f×" % r["speedup"], pct(r["wait_fraction"]), pct(r["ceiling_fraction"])))
print(f"summary: {out} (raw lines: {raw})")
PY
