#!/usr/bin/env bash
# Installs matplotlib for the plotting scripts (scripts/plot_schedules.py, scripts/plot_metrics.py)
# when `python3` (or $PYTHON) cannot import it: from PyPI with pip, or, where pip may not install
# into the system Python (PEP 668, Debian), Debian's python3-matplotlib.
set -euo pipefail

python=${PYTHON:-python3}
if "$python" -c "import matplotlib" >/dev/null 2>&1; then
  exit 0
fi

echo "setup_plotting: installing matplotlib for $python" >&2
if PIP_ROOT_USER_ACTION=ignore "$python" -m pip install --quiet matplotlib && "$python" -c "import matplotlib" >/dev/null 2>&1; then
  exit 0
fi

echo "setup_plotting: pip failed; trying Debian's python3-matplotlib" >&2
"$(dirname "$0")/apt_install.sh" python3-matplotlib
"$python" -c "import matplotlib" >/dev/null 2>&1 || {
  echo "setup_plotting: matplotlib still cannot be imported by $python" >&2
  exit 1
}
