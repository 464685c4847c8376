#!/usr/bin/env python3
"""Draws a training run's metrics (the JSON Lines file of `lockstep train --metrics FILE`) into a PNG:
loss, test accuracy, and the learning rate on a log axis, against the epoch.

  scripts/plot_metrics.py run.jsonl -o scripts/figures/metrics.png
  lockstep plot runs/20261129-141502        # the same, for a run directory

Each line is one object per epoch with `epoch`, `lr`, `train_loss`, `test_loss`, `test_accuracy` and
`samples_per_s` (a series missing from the file is left out). matplotlib is
installed on first use by scripts/setup_plotting.sh.
"""

import argparse
import os
import statistics
import sys

import plotsupport


def read_records(path):
    return plotsupport.read_json_lines(path, ("epoch",), "metrics records")


def series(records, key):
    """(epochs, values) of the records that have `key`."""
    pairs = [(record["epoch"], record[key]) for record in records if record.get(key) is not None]
    return [epoch for epoch, _ in pairs], [value for _, value in pairs]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("metrics", help="JSON Lines metrics file")
    parser.add_argument("-o", "--output", default="metrics.png", help="PNG to write (default metrics.png)")
    parser.add_argument("--title", help="figure title (default: the file name and throughput)")
    parser.add_argument("--no-install", action="store_true",
                        help=f"exit with status {plotsupport.MATPLOTLIB_MISSING} instead of installing matplotlib")
    args = parser.parse_args()

    records = read_records(args.metrics)
    plt = plotsupport.pyplot(install=not args.no_install)
    figure, (loss, accuracy, rate) = plt.subplots(1, 3, figsize=(13, 4))

    for key, label in (("train_loss", "train"), ("test_loss", "test")):
        epochs, values = series(records, key)
        if values:
            loss.plot(epochs, values, marker="o", markersize=3, label=label)
    loss.set_title("loss")
    loss.set_ylabel("cross-entropy")
    loss.legend()

    epochs, values = series(records, "test_accuracy")
    if values:
        accuracy.plot(epochs, values, marker="o", markersize=3, color="tab:green")
    accuracy.set_title("test accuracy")

    epochs, values = series(records, "lr")
    if values:
        rate.plot(epochs, values, marker="o", markersize=3, color="tab:purple")
    rate.set_yscale("log")
    rate.set_title("learning rate (log axis)")
    rate.grid(True, which="both", alpha=0.3)

    from matplotlib.ticker import MaxNLocator

    for axis in (loss, accuracy, rate):
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(True, alpha=0.3)

    title = args.title or os.path.basename(args.metrics)
    _, throughput = series(records, "samples_per_s")
    if throughput and not args.title:
        title += f"  (median {statistics.median(throughput):,.0f} samples/s)"
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(args.output, dpi=90)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
