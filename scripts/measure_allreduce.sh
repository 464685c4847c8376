#!/usr/bin/env bash
# Measures MPI_Allreduce times on the simulated cluster (scripts/cluster_sim.sh, root only) and fits
# the alpha-beta model of scripts/projection.py to them.
#   scripts/measure_allreduce.sh [--rate MBIT] [--ring] [--hosts 2,3,4] [--repeats 20] [--out FILE]
# Writes one JSON line per (hosts, message size) to FILE (default: a temporary file) with a
# "rate_mbit" field (0 = no limit), then prints the fit. --ring makes Open MPI use its ring
# allreduce for every size (the algorithm the model describes); by default it picks an algorithm
# from the world and message sizes (recursive doubling for small messages, among others). Until lockstep has a benchmark command,
# the probe is the small C program scripts/allreduce_probe.c, built here with mpicc.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

rate="" hosts=2,3,4 repeats=20 out=""
while [ $# -gt 0 ]; do
  case $1 in
    --rate) rate=${2:?--rate needs Mbit/s}; shift 2 ;;
    --ring) export OMPI_MCA_coll_tuned_use_dynamic_rules=1 OMPI_MCA_coll_tuned_allreduce_algorithm=4; shift ;;
    --hosts) hosts=${2:?--hosts needs a list like 2,3,4}; shift 2 ;;
    --repeats) repeats=${2:?--repeats needs a count}; shift 2 ;;
    --out) out=${2:?--out needs a file}; shift 2 ;;
    *) echo "measure_allreduce: unknown option '$1'" >&2; exit 2 ;;
  esac
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpicc -O2 -o "$work/allreduce_probe" "$here/allreduce_probe.c"
[ -n "$out" ] || out=$work/measurements.jsonl
: >"$out"
rate_options=()
[ -z "$rate" ] || rate_options=(--rate "$rate")
for count in ${hosts//,/ }; do
  "$here/cluster_sim.sh" run "$count" "${rate_options[@]}" --timeout 300 -- \
    mpirun -np "$count" "$work/allreduce_probe" "$repeats" |
    sed "s/}\$/, \"rate_mbit\": ${rate:-0}}/" >>"$out"
done
cat "$out"
echo
python3 "$here/projection.py" fit "$out"
