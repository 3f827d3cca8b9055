#!/usr/bin/env bash
# Quantizes ref-llama-s with every method at W4A4 and W4A16 g128 and prints each output file's
# SHA-256: run it with the binaries before and after a change that must not move any output
# (a restructuring), on one machine, and compare the two listings.
#
#   scripts/same_outputs.sh [LOWBIT_BINARY] [OUT_DIR]
#
# Calibration uses 16 samples of 512 tokens so the whole sweep takes minutes; the methods' code
# paths are the same as with the default 128.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-./build/lowbit}
OUT=${2:-$(mktemp -d)}
MODEL=../shared/models/ref-llama-s
CALIB=../shared/data/corpus/calib.txt
METHODS=(rtn gptq awq smoothquant smoothquant+gptq hadamard hadamard+gptq duquant duquant+gptq
         duquant-code-compat duquant-code-compat+gptq)
CONFIGS=("W4A4:--wbits 4 --abits 4" "W4A16g128:--wbits 4 --abits 16 --group 128")
mkdir -p "$OUT"
echo "# $($BIN --version 2>/dev/null || echo lowbit) at $(git rev-parse --short HEAD); $MODEL, 16 x 512 calibration tokens"
for m in "${METHODS[@]}"; do
  for c in "${CONFIGS[@]}"; do
    name=${c%%:*}
    flags=${c#*:}
    method=$m extra=""
    if [[ $m == duquant-code-compat* ]]; then method=duquant${m#duquant-code-compat}; extra=--duquant-code-compat; fi
    file="$OUT/$m-$name.lowbit"
    # shellcheck disable=SC2086
    "$BIN" quantize -q -t 2 -m "$MODEL" --method "$method" $extra $flags --calib "$CALIB" \
      --calib-samples 16 -o "$file" >/dev/null
    echo "$(sha256sum "$file" | cut -c1-16) $m $name"
  done
done
