#!/usr/bin/env python3
"""Writes a small CSV data set to try `--data` with: three kinds of flower, four measurements each.

    scripts/example_flowers.py [--out DIR]

Writes flowers-train.csv (600 rows) and flowers-test.csv (150 rows) into --out (default the
current folder): a header row `sepal_length,sepal_width,petal_length,petal_width,label`, then one
flower a row, the four measurements in cm with two decimals and the kind (0, 1 or 2) last, with
CRLF line endings (as a spreadsheet writes them). The rows are drawn from three normal
distributions modelled on Fisher's iris measurements, with a fixed seed: the files are the same
on every machine. README's "Your data" trains on them.
"""
import argparse
import os
import random
import sys

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
# (mean, standard deviation) of each measurement, per kind: close to Fisher's three iris species.
KINDS = [
    [(5.01, 0.35), (3.42, 0.38), (1.46, 0.17), (0.24, 0.11)],
    [(5.94, 0.52), (2.77, 0.31), (4.26, 0.47), (1.33, 0.20)],
    [(6.59, 0.64), (2.97, 0.32), (5.55, 0.55), (2.03, 0.27)],
]


def rows(generator, per_kind):
    """`per_kind` flowers of every kind, shuffled; each measurement at least 0.1 cm."""
    flowers = []
    for kind, shape in enumerate(KINDS):
        for _ in range(per_kind):
            flowers.append([max(0.1, generator.gauss(mean, deviation)) for mean, deviation in shape] + [kind])
    generator.shuffle(flowers)
    return flowers


def write(path, flowers):
    """Writes under a temporary name, then renames: never a half-written file under `path`."""
    temporary = path + ".tmp"
    with open(temporary, "w", newline="") as file:
        file.write(",".join(FEATURES + ["label"]) + "\r\n")
        for *measurements, kind in flowers:
            file.write(",".join(f"{value:.2f}" for value in measurements) + f",{kind}\r\n")
    os.replace(temporary, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=".", help="folder to write into (default: the current one)")
    arguments = parser.parse_args()
    generator = random.Random(20261129)
    try:
        os.makedirs(arguments.out, exist_ok=True)
        for name, per_kind in (("flowers-train.csv", 200), ("flowers-test.csv", 50)):
            path = os.path.join(arguments.out, name)
            write(path, rows(generator, per_kind))
            print(f"wrote {path}")
    except OSError as error:
        # The folder or a file cannot be written: one line naming which and why, status 1.
        sys.exit(f"error: cannot write the example data: {error.strerror}: {error.filename}")


if __name__ == "__main__":
    main()
