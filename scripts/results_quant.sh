#!/usr/bin/env bash
# The quantization section of docs/results.md: WikiText-2 perplexity (L=512, every window of the
# test file) of ref-llama-s for every method x bit-width cell, with the calibration time,
# quantization time and peak memory of each `lowbit quantize` run. Called by scripts/results.sh;
# prints Markdown on stdout and keeps the raw per-cell measurements in $RAW (TSV).
#
# Each cell is two processes: `lowbit quantize` writes the quantized folder (so the numbers come
# through the same saved format users load), `lowbit perplexity` evaluates it.
#
# Environment: LOWBIT_BIN (build/lowbit), LOWBIT_SHARED (../shared), JOBS cells at a time (1),
# THREADS per cell (all cores / JOBS), MAX_WINDOWS (0 = all), CALIB_SAMPLES (128), RAW (a temp
# file; cells already in it are kept, so an interrupted run resumes), ROW_FILTER and CONFIG_FILTER (bash
# regexes on the row and column labels below, default all), CACHED_ONLY=1 (format the cells already
# in RAW, measure none: missing cells show as dashes).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${LOWBIT_BIN:-build/lowbit}
SHARED=${LOWBIT_SHARED:-../shared}
MODEL=$SHARED/models/ref-llama-s
WIKI=$SHARED/data/wikitext-2/wiki.test.raw
CALIB=$SHARED/data/corpus/calib.txt
JOBS=${JOBS:-1}
THREADS=${THREADS:-$(($(nproc) / JOBS > 0 ? $(nproc) / JOBS : 1))}
MAX_WINDOWS=${MAX_WINDOWS:-0}
CALIB_SAMPLES=${CALIB_SAMPLES:-128}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
RAW=${RAW:-$WORK/cells.tsv}

# Rows: label|--method|extra flags. "DuQuant (authors' code)" is --duquant-code-compat, the authors' code path.
ROWS=(
  "RTN|rtn|"
  "RTN + GPTQ|gptq|"
  "SmoothQuant|smoothquant|"
  "SmoothQuant + GPTQ|smoothquant+gptq|"
  "Hadamard|hadamard|"
  "Hadamard + GPTQ|hadamard+gptq|"
  "DuQuant|duquant|"
  "DuQuant + GPTQ|duquant+gptq|"
  "DuQuant (authors' code)|duquant|--duquant-code-compat"
  "DuQuant (authors' code) + GPTQ|duquant+gptq|--duquant-code-compat"
  "AWQ|awq|"
)
# Columns: label|wbits abits kvbits group. W4A16 uses groups of 128 (weight-only convention);
# the activation-quantized formats use per-output-channel weight scales (what integer kernels
# rescale once per output).
CONFIGS=(
  "W4A16 g128|4 16 16 128"
  "W8A8|8 8 16 0"
  "W4A8|4 8 16 0"
  "W4A4|4 4 16 0"
  "W4A4KV4|4 4 4 0"
)

# The commit checked out when a cell runs, kept with the cell: cached cells may come from several
# commits, and the table says which.
COMMIT=$(git rev-parse --short HEAD 2> /dev/null || echo unknown)
git diff --quiet HEAD -- src 2> /dev/null || COMMIT="$COMMIT+changes"

