#!/usr/bin/env python3
"""Converts the Fashion-MNIST IDX files into the dataset formats lockstep reads: npz, npy,
safetensors and CSV.

    scripts/export_dataset.py [--format npz|npy|safetensors|csv|all] [--out DIR]
                              [--data-dir DIR] [--limit-train N] [--limit-test N]
                              [--dtype uint8|float32|float64] [--compressed] [--crlf]

Reads the four IDX files in --data-dir (default /usr/share/datasets/fashion-mnist, where Debian's
dataset-fashion-mnist package puts them): train-images-idx3-ubyte, train-labels-idx1-ubyte,
t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each gzip-compressed (`.gz`) or raw. Writes,
into --out (default the current folder, created if missing):

    npz          fashion-mnist.npz: arrays x_train [N, 28, 28], y_train [N], x_test, y_test
                 (np.savez, or np.savez_compressed with --compressed)
    npy          x_train.npy, y_train.npy, x_test.npy, y_test.npy: the same arrays, one a file
    safetensors  fashion-mnist.safetensors: tensors x_train, y_train, x_test, y_test
    csv          fashion-mnist-train.csv, fashion-mnist-test.csv: a header row
                 `label,pixel0,...,pixel783`, then one sample a row, the label first and the 784
                 pixels as integers 0..255 (LF line endings, CRLF with --crlf)
    all          every file above (the default)

Labels are always uint8. The images of npz, npy and safetensors are uint8 by default; with
--dtype float32 or float64 they are the pixels divided by 255, as the trainer computes
`Float(pixel) / 255` from uint8 pixels (float32 is bit-identical to it; float64 is the float64
quotient, not the float32 value widened). CSV always holds the uint8 pixels.

--limit-train N and --limit-test N keep only the first N samples of a split (small test files).
Every file is written under a temporary name in the same folder and then renamed, so an
interrupted run never leaves a half-written file under its final name.

Example:

    scripts/export_dataset.py --out data
    NP=2 scripts/train.sh --data data/fashion-mnist.npz --epochs 10

Needs numpy, and for --format safetensors (or all) the safetensors package:
`python3 -m pip install numpy safetensors`.
"""

import argparse
import gzip
import os
import signal
import struct
import sys
import tempfile
import zlib

try:
    import numpy as np
except ImportError:
    sys.exit("error: this script needs numpy, which is not installed for " + sys.executable + "\n"
             "install it with: python3 -m pip install numpy")

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
FORMATS = ("npz", "npy", "safetensors", "csv")

# The IDX files of each split (without the optional .gz suffix), as the trainer names them.
SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

ROWS, COLUMNS = 28, 28
CLASS_COUNT = 10

# The hint printed after any problem with a dataset file (as the trainer's DatasetError hints).
DAMAGED_HINT = "the file is damaged: reinstall dataset-fashion-mnist or download the file again"


def fail(message, hint=None):
    """Exits with status 1 after printing `error: message` (and `hint: hint`) to stderr."""
    print("error: " + message, file=sys.stderr)
    if hint:
        print("hint: " + hint, file=sys.stderr)
    sys.exit(1)


# MARK: - Reading IDX files

def find_file(directory, name):
    """The path of `name` in `directory`: `name.gz` when it exists, else the raw `name`."""
    compressed = os.path.join(directory, name + ".gz")
    raw = os.path.join(directory, name)
    if os.path.exists(compressed):
        return compressed
    if os.path.exists(raw):
        return raw
    fail(f"dataset file {compressed} does not exist (nor {raw})",
         "install the Debian package dataset-fashion-mnist (scripts/setup.sh does), "
         "or pass --data-dir DIR with the four Fashion-MNIST IDX files")


