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
# regexes on the row and column labels below, default all: which cells to measure), COLUMNS_SHOWN
# (a regex: the table's columns, default all), CACHED_ONLY=1 (format the cells already in RAW,
# measure none: missing cells show as dashes).
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

# Rows: label|--method|extra flags|columns (a regex on the column labels; empty: all).
# "DuQuant (authors' code)" is --duquant-code-compat, the authors' code path; the preset rows are
# the authors' own settings (docs/quantization.md, "Presets"), measured in the W4A4 columns.
ROWS=(
  "RTN|rtn||"
  "RTN + GPTQ|gptq||"
  "SmoothQuant|smoothquant||"
  "SmoothQuant + GPTQ|smoothquant+gptq||"
  "Hadamard|hadamard||"
  "Hadamard + GPTQ|hadamard+gptq||"
  "DuQuant|duquant||"
  "DuQuant + GPTQ|duquant+gptq||"
  "DuQuant (authors' code)|duquant|--duquant-code-compat|"
  "DuQuant (authors' code) + GPTQ|duquant+gptq|--duquant-code-compat|"
  "DuQuant, mean sequence|duquant|--duquant-mean-seq|^W4A4"
  "--preset duquant|duquant|--preset duquant|^W4A4"
  "--preset quarot|hadamard+gptq|--preset quarot|^W4A4"
  "AWQ|awq||^W4A16"
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

# What a cell is keyed on: the source tree the binary was built from (`lowbit --version`: a hash
# of src/, CMakeLists.txt and cmake/ at the commit; documentation commits do not change it), the
# row and column, the exact flags, and the number of windows. A binary built from uncommitted
# changes has no such key and is refused; so is one older than the checkout.
VERSION=$("$BIN" --version)
SOURCE=$(sed -n 's/.*source \([^)]*\)).*/\1/p' <<< "$VERSION")
COMMIT=$(sed -n 's/.*(commit \([^,]*\),.*/\1/p' <<< "$VERSION")
HEAD_SOURCE=$(git ls-tree HEAD -- src CMakeLists.txt cmake | git hash-object --stdin | cut -c1-12)
if [[ -z "$SOURCE" || "$SOURCE" == *changes* || "$SOURCE" == unknown ]]; then
  echo "results_quant: $BIN is built from uncommitted or unknown sources ($VERSION): commit," \
    "rebuild and run again" >&2
  exit 1
fi
if [ "$SOURCE" != "$HEAD_SOURCE" ]; then
  echo "results_quant: $BIN is built from source $SOURCE, the checkout is $HEAD_SOURCE: rebuild" >&2
  exit 1
fi
CPU="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'))"

# cell_flags ROW_INDEX CONFIG_INDEX: the quantize flags of a cell (without paths and threads).
cell_flags() {
  local label method extra cols clabel bits wb ab kb grp
  IFS='|' read -r label method extra cols <<< "${ROWS[$1]}"
  IFS='|' read -r clabel bits <<< "${CONFIGS[$2]}"
  read -r wb ab kb grp <<< "$bits"
  # The papers' protocol: output head in full precision.
  echo "--method $method${extra:+ $extra} --wbits $wb --abits $ab --kvbits $kb --group $grp" \
    "--head-bits 16 --head-abits 16 --calib-samples $CALIB_SAMPLES"
}

# cell_key ROW_INDEX CONFIG_INDEX: the cache key (tab-separated fields).
cell_key() {
  local label clabel
  IFS='|' read -r label _ <<< "${ROWS[$1]}"
  IFS='|' read -r clabel _ <<< "${CONFIGS[$2]}"
  printf '%s\t%s\t%s\t%s\t%s' "$SOURCE" "$label" "$clabel" "$(cell_flags "$1" "$2")" "$MAX_WINDOWS"
}

# The cached line of a key, if any.
cached() {
  [ -f "$RAW" ] || return 1
  awk -F'\t' -v k="$1" 'index($0, k "\t") == 1 { print; found = 1; exit } END { exit !found }' "$RAW"
}

# run_cell ROW_INDEX CONFIG_INDEX: appends "key<TAB>ppl<TAB>calib_s<TAB>quant_s<TAB>peak_mib
# <TAB>commit<TAB>cpu" to $RAW.
run_cell() {
  local r=$1 c=$2 label clabel
  IFS='|' read -r label _ <<< "${ROWS[$r]}"
  IFS='|' read -r clabel _ <<< "${CONFIGS[$c]}"
  local dir=$WORK/cell_${r}_$c
  # The simulated path (what the integer kernels reproduce, see the lowbit section) so every
  # format, grouped or not, is measured alike.
  # shellcheck disable=SC2046  # the flags are a word list
  "$BIN" quantize -q -t "$THREADS" -m "$MODEL" $(cell_flags "$r" "$c") --calib "$CALIB" \
    -o "$dir.lowbit" > "$dir.quant.log" 2>&1
  "$BIN" perplexity -q -t "$THREADS" -m "$dir.lowbit" --simulate -f "$WIKI" --ctx 512 \
    --max-windows "$MAX_WINDOWS" > "$dir.ppl.log" 2>&1
  if ! grep -q '^perplexity: [0-9]' "$dir.ppl.log" 2> /dev/null; then
    echo "results_quant: cell '$label' / '$clabel' failed:" >&2
    cat "$dir.quant.log" "$dir.ppl.log" >&2 2> /dev/null
    return 0  # leave the cell out (shown as a dash); a re-run retries it
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(cell_key "$r" "$c")" \
    "$(sed -n 's/^perplexity: //p' "$dir.ppl.log")" \
    "$(sed -n 's/^calibration: \([0-9.]*\) s.*/\1/p' "$dir.quant.log")" \
    "$(sed -n 's/^quantization: \([0-9.]*\) s/\1/p' "$dir.quant.log")" \
    "$(sed -n 's/^peak memory: \([0-9]*\) MiB/\1/p' "$dir.quant.log")" "$COMMIT" "$CPU" >> "$RAW"
  rm -f "$dir.lowbit"
}

# Cells of other source trees are stale: a measuring run drops them (a cached-only run leaves the
# file alone and shows them as dashes).
if [ "${CACHED_ONLY:-0}" != 1 ] && [ -f "$RAW" ]; then
  awk -F'\t' -v s="$SOURCE" '$1 == s' "$RAW" > "$WORK/kept.tsv"
  cat "$WORK/kept.tsv" > "$RAW"
fi

# The cells of this run: a row's columns, the filters. Cells run column by column, the W4A4
# column first: an interrupted run has the headline first.
in_table() {  # ROW_INDEX CONFIG_INDEX
  local label cols clabel
  IFS='|' read -r label _ _ cols <<< "${ROWS[$1]}"
  IFS='|' read -r clabel _ <<< "${CONFIGS[$2]}"
  [[ "$clabel" =~ ${cols:-.} ]] && [[ "$clabel" =~ ${COLUMNS_SHOWN:-.} ]]
}
cells=()
for c in 3 4 2 1 0; do
  for r in "${!ROWS[@]}"; do
    in_table "$r" "$c" || continue
    IFS='|' read -r label _ <<< "${ROWS[$r]}"
    [[ "$label" =~ ${ROW_FILTER:-.} ]] || continue
    IFS='|' read -r clabel _ <<< "${CONFIGS[$c]}"
    [[ "$clabel" =~ ${CONFIG_FILTER:-.} ]] || continue
    cached "$(cell_key "$r" "$c")" > /dev/null && continue
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
export BIN MODEL WIKI CALIB THREADS MAX_WINDOWS CALIB_SAMPLES WORK RAW ROWS_STR CONFIGS_STR COMMIT \
  SOURCE CPU
export -f cell_flags cell_key
# Arrays do not cross `export`: each worker rebuilds them from the strings.
[ ${#cells[@]} -eq 0 ] || printf '%s\n' "${cells[@]}" | xargs -P "$JOBS" -L 1 bash -c '
  mapfile -t ROWS <<< "$ROWS_STR"; mapfile -t CONFIGS <<< "$CONFIGS_STR"; run_cell "$0" "$1"'

# The table's cells, current ones only: "row<TAB>config<TAB>ppl<TAB>calib_s<TAB>quant_s<TAB>
# peak_mib<TAB>commit<TAB>cpu" for scripts/results_quant.awk; a row's columns outside its set
# are marked "n/a".
: > "$WORK/table.tsv"
for r in "${!ROWS[@]}"; do
  for c in "${!CONFIGS[@]}"; do
    if ! in_table "$r" "$c"; then
      printf '%s\t%s\tn/a\n' "$r" "$c" >> "$WORK/table.tsv"
      continue
    fi
    line=$(cached "$(cell_key "$r" "$c")") || continue
    printf '%s\t%s\t%s\n' "$r" "$c" "$(cut -f6- <<< "$line")" >> "$WORK/table.tsv"
  done
done

FP="$FP" awk -F'\t' \
  -v windows="$( [ "$MAX_WINDOWS" = 0 ] && echo all || echo "first $MAX_WINDOWS")" \
  -v samples="$CALIB_SAMPLES" -v jobs="$JOBS" -v threads="$THREADS" -v source="$SOURCE" \
  -v shown="${COLUMNS_SHOWN:-.}" -f scripts/results_quant.awk "$WORK/table.tsv"
