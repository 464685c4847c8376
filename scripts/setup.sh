#!/usr/bin/env bash
# Installs the Debian packages lockstep needs, skipping those already present.
#   OpenMPI (runtime and headers), OpenBLAS, zlib, pkg-config, and the Fashion-MNIST IDX files
#   (/usr/share/datasets/fashion-mnist, Debian package dataset-fashion-mnist).
# Runs apt-get as root, or through sudo when the user is not root.
set -euo pipefail

packages=(libopenmpi-dev openmpi-bin libopenblas-dev zlib1g-dev pkg-config dataset-fashion-mnist)
missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  sudo_cmd=()
elif command -v sudo >/dev/null 2>&1; then
  sudo_cmd=(sudo)
else
  echo "setup: missing packages ${missing[*]}; run as root or install sudo" >&2
  exit 1
fi
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