def read_bytes(path):
    """The file's contents, gzip-decompressed when its name ends in .gz."""
    try:
        if path.endswith(".gz"):
            with open(path, "rb") as handle:
                signature = handle.read(2)
            if signature != b"\x1f\x8b":
                fail(f"{path} is not gzip-compressed: expected the bytes 1f 8b, found {signature.hex(' ') or 'nothing'}",
                     "if it is a raw IDX file, remove the .gz suffix from its name")
            with gzip.open(path, "rb") as handle:
                return handle.read()
        with open(path, "rb") as handle:
            return handle.read()
    except EOFError:
        # gzip's message for a stream cut short: "Compressed file ended before the end-of-stream
        # marker was reached".
        fail(f"{path} is truncated: its gzip stream ends without an end marker", DAMAGED_HINT)
    except zlib.error as error:
        fail(f"{path} has a corrupt gzip stream: {error}", DAMAGED_HINT)
    except gzip.BadGzipFile as error:
        # The signature was checked above, so this is about what follows the first stream.
        fail(f"{path} has bytes after the end of its gzip stream that are not gzip data ({error})",
             DAMAGED_HINT)
    except OSError as error:
        fail(f"cannot read dataset file {path}: {error.strerror or error}",
             "check the file's permissions, or pass --data-dir DIR with readable copies")


def read_idx(path, dimension_count):
    """An IDX file of unsigned bytes (http://yann.lecun.com/exdb/mnist/) as a uint8 array.

    Layout: two zero bytes, the element type 0x08 (unsigned byte), the dimension count, then one
    big-endian uint32 per dimension, then the elements in row-major order. Exits with a message
    naming the file when any of that does not hold, or the data is shorter or longer than the
    dimensions say."""
    raw = read_bytes(path)
    if len(raw) < 4:
        fail(f"{path} is truncated inside its IDX header: expected at least 4 bytes, found {len(raw)}",
             DAMAGED_HINT)
    if raw[0:2] != b"\x00\x00":
        hint = "the file looks gzip-compressed: give it a .gz suffix" if raw[0:2] == b"\x1f\x8b" else None
        fail(f"{path} is not an IDX file: expected the magic bytes 00 00, found {raw[0:2].hex(' ')}", hint)
    if raw[2] != 0x08:
        fail(f"{path} has IDX element type {raw[2]:02x}; expected 08 (unsigned byte)")
    if raw[3] != dimension_count:
        fail(f"{path} has {raw[3]} dimension{'' if raw[3] == 1 else 's'}; expected {dimension_count}")
    header_size = 4 + 4 * dimension_count
    if len(raw) < header_size:
        fail(f"{path} is truncated inside its IDX header: expected at least {header_size} bytes, "
             f"found {len(raw)}", DAMAGED_HINT)
    dims = struct.unpack(">" + "I" * dimension_count, raw[4:header_size])
    shape = "[" + ", ".join(str(d) for d in dims) + "]"
    if 0 in dims:
        fail(f"{path} has an empty dimension: {shape}; expected every dimension >= 1", DAMAGED_HINT)
    expected = header_size + int(np.prod(dims, dtype=np.int64))
    if len(raw) < expected:
        fail(f"{path} is truncated: dimensions {shape} need {expected} bytes (header included), "
             f"found {len(raw)}", DAMAGED_HINT)
    if len(raw) > expected:
        fail(f"{path} has {len(raw) - expected} trailing bytes: dimensions {shape} need {expected} "
             f"bytes (header included), found {len(raw)}", DAMAGED_HINT)
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(dims)


