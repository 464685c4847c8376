#!/usr/bin/env python3
"""Reads a Lockstep checkpoint with the standard `safetensors` package and numpy.

    scripts/checkpoint_interop.py PATH [--json]

Loads the tensors with `safetensors.numpy.load_file` and the metadata with
`safe_open(...).metadata()`, prints each tensor's name, shape and dtype and the metadata keys,
and recomputes both checksums (`data_crc32`, `header_crc32`) independently of the Swift code,
from the format description in Sources/Checkpoints/CheckpointFormat.swift. Exits 1 when a
checksum or the format name differs.

Needs `python3 -m pip install safetensors numpy`.
"""

import argparse
import json
import struct
import sys
import zlib

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

FORMAT_NAME = "lockstep-checkpoint"
FORMAT_VERSION = "1"


def load(path):
    """Returns ({name: numpy array}, {key: str}) through the standard safetensors package."""
    tensors = load_file(path)
    with safe_open(path, framework="numpy") as handle:
        metadata = handle.metadata() or {}
    return tensors, metadata


def header_digest_input(entries, metadata):
    """The byte string `header_crc32` covers (CheckpointFormat.swift):
    records (u64-le byte count + UTF-8) of the tensor table in data order, then the metadata
    without header_crc32 in ascending order of the keys' UTF-8 bytes."""
    out = bytearray()

    def record(text):
        data = text.encode("utf-8")
        out.extend(struct.pack("<Q", len(data)))
        out.extend(data)

    record("tensors")
    record(str(len(entries)))
    ordered = sorted(
        entries.items(),
        key=lambda item: (item[1]["data_offsets"][0], item[1]["data_offsets"][1], item[0].encode("utf-8")),
    )
    for name, entry in ordered:
        record(name)
        record(entry["dtype"])
        record(",".join(str(d) for d in entry["shape"]))
        record(str(entry["data_offsets"][0]))
        record(str(entry["data_offsets"][1]))
    rest = {k: v for k, v in metadata.items() if k != "header_crc32"}
    record("metadata")
    record(str(len(rest)))
    for key in sorted(rest, key=lambda k: k.encode("utf-8")):
        record(key)
        record(rest[key])
    return bytes(out)


def checksums(path):
    """(stored, computed) pairs for data_crc32 and header_crc32, from the raw file bytes."""
    with open(path, "rb") as handle:
        raw = handle.read()
    (header_length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_length].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    data = raw[8 + header_length :]
    computed_data = format(zlib.crc32(data), "08x")
    computed_header = format(zlib.crc32(header_digest_input(header, metadata)), "08x")
    return {
        "data_crc32": (metadata.get("data_crc32"), computed_data),
        "header_crc32": (metadata.get("header_crc32"), computed_header),
    }


def layer_count(tensors):
    """The number of dense layers: consecutive `layers.{i}.weight` from i = 0."""
    count = 0
    while f"layers.{count}.weight" in tensors:
        count += 1
    return count


def mlp_forward(tensors, inputs):
    """Logits [batch, classes] of the MLP stored in `tensors` for `inputs` [batch, features]:
    `x @ layers.{i}.weight.T + layers.{i}.bias` ([out, in] weights), ReLU between layers.
    The activation must match the trainer's (ReLU at the time of writing)."""
    x = inputs.astype(np.float64)
    count = layer_count(tensors)
    for i in range(count):
        weight = tensors[f"layers.{i}.weight"].astype(np.float64)
        bias = tensors[f"layers.{i}.bias"].astype(np.float64)
        x = x @ weight.T + bias
        if i < count - 1:
            x = np.maximum(x, 0.0)
    return x


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    tensors, metadata = load(args.path)
    sums = checksums(args.path)
    problems = [
        f"{key}: stored {stored}, computed {computed}" for key, (stored, computed) in sums.items() if stored != computed
    ]
    if metadata.get("format") != FORMAT_NAME or metadata.get("format_version") != FORMAT_VERSION:
        problems.append(f"format {metadata.get('format')!r} version {metadata.get('format_version')!r}")

    if args.json:
        print(json.dumps({
            "tensors": {
                name: {
                    "shape": list(a.shape),
                    "dtype": str(a.dtype),
                    "sum": float(a.astype(np.float64).sum()),
                    "first": float(a.flat[0]) if a.size else None,
                }
                for name, a in tensors.items()
            },
            "metadata_keys": sorted(metadata),
            "checksums": {key: computed for key, (_, computed) in sums.items()},
            "problems": problems,
        }, sort_keys=True))
    else:
        for name in sorted(tensors):
            array = tensors[name]
            print(f"{name}\t{list(array.shape)}\t{array.dtype}")
        print("metadata keys: " + ", ".join(sorted(metadata)))
        print("checksums: " + ", ".join(f"{key} {computed}" for key, (_, computed) in sums.items()))
        for problem in problems:
            print("problem: " + problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