# run_cell ROW_INDEX CONFIG_INDEX: appends
# "row<TAB>config<TAB>ppl<TAB>calib_s<TAB>quant_s<TAB>peak_mib<TAB>commit".
run_cell() {
  local r=$1 c=$2
  IFS='|' read -r label method extra <<< "${ROWS[$r]}"
  IFS='|' read -r clabel bits <<< "${CONFIGS[$c]}"
  read -r wb ab kb grp <<< "$bits"
  local dir=$WORK/cell_${r}_$c
  # The papers' protocol: output head in full precision; the simulated path (what the integer
  # kernels reproduce, see the lowbit section) so every format, grouped or not, is measured alike.
  # shellcheck disable=SC2086  # $extra is a flag list
  "$BIN" quantize -q -t "$THREADS" -m "$MODEL" --method "$method" $extra --wbits "$wb" \
    --abits "$ab" --kvbits "$kb" --group "$grp" --head-bits 16 --head-abits 16 --calib "$CALIB" \
    --calib-samples "$CALIB_SAMPLES" -o "$dir.lowbit" > "$dir.quant.log" 2>&1
  "$BIN" perplexity -q -t "$THREADS" -m "$dir.lowbit" --simulate -f "$WIKI" --ctx 512 \
    --max-windows "$MAX_WINDOWS" > "$dir.ppl.log" 2>&1
  if ! grep -q '^perplexity: [0-9]' "$dir.ppl.log" 2> /dev/null; then
    echo "results_quant: cell '$label' / '$clabel' failed:" >&2
    cat "$dir.quant.log" "$dir.ppl.log" >&2 2> /dev/null
    return 0  # leave the cell out (shown as a dash); a re-run retries it
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$c" \
    "$(sed -n 's/^perplexity: //p' "$dir.ppl.log")" \
    "$(sed -n 's/^calibration: \([0-9.]*\) s.*/\1/p' "$dir.quant.log")" \
    "$(sed -n 's/^quantization: \([0-9.]*\) s/\1/p' "$dir.quant.log")" \
    "$(sed -n 's/^peak memory: \([0-9]*\) MiB/\1/p' "$dir.quant.log")" "$COMMIT" >> "$RAW"
  rm -f "$dir.lowbit"
}

# Cells run column by column, the W4A4 column first: an interrupted run has the headline first.
cells=()
for c in 3 4 2 1 0; do
  for r in "${!ROWS[@]}"; do
    IFS='|' read -r label method _ <<< "${ROWS[$r]}"
    [[ "$label" =~ ${ROW_FILTER:-.} ]] || continue
    IFS='|' read -r clabel bits <<< "${CONFIGS[$c]}"
    [[ "$clabel" =~ ${CONFIG_FILTER:-.} ]] || continue
    read -r _ ab _ _ <<< "$bits"
    [ "$method" = awq ] && [ "$ab" != 16 ] && continue  # AWQ is weight-only
    # A RAW file from an interrupted run keeps its finished cells (resume).
    [ -f "$RAW" ] && grep -q "^$r"$'\t'"$c"$'\t'"[0-9]" "$RAW" && continue
    [ "${CACHED_ONLY:-0}" = 1 ] && continue
    cells+=("$r $c")
  done
done

FP_LOG=$WORK/fp.log
"$BIN" perplexity -q -t "$(nproc)" -m "$MODEL" -f "$WIKI" --ctx 512 \
  --max-windows "$MAX_WINDOWS" > "$FP_LOG"
FP=$(sed -n 's/^perplexity: //p' "$FP_LOG")

export -f run_cell
ROWS_STR=$(printf '%s\n' "${ROWS[@]}")
CONFIGS_STR=$(printf '%s\n' "${CONFIGS[@]}")
export BIN MODEL WIKI CALIB THREADS MAX_WINDOWS CALIB_SAMPLES WORK RAW ROWS_STR CONFIGS_STR COMMIT
# Arrays do not cross `export`: each worker rebuilds them from the strings.
[ ${#cells[@]} -eq 0 ] || printf '%s\n' "${cells[@]}" | xargs -P "$JOBS" -L 1 bash -c '
  mapfile -t ROWS <<< "$ROWS_STR"; mapfile -t CONFIGS <<< "$CONFIGS_STR"; run_cell "$0" "$1"'

FP="$FP" awk -F'\t' \
  -v windows="$( [ "$MAX_WINDOWS" = 0 ] && echo all || echo "first $MAX_WINDOWS")" \
  -v samples="$CALIB_SAMPLES" -v jobs="$JOBS" -v threads="$THREADS" \
  -f scripts/results_quant.awk "$RAW"