def read_split(directory, split, limit, flag):
    """(images uint8 [n, 28, 28], labels uint8 [n]) of one split, the first `limit` samples
    when `limit` is given. Checks what the trainer checks: equal counts, labels below 10, and
    a limit no larger than the split."""
    images_name, labels_name = SPLITS[split]
    images_path = find_file(directory, images_name)
    labels_path = find_file(directory, labels_name)
    images = read_idx(images_path, 3)
    labels = read_idx(labels_path, 1)
    if images.shape[1:] != (ROWS, COLUMNS):
        fail(f"{images_path} holds {images.shape[1]}x{images.shape[2]} images; "
             f"expected {ROWS}x{COLUMNS} (Fashion-MNIST)")
    if len(images) != len(labels):
        fail(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels; "
             "expected equal counts")
    out_of_range = np.flatnonzero(labels >= CLASS_COUNT)
    if out_of_range.size:
        index = int(out_of_range[0])
        fail(f"{labels_path}: label {index} is {labels[index]}; expected a class index in 0..<{CLASS_COUNT}")
    if limit is not None:
        if limit > len(images):
            fail(f"{flag} {limit} exceeds the {len(images)} samples in {images_path}",
                 f"use {flag} {len(images)} or less, or omit it to use every sample")
        images, labels = images[:limit], labels[:limit]
    return images, labels


# MARK: - Writing files atomically

