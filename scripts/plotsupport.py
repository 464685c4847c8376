"""Shared by the plotting scripts: import matplotlib (installing it on first use) and find lockstep."""

import importlib
import os
import shutil
import subprocess
import sys

SCRIPTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(SCRIPTS)


def pyplot():
    """matplotlib.pyplot with the file-only Agg backend; runs scripts/setup_plotting.sh if missing."""
    try:
        importlib.import_module("matplotlib")
    except ImportError:
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
