#!/usr/bin/env bash
# The token-pruning tables of docs/results.md (section `prune` of scripts/results.sh): Agile-Quant's
# activation-guided token pruning (docs/token-pruning.md) on ref-llama-s.
#
#   1. WikiText-2 test perplexity, whole file, L = 512 and 2048, of RTN / SmoothQuant / DuQuant at
#      W4A8 and W4A4 (integer kernels, output head in full precision, 128 x 512 calibration), and
#      of the methods in PRUNED (default: RTN, Agile-Quant's own setting, and DuQuant; the whole file at both
#      lengths is ~3.5 min per cell on one core) with beta = 0.1, 0.2, 0.3 from the middle layer
#      (thresholds calibrated on 8 windows of L tokens of corpus/calib.txt). With pruning the
#      perplexity is over the
#      positions that reach the head; the share of positions scored and of token-layers removed is
#      printed beside it.
#   2. Prefill speed with and without pruning at 2048 tokens (`lowbit bench`, W4A8 and W4A4 RTN):
#      the time saved next to the token-layer work removed.
#   3. Zero-shot tasks (TASK_LIMIT items per task) of W4A8 RTN without pruning and with the beta
#      whose L = 512 perplexity is lowest.
#
# Perplexity cells are cached in docs/data/prune_cells.tsv keyed on the source tree the binary was
# built from (documentation commits keep it) and the cell's flags, so an interrupted run resumes
# (FRESH=1: measure everything again; CACHED_ONLY=1: format the cached cells, "—" for the rest;
# METHOD_FILTER=REGEX: measure only those methods' cells). Steps 2 and 3 are cached whole in
# docs/data/prune_bench.md and prune_tasks.md (first line: the source tree), re-measured when the
# source changes. Usage: scripts/results_prune.sh > section.md
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-./build/lowbit}
SHARED=${LOWBIT_SHARED:-../shared}
MODEL=$SHARED/models/ref-llama-s
WIKI=$SHARED/data/wikitext-2/wiki.test.raw
CALIB=$SHARED/data/corpus/calib.txt
RAW=docs/data/prune_cells.tsv
JOBS=${JOBS:-2}  # cells measured at once (one thread each)
TASK_LIMIT=${TASK_LIMIT:-500}
mkdir -p docs/data
touch "$RAW"
[ "${FRESH:-0}" = 1 ] && : > "$RAW"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

VERSION=$("$BIN" --version)
SOURCE=$(sed -n 's/.*source \([^)]*\)).*/\1/p' <<< "$VERSION")
COMMIT=$(sed -n 's/.*(commit \([^,]*\),.*/\1/p' <<< "$VERSION")
HEAD_SOURCE=$(git ls-tree HEAD -- src CMakeLists.txt cmake | git hash-object --stdin | cut -c1-12)
if [[ -z "$SOURCE" || "$SOURCE" == *changes* || "$SOURCE" != "$HEAD_SOURCE" ]]; then
  echo "results_prune: $BIN is not built from the checkout's committed sources ($VERSION)" >&2
  exit 1
fi
CPU="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'))"

METHODS=("rtn|RTN" "smoothquant|SmoothQuant" "duquant|DuQuant")
FORMATS=("W4A8|--wbits 4 --abits 8" "W4A4|--wbits 4 --abits 4")
CONTEXTS=(512 2048)
BETAS=(0 0.1 0.2 0.3)
PRUNED=${PRUNED:-rtn duquant}  # methods measured with pruning (space-separated)
betas_of() { if [[ " $PRUNED " == *" $1 "* ]]; then echo "${BETAS[@]}"; else echo 0; fi; }
HEAD16="--head-bits 16 --head-abits 16"

model_file() { echo "$WORK/$1-$2.lowbit"; }

# quantize METHOD FORMAT_NAME FORMAT_FLAGS: the .lowbit file every cell of that model reads.
quantize() {
  local out
  out=$(model_file "$1" "$2")
  [ -f "$out" ] && return 0
  # shellcheck disable=SC2086
  "$BIN" quantize -q -m "$MODEL" --method "$1" $3 $HEAD16 --calib "$CALIB" -o "$out" > /dev/null
}

cell_key() { printf '%s\t%s|%s|%s|%s' "$SOURCE" "$1" "$2" "$3" "$4"; }
cached() { grep -F -- "$(cell_key "$@")"$'\t' "$RAW" | tail -1 | cut -f3-; }

nll_file() { echo "$WORK/nll-$1-$2-$3.txt"; }  # method format ctx: the unpruned run's NLLs

