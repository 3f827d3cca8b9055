#!/usr/bin/env bash
# The KD-QAT table of docs/results.md (section `qat` of scripts/results.sh): ref-llama-s,
# per-channel asymmetric weights, output head in full precision (the papers' protocol), WikiText-2
# test perplexity (first 40 windows of 512 and the whole file, simulated path) of the PTQ starts
# and of `lowbit qat` runs from them, with the training log's held-out perplexity, time and
# squared-gradient-norm table.
#
# Cells are cached in docs/data/qat_cells.tsv keyed on the source tree the binary was built from
# (`lowbit --version`; documentation commits keep it), the cell's label and its exact flags: a
# 600-step run takes ~20 min on 2 cores, so a re-run measures only what is missing or stale
# (FRESH=1: everything; CACHED_ONLY=1: format what is cached). Each run's printed log is kept in
# docs/data/qat/LABEL.log for the gradient-norm tables.
#
# Usage: scripts/results_qat.sh > section.md   (CELL_FILTER=REGEX limits the cells measured)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-./build/lowbit}
SHARED=${LOWBIT_SHARED:-../shared}
MODEL=$SHARED/models/ref-llama-s
WIKI=$SHARED/data/wikitext-2/wiki.test.raw
CALIB=$SHARED/data/corpus/calib.txt
RAW=docs/data/qat_cells.tsv
LOGS=docs/data/qat
mkdir -p "$LOGS"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

VERSION=$("$BIN" --version)
SOURCE=$(sed -n 's/.*source \([^)]*\)).*/\1/p' <<< "$VERSION")
COMMIT=$(sed -n 's/.*(commit \([^,]*\),.*/\1/p' <<< "$VERSION")
HEAD_SOURCE=$(git ls-tree HEAD -- src CMakeLists.txt cmake | git hash-object --stdin | cut -c1-12)
if [[ -z "$SOURCE" || "$SOURCE" == *changes* || "$SOURCE" == unknown || "$SOURCE" != "$HEAD_SOURCE" ]]; then
  echo "results_qat: $BIN is not built from the checkout's committed sources ($VERSION)" >&2
  exit 1
fi
CPU="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'))"

# label|format|kind|flags. kind: fp (the checkpoint itself), ptq (lowbit quantize) or qat (lowbit
# qat). Formats share the PTQ flags; a qat cell's start is --init. The head is in full precision
# (the papers' protocol) except in the rows that say "W8A8 head" (lowbit's default head).
HEAD16="--head-bits 16 --head-abits 16"
FORMAT_W3A16="--wbits 3 --w-asym --no-mse-clip --abits 16 $HEAD16"
FORMAT_W3A16_HEAD8="--wbits 3 --w-asym --no-mse-clip --abits 16"
FORMAT_W4A16="--wbits 4 --w-asym --no-mse-clip --abits 16 $HEAD16"
FORMAT_W4A8="--wbits 4 --w-asym --no-mse-clip --abits 8 $HEAD16"
# DuQuant's W4A4 KV4 preset (its head in full precision) on 32 windows of 512 tokens (the preset's
# 128 x 2048 would make LWC's 20 epochs ~30x longer on these 2 cores).
DUQUANT="--preset duquant --calib-samples 32 --calib-len 512"
# The issue's budget is 600 steps of 4 x 256 tokens; STEPS (default 300) trains within it.
STEPS=${STEPS:-300}
QAT="--steps $STEPS --batch 4 --seq 256 --eval-every $((STEPS / 4))"
REF150="--steps 150 --batch 4 --seq 256 --eval-every 50 --min-lr-ratio 1 --clip-norm 0"
CELLS=(
  "rtn W3A16|W3A16|ptq|--method rtn $FORMAT_W3A16"
  "rtn + KD-QAT 150 steps, lr 5e-5 constant (the reference run's settings) W3A16|W3A16|qat|--init rtn $FORMAT_W3A16 $REF150 --lr 5e-5"
  "rtn + KD-QAT 150 steps, lr 5e-4 constant W3A16|W3A16|qat|--init rtn $FORMAT_W3A16 $REF150 --lr 5e-4"
  "gptq W3A16|W3A16|ptq|--method gptq $FORMAT_W3A16"
  "gptq + KD-QAT (KL) W3A16|W3A16|qat|--init gptq $FORMAT_W3A16 $QAT"
  "gptq + KD-QAT (KL), ov-freeze W3A16|W3A16|qat|--init gptq $FORMAT_W3A16 $QAT --freeze o,v"
  "gptq + QAT (CE) W3A16|W3A16|qat|--init gptq $FORMAT_W3A16 $QAT --ce-weight 1"
  "rtn W4A16|W4A16|ptq|--method rtn $FORMAT_W4A16"
  "gptq W4A16|W4A16|ptq|--method gptq $FORMAT_W4A16"
  "gptq + KD-QAT (KL) W4A16|W4A16|qat|--init gptq $FORMAT_W4A16 $QAT"
  "gptq W4A8|W4A8|ptq|--method gptq $FORMAT_W4A8"
  "gptq + KD-QAT (KL) W4A8|W4A8|qat|--init gptq $FORMAT_W4A8 $QAT"
  "gptq (W8A8 head) W3A16|W3A16|ptq|--method gptq $FORMAT_W3A16_HEAD8"
  "gptq + KD-QAT (KL), W8A8 head W3A16|W3A16|qat|--init gptq $FORMAT_W3A16_HEAD8 $QAT"
  "lwc (20 epochs, lr 1e-2, 128 x 512 calibration) W3A16|W3A16|ptq|--method lwc $FORMAT_W3A16"
  "duquant (preset, 32 x 512 calibration) W4A4|W4A4 KV4 Q4|ptq|$DUQUANT"
  "duquant + lwc (preset, 32 x 512 calibration, 20 epochs) W4A4|W4A4 KV4 Q4|ptq|$DUQUANT --method duquant+lwc"
  "full precision W16A16|W16A16|fp|fp32"
)
COMMON="--calib $CALIB"
# Zero-shot tasks (all seven, TASK_LIMIT items each drawn with eval's seed) for these cells.
TASK_LIMIT=${TASK_LIMIT:-500}
ZEROSHOT=("full precision W16A16" "gptq W3A16" "gptq + KD-QAT (KL) W3A16")