def current_umask():
    """The process umask (reading it means setting it; this script has one thread)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


class AtomicFile:
    """A context manager that yields a temporary path in the folder of `path`; on a clean exit
    the temporary file is flushed to disk and renamed to `path` (os.replace), on an error or
    interrupt it is removed and `path` is left as it was.

    The file gets the permissions a plainly created file would (0666 minus the umask), not
    mkstemp's 0600."""

    def __init__(self, path):
        self.path = path
        self.temporary = None

    def __enter__(self):
        folder, name = os.path.split(os.path.abspath(self.path))
        descriptor, self.temporary = tempfile.mkstemp(prefix="." + name + ".", suffix=".tmp", dir=folder)
        os.close(descriptor)
        return self.temporary

    def __exit__(self, kind, value, traceback):
        if kind is not None:
            try:
                os.remove(self.temporary)
            except OSError:
                pass
            return False
        # Set here, not at creation: a writer may replace the temporary file (safetensors'
        # save_file makes a new 0600 file).
        os.chmod(self.temporary, 0o666 & ~current_umask())
        # The data reaches the disk before the rename, so a crash cannot leave an empty file
        # under the final name.
        descriptor = os.open(self.temporary, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(self.temporary, self.path)
        return False


def describe(arrays):
    """`x_train [100, 28, 28] uint8, y_train [100] uint8, ...` for the printed lines."""
    return ", ".join(f"{name} {list(array.shape)} {array.dtype}" for name, array in arrays.items())


def features(images, dtype):
    """The image array in the --dtype: uint8 as read, or the pixels divided by 255 in float32 or
    float64 (in float32 this is `Float(pixel) / 255` of the trainer, bit for bit)."""
    if dtype == "uint8":
        return images
    kind = np.dtype(dtype)
    return images.astype(kind) / kind.type(255)


def write_npz(out, arrays, compressed):
    path = os.path.join(out, "fashion-mnist.npz")
    save = np.savez_compressed if compressed else np.savez
    with AtomicFile(path) as temporary:
        # A file object, not the name: np.savez would append .npz to a name without it.
        with open(temporary, "wb") as handle:
            save(handle, **arrays)
    print(f"wrote {path}  {describe(arrays)}")


def write_npy(out, arrays):
    for name, array in arrays.items():
        path = os.path.join(out, name + ".npy")
        with AtomicFile(path) as temporary:
            with open(temporary, "wb") as handle:
                np.save(handle, array)
        print(f"wrote {path}  {list(array.shape)} {array.dtype}")


def write_safetensors(out, arrays):
    from safetensors.numpy import save_file

    path = os.path.join(out, "fashion-mnist.safetensors")
    with AtomicFile(path) as temporary:
        # save_file needs C-contiguous arrays; the sliced IDX arrays are.
        save_file({name: np.ascontiguousarray(array) for name, array in arrays.items()}, temporary)
    print(f"wrote {path}  {describe(arrays)}")


# Rows formatted per write: bounds the memory of the object array below (8 bytes a pixel).
CSV_CHUNK_ROWS = 2000


def write_csv(path, images, labels, newline):
    """One CSV file: a header row, then `label,pixel0,...,pixel783` per sample, as decimal
    integers. Formats through a table of the 256 byte values' strings, which is several times
    faster than np.savetxt."""
    pixels = images.reshape(len(images), -1)
    table = np.array([str(value) for value in range(256)], dtype=object)
    header = ",".join(["label"] + [f"pixel{i}" for i in range(pixels.shape[1])])
    with AtomicFile(path) as temporary:
        # newline="" writes the line endings exactly as given.
        with open(temporary, "w", encoding="ascii", newline="") as handle:
            handle.write(header + newline)
            for start in range(0, len(pixels), CSV_CHUNK_ROWS):
                rows = np.column_stack((labels[start:start + CSV_CHUNK_ROWS], pixels[start:start + CSV_CHUNK_ROWS]))
                handle.write("".join(",".join(row) + newline for row in table[rows].tolist()))
    print(f"wrote {path}  {len(pixels)} rows x {pixels.shape[1] + 1} columns (label, {pixels.shape[1]} pixels)")


# MARK: - Main

def positive(text):
    """argparse type: an integer of at least 1 (the trainer rejects 0 and negative limits)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a sample count; expected at least 1")
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--format", choices=FORMATS + ("all",), default="all",
                        help="which files to write (default all)")
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR, metavar="DIR",
                        help=f"folder of the four IDX files, .gz or raw (default {DEFAULT_DATA_DIR})")
    parser.add_argument("--out", default=".", metavar="DIR", help="folder to write into, created if missing (default .)")
    parser.add_argument("--limit-train", type=positive, metavar="N", help="keep the first N training samples")
    parser.add_argument("--limit-test", type=positive, metavar="N", help="keep the first N test samples")
    parser.add_argument("--dtype", choices=("uint8", "float32", "float64"), default="uint8",
                        help="images of npz/npy/safetensors: uint8 pixels, or pixel/255 as floats (default uint8)")
    parser.add_argument("--compressed", action="store_true", help="npz: use np.savez_compressed")
    parser.add_argument("--crlf", action="store_true", help="csv: CRLF line endings (default LF)")
    args = parser.parse_args()

    formats = FORMATS if args.format == "all" else (args.format,)
    # Checked before anything is read or written, so a missing package costs no time.
    if "safetensors" in formats:
        try:
            import safetensors.numpy  # noqa: F401
        except ImportError:
            fail(f"--format {args.format} needs the safetensors package, which is not installed for "
                 f"{sys.executable}\ninstall it with: python3 -m pip install safetensors")

    # SIGTERM ends the run through SystemExit, so an unfinished temporary file is removed as on
    # Ctrl-C (KeyboardInterrupt).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    x_train, y_train = read_split(args.data_dir, "train", args.limit_train, "--limit-train")
    x_test, y_test = read_split(args.data_dir, "test", args.limit_test, "--limit-test")

    if os.path.exists(args.out) and not os.path.isdir(args.out):
        fail(f"--out {args.out} is not a folder")
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as error:
        fail(f"cannot create the output folder {args.out}: {error.strerror or error}")

    arrays = {
        "x_train": features(x_train, args.dtype),
        "y_train": y_train,
        "x_test": features(x_test, args.dtype),
        "y_test": y_test,
    }
    try:
        if "npz" in formats:
            write_npz(args.out, arrays, args.compressed)
        if "npy" in formats:
            write_npy(args.out, arrays)
        if "safetensors" in formats:
            write_safetensors(args.out, arrays)
        if "csv" in formats:
            newline = "\r\n" if args.crlf else "\n"
            write_csv(os.path.join(args.out, "fashion-mnist-train.csv"), x_train, y_train, newline)
            write_csv(os.path.join(args.out, "fashion-mnist-test.csv"), x_test, y_test, newline)
    except OSError as error:
        fail(f"cannot write {error.filename or args.out}: {error.strerror or error}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        # AtomicFile has already removed the unfinished temporary file.
        print("interrupted: files written so far are complete, the one in progress was discarded",
              file=sys.stderr)
        sys.exit(130)
