"""Shared by the plotting scripts: import matplotlib (installing it on first use) and find lockstep."""

import importlib
import json
import os
import shutil
import subprocess
import sys

SCRIPTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(SCRIPTS)


# Exit status when matplotlib is missing and installing it is not allowed (lockstep reads it).
MATPLOTLIB_MISSING = 3
# Exit status when an input file is not the JSON Lines expected (EX_DATAERR; lockstep reads it).
NOT_JSON_LINES = 65


def refuse(message):
    """Exits with NOT_JSON_LINES after printing `message` on standard error."""
    print(message, file=sys.stderr)
    sys.exit(NOT_JSON_LINES)


def pyplot(install=True):
    """matplotlib.pyplot with the file-only Agg backend. When matplotlib is missing, runs
    scripts/setup_plotting.sh, or with install=False exits with MATPLOTLIB_MISSING."""
    try:
        importlib.import_module("matplotlib")
    except ImportError:
        if not install:
            print(f"matplotlib is not installed for {sys.executable}; run scripts/setup_plotting.sh",
                  file=sys.stderr)
            sys.exit(MATPLOTLIB_MISSING)
        print("matplotlib is missing: installing it with scripts/setup_plotting.sh", file=sys.stderr)
        env = dict(os.environ, PYTHON=sys.executable)
        if subprocess.call([os.path.join(SCRIPTS, "setup_plotting.sh")], env=env) != 0:
            sys.exit("matplotlib could not be installed; see scripts/setup_plotting.sh")
        importlib.invalidate_caches()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def lockstep_binary(explicit=None):
    """The lockstep binary: `explicit`, $LOCKSTEP_BINARY, the release or debug build, or PATH."""
    candidates = [explicit, os.environ.get("LOCKSTEP_BINARY"),
                  os.path.join(ROOT, ".build", "release", "lockstep"),
                  os.path.join(ROOT, ".build", "debug", "lockstep")]
    for path in candidates:
        if path and os.access(path, os.X_OK):
            return path
    found = shutil.which("lockstep")
    if found:
        return found
    sys.exit("lockstep binary not found: build it (swift build -c release) or pass --lockstep PATH")


def read_json_lines(path, required, what):
    """The JSON objects of a JSON Lines file, one per non-empty line; exits with a message naming
    the file and line when a line is not a JSON object with every key in `required`, or when the
    file holds none (`what` names the records in that message), with status NOT_JSON_LINES."""
    records = []
    with open(path, encoding="utf-8", errors="surrogateescape") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as error:
                refuse(f"{path}:{number}: not JSON ({error})")
            for key in required:
                if not isinstance(record, dict) or key not in record:
                    refuse(f"{path}:{number}: no \"{key}\" in {line.strip()[:200]}")
            records.append(record)
    if not records:
        refuse(f"{path}: no {what}")
    return records