slug() { tr -c 'A-Za-z0-9\n' '_' <<< "$1"; }
key() { printf '%s\t%s\t%s' "$SOURCE" "$1" "$2"; }
cached() {
  [ -f "$RAW" ] || return 1
  awk -F'\t' -v k="$1" 'index($0, k "\t") == 1 { print; found = 1; exit } END { exit !found }' "$RAW"
}

# run_cell LABEL KIND FLAGS: appends "key<TAB>ppl40<TAB>ppl_all<TAB>heldout_start<TAB>heldout_end
# <TAB>train_s<TAB>tokens_per_s<TAB>peak_mib<TAB>commit<TAB>cpu" to $RAW.
run_cell() {
  local label=$1 kind=$2 flags=$3 out=$WORK/cell.lowbit log
  log=$LOGS/$(slug "$label").log
  if [ "$kind" = fp ]; then
    out=$MODEL
    : > "$log"
  elif [ "$kind" = ptq ]; then
    # shellcheck disable=SC2086
    "$BIN" quantize -q -m "$MODEL" $flags $COMMON -o "$out" > "$log" 2>&1
  else
    # shellcheck disable=SC2086
    "$BIN" qat -q -m "$MODEL" $flags $COMMON -o "$out" > "$log" 2>&1
  fi
  local p40 pall
  p40=$("$BIN" perplexity -q -m "$out" --simulate -f "$WIKI" --ctx 512 --max-windows 40 |
    sed -n 's/^perplexity: //p')
  pall=-
  if [[ "$label" == gptq* || "$kind" == fp ]]; then  # where the comparison with GPTQ is made
    pall=$("$BIN" perplexity -q -m "$out" --simulate -f "$WIKI" --ctx 512 |
      sed -n 's/^perplexity: //p')
  fi
  local h0 h1 secs tps peak
  h0=$(sed -n 's/^held-out perplexity at step 0: //p' "$log")
  h1=$(sed -n 's/^held-out perplexity at step [1-9][0-9]*: //p' "$log" | tail -1)
  secs=$(sed -n 's/^steps: .*), \([0-9.]*\) s,.*/\1/p' "$log")
  tps=$(sed -n 's/^steps: .* s, \([0-9.]*\) tokens\/s.*/\1/p' "$log")
  peak=$(sed -n 's/^peak memory: \([0-9]*\) MiB/\1/p' "$log")
  local z
  for z in "${ZEROSHOT[@]}"; do
    [ "$z" = "$label" ] || continue
    "$BIN" eval -q -m "$out" --tasks all --tasks-dir "$SHARED/data/tasks" --limit "$TASK_LIMIT" |
      grep '^|' > "$LOGS/$(slug "$label").tasks.md"
  done
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(key "$label" "$flags")" "$p40" "$pall" \
    "${h0:--}" "${h1:--}" "${secs:--}" "${tps:--}" "${peak:--}" "$COMMIT" "$CPU" >> "$RAW"
  [ "$kind" = fp ] || rm -f "$out" "$out.ckpt"
}

if [ "${FRESH:-0}" = 1 ]; then rm -f "$RAW"; fi
if [ "${CACHED_ONLY:-0}" != 1 ] && [ -f "$RAW" ]; then  # other source trees' cells are stale
  awk -F'\t' -v s="$SOURCE" '$1 == s' "$RAW" > "$WORK/kept.tsv"
  cat "$WORK/kept.tsv" > "$RAW"
fi
for cell in "${CELLS[@]}"; do
  IFS='|' read -r label _ kind flags <<< "$cell"
  [[ "$label" =~ ${CELL_FILTER:-.} ]] || continue
  cached "$(key "$label" "$flags")" > /dev/null && continue
  [ "${CACHED_ONLY:-0}" = 1 ] && continue
  echo "results_qat: measuring '$label'" >&2
  run_cell "$label" "$kind" "$flags"
