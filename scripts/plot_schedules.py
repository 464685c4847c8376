#!/usr/bin/env python3
"""Draws learning-rate schedules side by side, on a linear and a log LR axis, into a PNG.

Each schedule comes from `lockstep schedule table --json` (run by this script with the flags given)
or from a JSON Lines file that command wrote. On the log axis a pure exponential is a straight line.

  scripts/plot_schedules.py                                  # the README figure
  scripts/plot_schedules.py -s "gamma 0.9=--gamma 0.9" -s "half-life 5=--half-life 5" -o out.png
  scripts/plot_schedules.py --json "run A=a.jsonl" --json "run B=b.jsonl" -o out.png

x is in epochs: step / steps per epoch. matplotlib is installed on first use by
scripts/setup_plotting.sh.
"""

import argparse
import json
import shlex
import subprocess
import sys

import plotsupport

# The README figure: the family's parameterisations and variants over 100 epochs of 20 steps.
DEFAULT_SCHEDULES = [
    ("gamma 0.95 (default)", "--gamma 0.95"),
    ("half-life 20", "--half-life 20"),
    ("final-lr 1e-4 at epoch 99", "--final-lr 1e-4 --total 100"),
    ("warmup 5, gamma 0.9, min-lr 1e-3", "--warmup 5 --gamma 0.9 --min-lr 1e-3"),
    ("staircase 10, gamma 0.95", "--gamma 0.95 --staircase 10"),
    ("smooth, warmup 3, hold 5, half-life 15", "--smooth --warmup 3 --hold 5 --half-life 15"),
]


def parse_pair(text):
    label, separator, value = text.partition("=")
    if not separator or not label:
        raise argparse.ArgumentTypeError(f"expected LABEL=VALUE, found {text!r}")
    return label, value


def read_rows(lines, source):
    rows = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                row = json.loads(line)
                rows.append((int(row["step"]), int(row["epoch"]), float(row["lr"])))
            except (ValueError, KeyError) as error:
                sys.exit(f"{source}:{number}: not a schedule table row ({error}): {line.strip()}")
    if not rows:
        sys.exit(f"{source}: no rows")
    return rows


def run_table(binary, flags, epochs, steps_per_epoch):
    arguments = shlex.split(flags)
    per_step = ("--smooth" in arguments or "--unit=step" in arguments
                or any(a == "--unit" and b == "step" for a, b in zip(arguments, arguments[1:])))
    count = epochs * steps_per_epoch if per_step else epochs
    command = [binary, "schedule", "table", "--json", "--count", str(count),
               "--steps-per-epoch", str(steps_per_epoch)] + arguments
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{shlex.join(command)} failed:\n{result.stderr.strip()}")
    return read_rows(result.stdout.splitlines(), shlex.join(command)), per_step


def steps_per_epoch_of(rows):
    """The step of the first row in epoch 1 (one row per epoch or per step, both start there)."""
    return next((step for step, epoch, _ in rows if epoch == 1 and step > 0), 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-s", "--schedule", action="append", type=parse_pair, default=[], metavar="LABEL=FLAGS",
                        help="schedule flags for `lockstep schedule table` (repeatable)")
    parser.add_argument("--json", action="append", type=parse_pair, default=[], metavar="LABEL=FILE",
                        help="a `lockstep schedule table --json` output file (repeatable)")
    parser.add_argument("--epochs", type=int, default=100, help="epochs to draw (default 100)")
    parser.add_argument("--steps-per-epoch", type=int, default=20,
                        help="steps per epoch passed to lockstep (default 20)")
    parser.add_argument("--lockstep", help="the lockstep binary (default: $LOCKSTEP_BINARY, .build/*/lockstep, PATH)")
    parser.add_argument("-o", "--output", default="scripts/figures/schedules.png", help="PNG to write")
    parser.add_argument("--title", help="figure title")
    args = parser.parse_args()

    curves = []  # (label, x in epochs, lr, drawn as steps)
    specs = args.schedule or ([] if args.json else DEFAULT_SCHEDULES)
    if specs:
        binary = plotsupport.lockstep_binary(args.lockstep)
        for label, flags in specs:
            rows, per_step = run_table(binary, flags, args.epochs, args.steps_per_epoch)
            curves.append((label, [step / args.steps_per_epoch for step, _, _ in rows],
                           [lr for _, _, lr in rows], not per_step))
    for label, path in args.json:
        with open(path) as file:
            rows = read_rows(file, path)
        spe = steps_per_epoch_of(rows)
        per_step = len(rows) > 1 and rows[1][0] - rows[0][0] == 1 and spe > 1
        curves.append((label, [step / spe for step, _, _ in rows], [lr for _, _, lr in rows], not per_step))

    plt = plotsupport.pyplot()
    figure, (linear, logarithmic) = plt.subplots(1, 2, figsize=(12, 4.6))
    for axis, scale in ((linear, "linear"), (logarithmic, "log")):
        for label, x, lr, constant_per_epoch in curves:
            if constant_per_epoch:
                # An LR constant within each epoch is drawn as steps, the last one to the end of its epoch.
                axis.plot(x + [x[-1] + 1], lr + [lr[-1]], label=label, linewidth=1.6, drawstyle="steps-post")
            else:
                axis.plot(x, lr, label=label, linewidth=1.6)
        axis.set_yscale(scale)
        axis.set_xlabel("epoch")
        axis.set_ylabel("learning rate" + (" (log scale)" if scale == "log" else ""))
        axis.grid(True, which="both" if scale == "log" else "major", alpha=0.3)
    linear.set_title("linear axis")
    logarithmic.set_title("log axis: exponential decay is a straight line")
    linear.legend(fontsize=8)
    figure.suptitle(args.title or ("Exponential learning-rate schedules (lr0 = 0.1)" if specs is DEFAULT_SCHEDULES
                                   else "Learning-rate schedules"))
    figure.tight_layout()
    figure.savefig(args.output, dpi=90)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
