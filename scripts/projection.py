#!/usr/bin/env python3
"""Alpha-beta (latency-bandwidth) model of ring allreduce, and what it means for lockstep's step time.

Model (Thakur, Rabenseifner & Gropp, "Optimization of Collective Communication Operations in
MPICH", IJHPCA 2005, section 4: ring = reduce-scatter then allgather, each p-1 steps):

    T_allreduce(p, n) = 2(p-1)·alpha + 2·(p-1)/p · n·4 bytes / beta

    alpha  per-message latency (s), beta  bandwidth per link and direction (bytes/s),
    p      ranks, n  floats reduced (the 784-512-256-10 MLP's gradient: 535,818 floats = 2,143,272 B).

Weak scaling: every rank keeps the same local batch, so the compute time per step, measured on one
rank, stays constant while communication grows with p. With a fraction `overlap` of the compute
able to hide communication (0: the allreduce starts after backward, as lockstep does today;
about 2/3 if buckets are reduced during backward):

    T_step = T_compute + max(0, T_allreduce - overlap·T_compute)
    efficiency = T_compute / T_step          throughput = p · local_batch / T_step

Usage:
    scripts/projection.py table --step-ms 4.2 [--local-batch 128] [--alpha-us 25] [--overlap 0] [--json]
    scripts/projection.py fit MEASUREMENTS.jsonl [--statistic median_s]

`fit` reads JSON lines with "ranks", "bytes" and a time in seconds (scripts/measure_allreduce.sh
writes them) and fits alpha to the messages of at most 64 bytes, then beta to those of at least 1 MiB.
"""

import argparse
import json
import math
import sys

MLP_GRADIENT_FLOATS = 535_818  # 784·512+512 + 512·256+256 + 256·10+10
BYTES_PER_FLOAT = 4


def allreduce_seconds(ranks, byte_count, alpha, beta):
    """Ring allreduce time in seconds for `byte_count` bytes over `ranks` ranks (0 for one rank)."""
    if ranks < 1:
        raise ValueError(f"ranks must be at least 1, found {ranks}")
    return 2 * (ranks - 1) * alpha + 2 * (ranks - 1) / ranks * byte_count / beta


def step_seconds(compute, communication, overlap):
    """Step time when a fraction `overlap` of `compute` can hide `communication`."""
    return compute + max(0.0, communication - overlap * compute)


# MARK: - Projection table


def projection_rows(step_ms, local_batch, alpha_us, overlap, ranks_list, gbits_list, floats):
    compute = step_ms / 1000
    alpha = alpha_us / 1e6
    byte_count = floats * BYTES_PER_FLOAT
    for gbits in gbits_list:
        beta = gbits * 1e9 / 8
        for ranks in ranks_list:
            communication = allreduce_seconds(ranks, byte_count, alpha, beta)
            step = step_seconds(compute, communication, overlap)
            yield {
                "gbits": gbits,
                "ranks": ranks,
                "allreduce_ms": communication * 1000,
                "latency_share": 2 * (ranks - 1) * alpha / communication,
                "step_ms": step * 1000,
                "efficiency": compute / step,
                "samples_per_s": ranks * local_batch / step,
            }


def print_table(args):
    rows = projection_rows(
        args.step_ms, args.local_batch, args.alpha_us, args.overlap, args.ranks, args.gbits, args.floats
    )
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return
    print(
        f"Ring allreduce of {args.floats:,} floats ({args.floats * BYTES_PER_FLOAT / 1e6:.2f} MB), "
        f"alpha = {args.alpha_us:g} µs, compute {args.step_ms:g} ms per step at local batch "
        f"{args.local_batch} (weak scaling), overlap {args.overlap:g}.\n"
    )
    print("| link | ranks | allreduce (ms) | of which latency | step (ms) | efficiency | samples/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['gbits']:g} Gbit/s | {row['ranks']} | {row['allreduce_ms']:.2f} | "
            f"{row['latency_share']:.0%} | {row['step_ms']:.2f} | {row['efficiency']:.0%} | "
            f"{row['samples_per_s']:,.0f} |"
        )


# MARK: - Fit


LATENCY_BYTES = 64  # messages this small measure alpha (their bandwidth term is negligible)
BANDWIDTH_BYTES = 1 << 20  # messages this large measure beta


