#!/usr/bin/env bash
# Installs the Debian packages lockstep needs, skipping those already present:
#   OpenMPI (runtime and headers), OpenBLAS, zlib, libzip (NPZ files), pkg-config, and the Fashion-MNIST IDX files
#   (/usr/share/datasets/fashion-mnist, Debian package dataset-fashion-mnist).
set -euo pipefail
exec "$(dirname "$0")/apt_install.sh" libopenmpi-dev openmpi-bin libopenblas-dev zlib1g-dev pkg-config libzip-dev dataset-fashion-mnist
