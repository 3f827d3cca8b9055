#!/usr/bin/env bash
# The weight-quantizer section of docs/results.md: the survey's weight-side methods on ref-llama-s
# (RTN, GPTQ, HQQ, NF4, SqueezeLLM, LLM.int8(), LoRC) at W3/W4/W8 with the bits per weight of the
# decoder projections as stored (codes, scales, zero points, codebooks and side data:
# `lowbit inspect`), the time `lowbit quantize` took (calibration + quantization, + bit
# allocation for --bits-budget rows), WikiText-2 perplexity on the integer kernels (every window
# of 512 tokens of the test file, or the first WINDOWS) and prefill / decode speed of the real
# kernels (`lowbit bench --single`: a 128-token prefill, 64 decoded tokens). Called by
# scripts/results.sh; prints Markdown rows on stdout.
#
# Environment: LOWBIT_BIN (build/lowbit), LOWBIT_SHARED (../shared), WINDOWS (0: all), ROW_FILTER (a
# bash regex on the row labels: which rows to measure).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${LOWBIT_BIN:-build/lowbit}
SHARED=${LOWBIT_SHARED:-../shared}
MODEL=$SHARED/models/ref-llama-s
WIKI=$SHARED/data/wikitext-2/wiki.test.raw
CALIB=$SHARED/data/corpus/calib.txt
WINDOWS=${WINDOWS:-0}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# label|quantize flags (the output head stays full precision: the papers' protocol)
ROWS=(
  "RTN W4A16 g64 asym|--method rtn --wbits 4 --group 64 --w-asym --abits 16"
  "HQQ W4A16 g64|--preset hqq"
  "RTN W4A16 g128|--method rtn --wbits 4 --group 128 --abits 16"
  "GPTQ W4A16 g128|--method gptq --wbits 4 --group 128 --abits 16"
  "NF4 W4A16 g64|--method nf4 --wbits 4 --group 64 --abits 16"
  "NF4 W4A16 g64 + double quant|--preset nf4"
  "SqueezeLLM W4A16|--method squeezellm --wbits 4 --group 0 --abits 16 --sparse-fraction 0"
  "SqueezeLLM W4A16 dense-and-sparse|--method squeezellm --wbits 4 --group 0 --abits 16"
  "RTN W4A16 g128 + LoRC r8|--method rtn+lorc --wbits 4 --group 128 --abits 16"
  "GPTQ W4A16 g128 + LoRC r8|--method gptq+lorc --wbits 4 --group 128 --abits 16"
  "HQQ W3A16 g64|--preset hqq --wbits 3"
  "RTN W3A16 g128|--method rtn --wbits 3 --group 128 --abits 16"
  "RTN W4A16 g128, --bits-budget 4.25 (nominal bits)|--method rtn --wbits 4 --group 128 --abits 16 --bits-budget 4.25 --bits-cost nominal"
  "RTN W4A16 g128, --bits-budget 4.25 (stored bits)|--method rtn --wbits 4 --group 128 --abits 16 --bits-budget 4.25 --bits-cost stored"
  "GPTQ W3A16 g128|--method gptq --wbits 3 --group 128 --abits 16"
  "RTN W3A16 g128 + LoRC r8|--method rtn+lorc --wbits 3 --group 128 --abits 16"
  "GPTQ W3A16 g128 + LoRC r8|--method gptq+lorc --wbits 3 --group 128 --abits 16"
  "SqueezeLLM W3A16|--method squeezellm --wbits 3 --group 0 --abits 16 --sparse-fraction 0"
  "SqueezeLLM W3A16 dense-and-sparse|--method squeezellm --wbits 3 --group 0 --abits 16"
  "RTN W4A8|--method rtn --wbits 4 --group 0 --abits 8"
  "HQQ W4A8|--method hqq --wbits 4 --group 0 --abits 8"
  "GPTQ W4A8 + LoRC r8|--method gptq+lorc --wbits 4 --group 0 --abits 8"
  "NF4 W4A8 g64 (int8 table)|--method nf4 --wbits 4 --group 64 --abits 8"
  "RTN W8A8|--method rtn --wbits 8 --group 0 --abits 8"
  "LLM.int8() W8A8|--preset llm-int8"
)

fp_ppl=$("$BIN" perplexity -q -m "$MODEL" -f "$WIKI" --ctx 512 --max-windows "$WINDOWS" |
  sed -n 's/^perplexity: //p')
echo "| method | bits per weight | quantize (s) | perplexity | vs fp | prefill tok/s | decode tok/s |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
printf '| full precision (bf16 checkpoint) | 16 | - | %.2f | - | - | - |\n' "$fp_ppl"
for row in "${ROWS[@]}"; do
  IFS='|' read -r label flags <<< "$row"
  [[ "$label" =~ ${ROW_FILTER:-.} ]] || continue
  f=$WORK/m.lowbit
  # shellcheck disable=SC2086  # the flags are a word list
  if ! "$BIN" quantize -m "$MODEL" $flags --head-bits 16 --head-abits 16 --calib "$CALIB" \
    -o "$f" > "$WORK/q.log" 2>&1; then
    echo "results_weights: '$label' failed:" >&2
    cat "$WORK/q.log" >&2
    printf '| %s | - | - | - | - | - | - |\n' "$label"
    continue
  fi
  calib=$(sed -n 's/^calibration: \([0-9.]*\) s.*/\1/p' "$WORK/q.log")
  quant=$(sed -n 's/^quantization: \([0-9.]*\) s/\1/p' "$WORK/q.log")
  alloc=$(sed -n 's/^bit allocation: \([0-9.]*\) s.*/\1/p' "$WORK/q.log")
  bpw=$("$BIN" inspect -m "$f" | sed -n 's/^decoder projections: .*, \([0-9.]*\) bits per weight/\1/p')
  ppl=$("$BIN" perplexity -q -m "$f" -f "$WIKI" --ctx 512 --max-windows "$WINDOWS" |
    sed -n 's/^perplexity: //p')
  read -r prefill decode _ < <("$BIN" bench -m "$f" --single --prompt 128 --decode 64 --reps 3 |
    sed -n 's/^bench-row //p')
  awk -v l="$label" -v b="$bpw" -v c="${calib:-0}" -v q="$quant" -v a="${alloc:-0}" -v p="$ppl" -v fp="$fp_ppl" \
    -v pf="$prefill" -v d="$decode" \
    'BEGIN { printf "| %s | %.2f | %.1f | %.2f | %+.2f%% | %.0f | %.0f |\n", l, b, c + q + a, p,
             100 * (p - fp) / fp, pf, d }'
  rm -f "$f"
done
