#!/usr/bin/env bash
# One-shot set-up: install Debian dependencies, configure and build lowbit (Release) into ./build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
WERROR=OFF; [ -n "${CI:-}" ] && WERROR=ON
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DLOWBIT_WERROR="$WERROR" >/dev/null
cmake --build build -j"$(nproc)"
