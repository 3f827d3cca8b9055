#!/usr/bin/env bash
# Installs, builds and runs the whole test suite (what CI runs). Extra args go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cd build && ctest --output-on-failure -j"$(nproc)" "$@"
