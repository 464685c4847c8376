#!/usr/bin/env python3
"""Draws the scaling summary of scripts/bench_scaling.sh into a PNG: samples/s against ranks (weak
and strong scaling, with the ideal N × one process), and per-rank efficiency and the share of step
time spent waiting for communication.

  scripts/plot_scaling.py runs/scaling.jsonl -o scripts/figures/scaling.png

Each line is one object with `scaling` ("weak" or "strong"), `ranks`, `samples_per_s`,
`baseline_samples_per_s`, `per_rank_efficiency` and `wait_fraction`. matplotlib is installed on
first use by scripts/setup_plotting.sh.
"""

import argparse
import os
import sys

import plotsupport


def read_summary(path):
    return plotsupport.read_json_lines(path, ("scaling", "ranks", "samples_per_s"), "scaling records")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summary", help="JSON Lines written by scripts/bench_scaling.sh (OUT)")
    parser.add_argument("-o", "--output", default=os.path.join(plotsupport.SCRIPTS, "figures", "scaling.png"))
    parser.add_argument("--title", default=None)
    args = parser.parse_args()
    records = read_summary(args.summary)
    plt = plotsupport.pyplot()

    figure, (throughput, shares) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = {"weak": "tab:blue", "strong": "tab:orange"}
    for kind in ("weak", "strong"):
        rows = sorted((r for r in records if r["scaling"] == kind), key=lambda r: r["ranks"])
        if not rows:
            continue
        ranks = [r["ranks"] for r in rows]
        throughput.plot(ranks, [r["samples_per_s"] for r in rows], "o-", color=colors[kind],
                        label=f"{kind} (local batch {rows[-1]['local_batch']} at {ranks[-1]} ranks)")
        ideal = [r["ranks"] * r["baseline_samples_per_s"] for r in rows if r.get("baseline_samples_per_s")]
        if len(ideal) == len(rows):
            throughput.plot(ranks, ideal, ":", color=colors[kind], label=f"{kind}: N × one process")
        efficiency = [r.get("per_rank_efficiency") for r in rows]
        if all(value is not None for value in efficiency):
            shares.plot(ranks, [100 * value for value in efficiency], "o-", color=colors[kind],
                        label=f"{kind}: per-rank efficiency")
        wait = [r.get("wait_fraction") for r in rows]
        if all(value is not None for value in wait):
            shares.plot(ranks, [100 * value for value in wait], "s--", color=colors[kind],
                        label=f"{kind}: waiting on communication")
    all_ranks = sorted({r["ranks"] for r in records})
    for axis in (throughput, shares):
        axis.set_xlabel("ranks")
        axis.set_xticks(all_ranks)
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8)
    throughput.set_ylabel("training samples/s (all ranks)")
    throughput.set_ylim(bottom=0)
    shares.set_ylabel("% (of one process / of step time)")
    shares.set_ylim(0, 110)
    figure.suptitle(args.title or "lockstep bench step: scaling over ranks")
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    figure.savefig(args.output, dpi=120)
    print(args.output)


if __name__ == "__main__":
    main()