# run_cell METHOD FORMAT CTX BETA THREADS: appends "key<TAB>ppl<TAB>scored<TAB>positions<TAB>
# removed<TAB>ppl of the unpruned run on the scored positions". The unpruned cell (beta 0) leaves
# its per-position NLLs in nll_file for the pruned cells of the same model and length.
run_cell() {
  trap - EXIT  # a background copy of this shell must not remove WORK when it ends
  local method=$1 format=$2 ctx=$3 beta=$4 prune="" log nll
  log="$WORK/$method-$format-$ctx-$beta.log"
  nll="$WORK/nll-$method-$format-$ctx-$beta.txt"
  [ "$beta" != 0 ] && prune="--prune-ratio $beta --prune-calib $CALIB --prune-calib-len $ctx"
  # shellcheck disable=SC2086
  "$BIN" perplexity -q -t "$5" -m "$(model_file "$method" "$format")" -f "$WIKI" --ctx "$ctx" \
    $prune --nll-out "$nll" > "$log" 2> "$log.err" || true
  local ppl scored total removed same
  ppl=$(sed -n 's/^perplexity: //p' "$log")
  if [ -z "$ppl" ]; then
    echo "results_prune: $method $format L=$ctx beta=$beta failed: $(tail -1 "$log.err")" >&2
    return 1
  fi
  read -r scored total removed < <(sed -n \
    's/^scored positions: \([0-9]*\) of \([0-9]*\) .*removed: \([0-9.]*\)%$/\1 \2 \3/p' "$log") ||
    true  # an unpruned run prints no such line
  if [ "$beta" = 0 ]; then
    total=$(wc -l < "$nll") scored=$total removed=0 same=$ppl
    mv "$nll" "$(nll_file "$method" "$format" "$ctx")"
  else
    # The unpruned model's perplexity on exactly the positions this run scored.
    same=$(paste "$(nll_file "$method" "$format" "$ctx")" "$nll" |
      awk '$2 != "-" { s += $1; n++ } END { printf "%.4f", exp(s / n) }')
    rm -f "$nll"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(cell_key "$method" "$format" "$ctx" "$beta")" "$ppl" \
    "$scored" "$total" "$removed" "$same" >> "$RAW"
}

