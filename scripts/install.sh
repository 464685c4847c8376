#!/usr/bin/env bash
# Put `lockstep` on the PATH, as the rest of README calls it: builds the release binary (setting
# up this machine first, as scripts/train.sh does) and installs
#   PREFIX/bin/lockstep                 the binary
#   PREFIX/share/lockstep/scripts/      the plotting scripts it runs (found beside bin/)
# PREFIX: $PREFIX, else /usr/local as root, else ~/.local (add ~/.local/bin to PATH if it is not).
#   scripts/install.sh            PREFIX=/opt/lockstep scripts/install.sh
# LOCKSTEP_BINARY: install this binary instead of building one (the tests do).
# Under mpirun on several hosts, every host needs the binary at the same path.
set -euo pipefail
repository=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${PREFIX:-}" ]; then
  prefix=$PREFIX
elif [ "$(id -u)" -eq 0 ]; then
  prefix=/usr/local
else
  prefix=$HOME/.local
fi
case "$prefix" in /*) ;; *) prefix=$PWD/$prefix ;; esac

cd "$repository"
if [ -n "${LOCKSTEP_BINARY:-}" ]; then
  binary=$LOCKSTEP_BINARY
else
  scripts/setup.sh >&2
  swift build -c release --product lockstep >&2
  binary=$(swift build -c release --show-bin-path)/lockstep
fi

mkdir -p "$prefix/bin" "$prefix/share/lockstep/scripts"
# Copied to a temporary name and renamed: a running lockstep is never half overwritten.
install -m 0755 "$binary" "$prefix/bin/.lockstep.tmp-$$"
mv -f "$prefix/bin/.lockstep.tmp-$$" "$prefix/bin/lockstep"
install -m 0644 scripts/plot_metrics.py scripts/plotsupport.py scripts/plot_schedules.py scripts/plot_scaling.py scripts/plot_trace.py \
  "$prefix/share/lockstep/scripts/"
install -m 0755 scripts/setup_plotting.sh "$prefix/share/lockstep/scripts/"

echo "installed $prefix/bin/lockstep"
case ":$PATH:" in
  *":$prefix/bin:"*) echo "lockstep is on your PATH: try lockstep train --epochs 2" ;;
  *) echo "add it to your PATH: export PATH=\"$prefix/bin:\$PATH\"" ;;
esac
