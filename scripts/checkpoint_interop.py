#!/usr/bin/env python3
"""Reads a Lockstep checkpoint with the standard `safetensors` package and numpy.

    scripts/checkpoint_interop.py PATH [--json] [--data-dir DIR [--limit-test N]]

Loads the tensors with `safetensors.numpy.load_file` and the metadata with
`safe_open(...).metadata()`, prints each tensor's name, shape and dtype and the metadata keys,
and recomputes both checksums (`data_crc32`, `header_crc32`) independently of the Swift code,
from the format description in Sources/Checkpoints/CheckpointFormat.swift. Exits 1 when a
checksum or the format name differs.

With `--data-dir`, also reads the Fashion-MNIST test set there (t10k IDX files, gzip-compressed
or raw, first N samples with `--limit-test`) and computes the test loss and accuracy of the
checkpoint's MLP with numpy, independently of `lockstep evaluate`.

Needs `python3 -m pip install safetensors numpy`.
"""

import argparse
import gzip
import json
import os
import struct
import sys
import zlib

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

FORMAT_NAME = "lockstep-checkpoint"
FORMAT_VERSIONS = ("1", "2")


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


def dense_layers(tensors):
    """The (weight, bias) names of the MLP's dense layers in order: version 1 named them
    `layers.{i}.weight`; version 2 names every tensor as torch.nn.Sequential's state_dict does,
    `{position}.weight`, so the dense layers are the 2-D weights in order of position."""
    if "layers.0.weight" in tensors:
        count = 0
        while f"layers.{count}.weight" in tensors:
            count += 1
        return [(f"layers.{i}.weight", f"layers.{i}.bias") for i in range(count)]
    positions = sorted(int(name.split(".")[0]) for name in tensors
                       if name.endswith(".weight") and name.split(".")[0].isdigit())
    if any(tensors[f"{p}.weight"].ndim != 2 for p in positions):
        raise SystemExit("the numpy evaluation covers MLPs only (this checkpoint has convolutions)")
    return [(f"{p}.weight", f"{p}.bias") for p in positions]


def mlp_forward(tensors, inputs):
    """Logits [batch, classes] of the MLP stored in `tensors` for `inputs` [batch, features]:
    `x @ weight.T + bias` per dense layer ([out, in] weights), ReLU between layers.
    The activation must match the trainer's (ReLU for the mlp preset)."""
    x = inputs.astype(np.float64)
    layers = dense_layers(tensors)
    for i, (weight_name, bias_name) in enumerate(layers):
        weight = tensors[weight_name].astype(np.float64)
        bias = tensors[bias_name].astype(np.float64)
        x = x @ weight.T + bias
        if i < len(layers) - 1:
            x = np.maximum(x, 0.0)
    return x


def read_idx(path):
    """An IDX file (http://yann.lecun.com/exdb/mnist/) of unsigned bytes as a numpy array:
    magic 0x00 0x00 0x08 ndim, then ndim big-endian u32 dimensions, then the data."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if raw[0:3] != b"\x00\x00\x08":
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def test_set(directory, limit):
    """(images [n, 784] float32 in [0, 1], labels [n]) of the first `limit` test samples.
    Pixels are x / 255 in float32, as the trainer's fillBatch."""
    def path(name):
        compressed = os.path.join(directory, name + ".gz")
        return compressed if os.path.exists(compressed) else os.path.join(directory, name)

    images = read_idx(path("t10k-images-idx3-ubyte"))
    labels = read_idx(path("t10k-labels-idx1-ubyte"))
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return images.reshape(len(images), -1).astype(np.float32) / np.float32(255), labels.astype(np.int64)


def evaluate(tensors, images, labels):
    """(mean softmax cross-entropy, accuracy) in float64; accuracy counts the first largest logit."""
    logits = mlp_forward(tensors, images)
    largest = logits.max(axis=1, keepdims=True)
    log_sum = np.log(np.exp(logits - largest).sum(axis=1)) + largest[:, 0]
    loss = float((log_sum - logits[np.arange(len(labels)), labels]).mean())
    accuracy = float((logits.argmax(axis=1) == labels).mean())
    return loss, accuracy


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--data-dir", help="Fashion-MNIST folder: also compute the test loss and accuracy")
    parser.add_argument("--limit-test", type=int, help="use the first N test samples")
    args = parser.parse_args()

    tensors, metadata = load(args.path)
    sums = checksums(args.path)
    problems = [
        f"{key}: stored {stored}, computed {computed}" for key, (stored, computed) in sums.items() if stored != computed
    ]
    if metadata.get("format") != FORMAT_NAME or metadata.get("format_version") not in FORMAT_VERSIONS:
        problems.append(f"format {metadata.get('format')!r} version {metadata.get('format_version')!r}")

    test = None
    if args.data_dir:
        images, labels = test_set(args.data_dir, args.limit_test)
        loss, accuracy = evaluate(tensors, images, labels)
        test = {"samples": len(labels), "loss": loss, "accuracy": accuracy}

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
            "test": test,
        }, sort_keys=True))
    else:
        for name in sorted(tensors):
            array = tensors[name]
            print(f"{name}\t{list(array.shape)}\t{array.dtype}")
        print("metadata keys: " + ", ".join(sorted(metadata)))
        print("checksums: " + ", ".join(f"{key} {computed}" for key, (_, computed) in sums.items()))
        if test:
            print(f"test loss {test['loss']:.6f}  test acc {test['accuracy']:.6f}  ({test['samples']} samples)")
        for problem in problems:
            print("problem: " + problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