def fit_alpha_beta(points):
    """Alpha (s) and beta (bytes/s) from (ranks, bytes, seconds) points, in two steps.

    Alpha from messages of at most 64 bytes, taking t = 2(p-1)·alpha; then beta from messages of
    at least 1 MiB, taking t - 2(p-1)·alpha = 2(p-1)/p·bytes / beta. Each step is a least-squares
    fit with relative residuals (each divided by its time). Sizes in between are left out: there
    MPI libraries switch protocols and algorithms (eager to rendezvous, recursive doubling to
    ring), and a rate limiter's token bucket lets short bursts through at full speed, so no single
    alpha-beta line describes them.
    """
    for ranks, _, seconds in points:
        if ranks < 2 or seconds <= 0:
            raise ValueError(f"each point needs ranks >= 2 and a positive time, found {ranks} ranks, {seconds} s")
    small = [point for point in points if point[1] <= LATENCY_BYTES]
    large = [point for point in points if point[1] >= BANDWIDTH_BYTES]
    if not small or not large:
        sizes = ", ".join(f"{size:,.0f}" for size in sorted({point[1] for point in points}))
        raise ValueError(
            f"need messages of at most {LATENCY_BYTES:,} bytes (latency) and at least {BANDWIDTH_BYTES:,} bytes "
            f"(bandwidth), found {sizes} bytes"
        )
    # Minimises sum((alpha·x/t - 1)^2) with x = 2(p-1).
    ratios = [2 * (ranks - 1) / seconds for ranks, _, seconds in small]
    alpha = sum(ratios) / sum(ratio * ratio for ratio in ratios)
    # Minimises sum(((1/beta)·x/t - (t - 2(p-1)·alpha)/t)^2) with x = 2(p-1)/p·bytes.
    numerator = denominator = 0.0
    for ranks, byte_count, seconds in large:
        ratio = 2 * (ranks - 1) / ranks * byte_count / seconds
        numerator += ratio * (seconds - 2 * (ranks - 1) * alpha) / seconds
        denominator += ratio * ratio
    inverse_beta = numerator / denominator
    beta = 1 / inverse_beta if inverse_beta > 0 else math.inf
    return alpha, beta


def read_points(path, statistic):
    points = []
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                points.append((int(record["ranks"]), float(record["bytes"]), float(record[statistic])))
            except (ValueError, KeyError) as error:
                raise SystemExit(f"projection: {path}:{number}: expected JSON with ranks, bytes, {statistic}: {error}")
    if not points:
        raise SystemExit(f"projection: {path} has no measurements")
    return points


def print_fit(args):
    points = read_points(args.measurements, args.statistic)
    try:
        alpha, beta = fit_alpha_beta(points)
    except ValueError as error:
        raise SystemExit(f"projection: {args.measurements}: {error}")
    print(f"alpha = {alpha * 1e6:.1f} µs, beta = {beta * 8 / 1e9:.3f} Gbit/s ({beta / 1e6:.1f} MB/s)\n")
    print("| ranks | bytes | measured (ms) | model (ms) |")
    print("|---:|---:|---:|---:|")
    for ranks, byte_count, seconds in points:
        model = allreduce_seconds(ranks, byte_count, alpha, beta)
        fitted = "" if byte_count <= LATENCY_BYTES or byte_count >= BANDWIDTH_BYTES else " (not fitted)"
        print(f"| {ranks} | {byte_count:,.0f}{fitted} | {seconds * 1000:.3f} | {model * 1000:.3f} |")


# MARK: - Command line


def integer_list(text):
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of integers, found '{text}'")
    if any(value < 1 for value in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, found '{text}'")
    return values


def positive(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, found '{text}'")
    return value


def fraction(text):
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1], found '{text}'")
    return value


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    table = commands.add_parser("table", help="project step time and efficiency (markdown table)")
    table.add_argument("--step-ms", type=positive, required=True,
                       help="measured time of one training step on one rank, in milliseconds")
    table.add_argument("--local-batch", type=int, default=128, help="samples per rank per step (default 128)")
    table.add_argument("--alpha-us", type=float, default=25.0,
                       help="per-message latency in microseconds (default 25, kernel TCP over Ethernet)")
    table.add_argument("--overlap", type=fraction, default=0.0,
                       help="fraction of compute that hides communication (default 0)")
    table.add_argument("--ranks", type=integer_list, default=[8, 16, 32, 64, 128, 256, 512])
    table.add_argument("--gbits", type=integer_list, default=[10, 100], help="link rates in Gbit/s")
    table.add_argument("--floats", type=int, default=MLP_GRADIENT_FLOATS, help="gradient length in floats")
    table.add_argument("--json", action="store_true", help="JSON lines instead of a markdown table")
    table.set_defaults(run=print_table)

    fit = commands.add_parser("fit", help="fit alpha and beta to measured allreduce times")
    fit.add_argument("measurements", help="JSON lines with ranks, bytes and a time in seconds")
    fit.add_argument("--statistic", default="median_s", help="which time to fit (default median_s)")
    fit.set_defaults(run=print_fit)

    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main(sys.argv[1:])