done

FP40=$("$BIN" perplexity -q -m "$MODEL" -f "$WIKI" --ctx 512 --max-windows 40 | sed -n 's/^perplexity: //p')
echo "## Quantization-aware training (KD-QAT) on ref-llama-s"
echo
echo "\`scripts/results_qat.sh\`: per-channel asymmetric weights (min-max grids, no MSE clip), output"
echo "head in full precision, WikiText-2 test at L = 512 (simulated path; FP32 first 40 windows:"
echo "$FP40). KD-QAT: \`lowbit qat\`, KL to the FP32 model over the whole vocabulary, $STEPS steps of"
echo "4 x 256 tokens of \`corpus/calib.txt\` with the default settings (docs/training.md: AdamW lr 5e-4,"
echo "cosine decay to 10%, gradient clip 1.0, dynamic grids), unless the row says otherwise. The two"
echo "150-step rows compare with the issue's outside reference (plain PyTorch KD-QAT from RTN, lr 5e-5,"
echo "150 steps: 298.0 → 260.6 on the first 40 windows, 7.5 min on these 2 cores);"
echo "held-out = the student's perplexity on 8 windows of 256 tokens of \`corpus/heldout.txt\` at the"
echo "first and last step (never WikiText-2). The W8A8-head rows keep lowbit's default int8 head"
echo "(weights per row with MSE clip, activations per token) in the student and the exported model."
echo "The lwc and duquant rows are post-training (\`lowbit quantize\`): OmniQuant's learnable weight"
echo "clipping trained layer by layer (docs/quantization.md) at the authors' 20 epochs and lr 1e-2,"
echo "alone at W3A16 and after DuQuant at W4A4 with 4-bit K/V and queries (\`--preset duquant\`, on"
echo "32 calibration windows of 512 tokens for both rows). Each row was measured at the commit it"
echo "names; rows missing here were not measured at the current source tree."
echo
echo "| method | format | first 40 windows | whole file | held-out start → end | train s | tokens/s | peak MiB | measured at |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
for cell in "${CELLS[@]}"; do
  IFS='|' read -r label fmt kind flags <<< "$cell"
  line=$(cached "$(key "$label" "$flags")") || continue
  IFS=$'\t' read -r _ _ _ p40 pall h0 h1 secs tps peak commit cpu <<< "$line"
  name=${label% W*}
  held="-"
  [ "$h0" != - ] && held="$h0 → $h1"
  echo "| $name | $fmt | $p40 | $pall | $held | $secs | $tps | $peak | $commit, $cpu |"
done
echo
for cell in "${CELLS[@]}"; do
  IFS='|' read -r label fmt kind flags <<< "$cell"
  [ "$kind" = qat ] || continue
  cached "$(key "$label" "$flags")" > /dev/null || continue
  log=$LOGS/$(slug "$label").log
  echo "Squared gradient norms, $label (mean over the steps; coefficient of variation):"
  echo
  sed -n '/^| layer |/,/^| mean |/p' "$log"
  echo
done

# Zero-shot accuracy of the cells in ZEROSHOT, side by side: value ± stderr per task and metric.
files=()
names=()
for z in "${ZEROSHOT[@]}"; do
  f=$LOGS/$(slug "$z").tasks.md
  [ -f "$f" ] || continue
  for cell in "${CELLS[@]}"; do
    IFS='|' read -r label fmt kind flags <<< "$cell"
    [ "$label" = "$z" ] && cached "$(key "$label" "$flags")" > /dev/null && files+=("$f") &&
      names+=("${label% W*} $fmt")
  done
done
if [ "${#files[@]}" -gt 0 ]; then
  echo "Zero-shot tasks (\`lowbit eval --tasks all --limit $TASK_LIMIT\`: $TASK_LIMIT items per task drawn"
  echo "with the default seed, the same items for every model; acc ± its standard error). The model is"
  echo "small (ref-llama-s), so most tasks sit near chance and differences between columns are within"
  echo "the standard errors; LAMBADA's perplexity shows the gap most clearly."
  echo
  header="| task | metric |"
  rule="| --- | --- |"
  for n in "${names[@]}"; do
    header="$header $n |"
    rule="$rule ---: |"
  done
  echo "$header"
  echo "$rule"
  awk -F'|' 'FNR == 1 { f++ }
    NF >= 6 && $2 !~ /task|---/ {
      gsub(/^ +| +$/, "", $2); gsub(/^ +| +$/, "", $3); gsub(/^ +| +$/, "", $4); gsub(/^ +| +$/, "", $5)
      k = $2 " | " $3
      if (!(k in seen)) { seen[k] = 1; order[++n] = k }
      cell[k, f] = $4 " ± " $5
    }
    END { for (i = 1; i <= n; i++) { line = "| " order[i] " |"
            for (j = 1; j <= f; j++) line = line " " cell[order[i], j] " |"
            print line } }' "${files[@]}"
  echo
fi