# Step 1: the models, then every missing cell (L = 512 first): each model's unpruned cell in the
# foreground on both threads (the pruned cells compare against its NLLs), then its pruned cells
# in the background, JOBS at a time on one thread each.
if [ "${CACHED_ONLY:-0}" != 1 ]; then
  for ctx in "${CONTEXTS[@]}"; do
    for m in "${METHODS[@]}"; do
      for f in "${FORMATS[@]}"; do
        method=${m%%|*} format=${f%%|*}
        [[ "$method" =~ ${METHOD_FILTER:-.} ]] || continue
        missing=()
        for b in $(betas_of "$method"); do
          [ "$b" != 0 ] && [ -z "$(cached "$method" "$format" "$ctx" "$b")" ] && missing+=("$b")
        done
        if [ -n "$(cached "$method" "$format" "$ctx" 0)" ] && { [ ${#missing[@]} -eq 0 ] ||
          [ -f "$(nll_file "$method" "$format" "$ctx")" ]; }; then
          :
        else
          if [ ! -f "$(model_file "$method" "$format")" ]; then
            echo "results_prune: quantizing $method $format" >&2
            quantize "$method" "$format" "${f#*|}"
          fi
          echo "results_prune: $method $format L=$ctx unpruned" >&2
          run_cell "$method" "$format" "$ctx" 0 2 || continue
        fi
        for b in "${missing[@]}"; do
          # A failed cell leaves no line (and is measured again next time); the others go on.
          while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
          echo "results_prune: $method $format L=$ctx beta=$b" >&2
          run_cell "$method" "$format" "$ctx" "$b" 1 &
        done
      done
    done
  done
  wait || true
fi

echo "## Token pruning: Agile-Quant's activation-guided pruning of prefills (ref-llama-s)"
echo
echo "Perplexity cells measured at commit $COMMIT (source $SOURCE) on $CPU, one thread per cell,"
echo "two cells at a time; cached in \`docs/data/prune_cells.tsv\` (scripts/results_prune.sh)."
echo "WikiText-2 test, **whole file**, integer kernels, weights symmetric per channel with MSE"
echo "clipping, activations per token, output head in full precision, 128 x 512 calibration."
echo "Pruning (docs/token-pruning.md) starts at layer 4 of 8; beta is the share of the prompt's"
echo "tokens gone before the last layer; thresholds calibrated on 8 windows of L tokens of"
echo "\`corpus/calib.txt\`. A pruned run's perplexity is over the positions that reach the head"
echo "(\"scored\"). A pruned cell reads \"ppl vs ppl of the unpruned model on the same positions"
echo "(share of positions scored, share of token-layers not computed)\": the second figure is the"
echo "like-for-like comparison, since the pruned run's perplexity is over a smaller set of positions"
echo "than the unpruned column's. \"—\": not measured (pruning measured for: $PRUNED)."
echo
for ctx in "${CONTEXTS[@]}"; do
  echo "### L = $ctx"
  echo
  echo "| method | format | no pruning | beta 0.1 | beta 0.2 | beta 0.3 |"
  echo "| --- | --- | ---: | ---: | ---: | ---: |"
  for m in "${METHODS[@]}"; do
    for f in "${FORMATS[@]}"; do
      row="| ${m#*|} | ${f%%|*} |"
      for b in "${BETAS[@]}"; do
        ppl="" scored="" total="" removed="" same=""
        read -r ppl scored total removed same <<< "$(cached "${m%%|*}" "${f%%|*}" "$ctx" "$b")"
        if [ -z "$ppl" ]; then
          row+=" — |"
        elif [ "$b" = 0 ]; then
          row+=$(printf ' %.3f |' "$ppl")
        else
          row+=$(awk -v p="$ppl" -v s="$scored" -v t="$total" -v r="$removed" -v u="$same" \
            'BEGIN { printf " %.3f vs %.3f (%.0f%%, %.1f%%) |", p, u, 100 * s / t, r }')
        fi
      done
      echo "$row"
    done
  done
  echo
done

# cached_step FILE FUNCTION: FILE's text when it was made from this source tree, else FUNCTION's
# output (kept in FILE). CACHED_ONLY=1 prints a placeholder instead of measuring.
cached_step() {
  if [ -f "$1" ] && [ "$(head -1 "$1")" = "$SOURCE" ]; then
    tail -n +2 "$1"
  elif [ "${CACHED_ONLY:-0}" = 1 ]; then
    echo "(not measured for source $SOURCE yet)"
    echo
  else
    "$2" > "$WORK/step"
    { echo "$SOURCE"; cat "$WORK/step"; } > "$1"
    cat "$WORK/step"
  fi
}

step_bench() {
quantize rtn W4A8 "--wbits 4 --abits 8"
quantize rtn W4A4 "--wbits 4 --abits 4"
# Step 2: prefill at 2048 tokens with and without pruning.
echo "### Prefill speed with pruning (\`lowbit bench\`, 2048-token prompt)"
echo
echo "Measured $(date -u +%Y-%m-%d) at commit $COMMIT on $CPU, 2 threads. The prompt is the first"
echo "2048 tokens of \`corpus/calib.txt\` (the pruning thresholds were calibrated on other windows"
echo "of it, so the share pruned differs from the calibrated beta: \"work removed\" is what this"
echo "prompt lost). \"time saved\" is 1 - pruned / unpruned prefill time (median of 9 interleaved"
echo "rounds' ratios); the target is time saved >= 80% of the work removed (\"saved / removed\" >= 0.8)."
echo
for f in W4A8 W4A4; do
  for b in 0.1 0.2 0.3; do
    "$BIN" bench -m "$(model_file rtn $f)" --prompt 2048 --decode 1 --context 16 --reps 9 \
      --prune-ratio "$b" --prune-calib "$CALIB" --prune-calib-len 2048 2> /dev/null > "$WORK/bench"
    grep '^| ' "$WORK/bench" | grep -v -- '---' | grep -v '^| format' |
      sed "s/^| rtn-$f.lowbit /| $f RTN /"
  done
done | awk 'BEGIN { print "| model | prefill tok/s | decode tok/s | file MB | weights MB | peak RSS MiB | work removed | time saved | saved / removed |"
                   print "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |" }
            / pruned / || !seen[$2 $3]++ { print }'
echo
}

step_tasks() {
quantize rtn W4A8 "--wbits 4 --abits 8"

# Step 3: zero-shot tasks for the best pruned W4A8 setting (lowest L = 512 perplexity).
best=$(for b in 0.1 0.2 0.3; do
  read -r ppl _ <<< "$(cached rtn W4A8 512 "$b")"
  echo "$ppl $b"
done | sort -g | head -1 | cut -d' ' -f2)
echo "### Zero-shot tasks: W4A8 RTN without pruning and with beta $best"
echo
echo "Measured $(date -u +%Y-%m-%d) at commit $COMMIT on $CPU. $TASK_LIMIT items per task (seeded),"
echo "\`lowbit eval --tasks all\`; with pruning, each context is pruned and the continuations are"
echo "scored in full (docs/token-pruning.md). Task contexts are short (tens of tokens), so the"
echo "thresholds are calibrated on 64-token windows: calibrated on 512-token windows (as for the"
echo "perplexity), almost nothing in a short context falls below them."
echo
"$BIN" eval -q -m "$(model_file rtn W4A8)" --tasks all --limit "$TASK_LIMIT" > "$WORK/t0"
"$BIN" eval -q -m "$(model_file rtn W4A8)" --tasks all --limit "$TASK_LIMIT" \
  --prune-ratio "$best" --prune-calib "$CALIB" --prune-calib-len 64 2> /dev/null > "$WORK/t1"
echo "Without pruning:"
echo
grep '^|' "$WORK/t0"
echo
echo "With beta $best:"
echo
grep '^|' "$WORK/t1"
echo
}

cached_step docs/data/prune_bench.md step_bench
cached_step docs/data/prune_tasks.md step_tasks
