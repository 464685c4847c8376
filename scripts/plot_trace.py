#!/usr/bin/env python3
"""Draws a few steps of a `lockstep train --trace` file into a PNG, every rank and thread.

One band per rank, one row per thread (training, then each gradient bucket), spans coloured by
kind (data, forward, loss, backward, reduction, wait, optimizer), so that the reductions
overlapping backward show.

  scripts/plot_trace.py trace.json -o scripts/figures/trace.png [--first-step 10] [--steps 3]

For anything more, open the file itself in https://ui.perfetto.dev or chrome://tracing.
matplotlib is installed on first use by scripts/setup_plotting.sh.
"""

import argparse
import json
import os
import sys

import plotsupport

COLORS = [  # (prefix of the span name, colour, legend label)
    ("data", "tab:gray", "data"),
    ("forward", "tab:blue", "forward"),
    ("loss", "tab:purple", "loss"),
    ("backward", "tab:orange", "backward"),
    ("allreduce", "tab:green", "bucket reduction"),
    ("reduce-scatter", "tab:green", None),
    ("exact sum", "tab:green", None),
    ("wait", "tab:red", "wait for reduction"),
    ("optimizer", "tab:olive", "optimizer"),
]


def color(name):
    for prefix, value, _ in COLORS:
        if name.startswith(prefix):
            return value
    return None


# Exit status when the trace file does not exist or cannot be read (EX_NOINPUT, as lockstep's).
MISSING_INPUT = 66


def read_trace(path):
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        print(f"error: {path}: no such readable file (lockstep train --trace FILE writes one)", file=sys.stderr)
        sys.exit(MISSING_INPUT)
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            document = json.load(handle)
        events = document["traceEvents"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        plotsupport.refuse(f"error: {path}: not a trace-event file ({error})")
    return events


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace", help="the JSON file lockstep train --trace wrote")
    parser.add_argument("-o", "--output", default="trace.png")
    parser.add_argument("--first-step", type=int, default=None, help="first step drawn (default: the middle of the run)")
    parser.add_argument("--steps", type=int, default=3, help="steps drawn (default 3)")
    args = parser.parse_args()
    if args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    events = read_trace(args.trace)
    spans = [e for e in events if e.get("ph") == "X"]
    steps = sorted({e["args"]["step"] for e in spans if e["name"] == "step"})
    if not steps:
        plotsupport.refuse(f"error: {args.trace}: no step spans")
    first = args.first_step if args.first_step is not None else steps[len(steps) // 2]
    wanted = set(range(first, first + args.steps))
    window = [e for e in spans if e["name"] == "step" and e["args"]["step"] in wanted]
    if not window:
        plotsupport.refuse(f"error: {args.trace}: no steps {first}…{first + args.steps - 1} (it has {steps[0]}…{steps[-1]})")
    start = min(e["ts"] for e in window)
    end = max(e["ts"] + e["dur"] for e in window)
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    processes = {e["pid"]: e["args"]["name"] for e in events if e.get("name") == "process_name"}
    rows = sorted({(e["pid"], e["tid"]) for e in spans})
    plt = plotsupport.pyplot()
    figure, axes = plt.subplots(figsize=(12, 0.45 * len(rows) + 1.6))
    y_of = {row: len(rows) - 1 - index for index, row in enumerate(rows)}
    for e in spans:
        if e["ts"] + e["dur"] < start or e["ts"] > end or color(e["name"]) is None:
            continue
        y = y_of[(e["pid"], e["tid"])]
        # Per-layer spans sit inside their pass: drawn thinner, on top.
        nested = e["name"].startswith(("forward ", "backward "))
        height = 0.45 if nested else 0.8
        axes.broken_barh([((e["ts"] - start) / 1000, e["dur"] / 1000)], (y - height / 2, height),
                         facecolors=color(e["name"]), edgecolor="black" if nested else "none", linewidth=0.3)
    labels = [f"{processes.get(pid, f'rank {pid}')}: {names.get((pid, tid), tid)}" for pid, tid in rows]
    axes.set_yticks([y_of[row] for row in rows], labels, fontsize=8)
    axes.set_xlim(0, (end - start) / 1000)
    axes.set_xlabel(f"milliseconds from the start of step {first}")
    axes.set_title(f"{os.path.basename(args.trace)}: steps {first}–{first + args.steps - 1} on every rank")
    handles = [plt.Rectangle((0, 0), 1, 1, color=value) for _, value, label in COLORS if label]
    axes.legend(handles, [label for _, _, label in COLORS if label], loc="upper center",
                bbox_to_anchor=(0.5, -0.18 - 0.4 / len(rows)), ncol=7, fontsize=8, frameon=False)
    figure.tight_layout()
    folder = os.path.dirname(os.path.abspath(args.output))
    try:
        os.makedirs(folder, exist_ok=True)
        figure.savefig(args.output, dpi=130)
    except OSError as error:
        print(f"error: cannot write {args.output}: {error.strerror or error}", file=sys.stderr)
        return 74
    print(f"wrote {args.output}")


if __name__ == "__main__":
    sys.exit(main())
