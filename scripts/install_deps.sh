#!/usr/bin/env bash
# Installs lowbit's build and test dependencies from Debian packages (the only registry used).
set -euo pipefail
PKGS=(cmake g++ make pkg-config
      # clang and its runtimes (libFuzzer, ASan, UBSan): the sanitizer stage and scripts/fuzz.sh
      clang libclang-rt-14-dev
      nlohmann-json3-dev libsentencepiece-dev libcli11-dev libfmt-dev libopenblas-dev libpcre2-dev
      libbz2-dev zlib1g-dev libgtest-dev libbenchmark-dev
      # lowbit serve's HTTP server
      libcpp-httplib-dev
      # lowbit outliers --png (cairo), and the headless browser that renders the HTML report in
      # its test (tests/eval/outlier_chromium_test.cpp)
      libcairo2-dev chromium
      # aarch64 cross toolchain and qemu-user: scripts/test_arm.sh runs the NEON kernels' tests
      g++-aarch64-linux-gnu qemu-user)
# Node.js and npm: the tokenizer oracle test (tests/text/llama3_oracle) installs its pinned npm
# package. A machine that already has Node (e.g. 20 from NodeSource) keeps it.
command -v node > /dev/null && command -v npm > /dev/null || PKGS+=(nodejs npm)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
