#!/usr/bin/env bash
# Regenerates docs/results.md. Every number in that file comes from this script; never edit it by
# hand. The file is made of sections, each between `<!-- section: NAME -->` and
# `<!-- end: NAME -->`, and each says when and on what machine it was measured:
#
#   engine  FP32 perplexity against the transformers reference        (~5 min on 2 cores)
#   speed   FP32 prefill/decode/GEMM benchmark                          (~2 min)
#   kernels low-bit GEMM throughput per ISA variant, one thread         (~3 min)
#   packed16  W4A4 through Agile-Quant's packed int16 multiplier against the same ISA's qgemm,
#           one thread, LOWBIT_ISA=avx2 as the stand-in for a core without dot products (~2 min)
#   quant   method x bit-width perplexity matrix on WikiText-2: the W4A4 columns on the full test
#           file (~2 h on 2 cores) and every cell on its first 40 windows (~50 min); cells are
#           cached in docs/data keyed on the binary's source tree (FRESH=1
#           re-measures everything, CACHED_ONLY=1 formats the cached cells without measuring the
#           missing ones); see scripts/results_quant.sh
#   tokenizers encode speed per tokenizer kind: WikiText-2 test, a 1 MB word   (~1 min)
#   outliers per-site channel and token max-to-median ratios of what each method's quantizer
#           sees (`lowbit outliers`)                                     (~5 min)
#   tasks   zero-shot tasks, FP32 and W4A4 (RTN, Hadamard+GPTQ, DuQuant+GPTQ) on TASK_LIMIT items
#           per task (default 500, seeded; 0 = every item): ~20 min; then, unless TASK_FULL_FP32=0,
#           FP32 on every item as the speed benchmark: ~25 min
#   lowbit  real low-bit execution: `lowbit bench` per format, simulated vs integer-kernel
#           perplexity, output-head cost, file sizes                     (~10 min)
#   scale   random-weight checkpoints in real models' shapes (`lowbit fixture`), one at a time in
#           SCALE_DIR (default build/scale; up to 26 GB of disk), deleted afterwards: FP (bf16) and
#           RTN W4A8/W4A4/W4A16 speed, size and peak RSS, quantization time and peak RSS, decode
#           against the memory-bandwidth bound; RTN quantization of the 13B shape   (~35 min)
#   scale_calib  GPTQ and DuQuant+GPTQ timed on two layers of the 7B shape, extrapolated (~15 min)
#   scale_duquant  DuQuant+GPTQ W4A4 of the whole 7B shape with 16 calibration windows: time and
#           peak RSS (~75 min)
#   qat     KD-QAT on ref-llama-s (scripts/results_qat.sh, cells cached in docs/data/qat_cells.tsv;
#           ~2.5 h from nothing) and the training-step benchmark (~2 min)
#   scale_qat  two KD-QAT steps on the TinyLlama-1.1B shape: time and peak RSS (~15 min)
#   prune   Agile-Quant token pruning: whole-file perplexity with and without it, prefill time
#           saved, zero-shot (scripts/results_prune.sh, cells cached in docs/data/prune_cells.tsv;
#           ~1.5 h from nothing)
#   edge    per-operator latency of a W4A8 prefill (`lowbit profile`), one thread, LOWBIT_ISA=avx2
#           as the stand-in for an edge core without dot products, next to this CPU's kernels (~2 min)
#   kld     KL divergence of each format against the full-precision model
#           (`lowbit perplexity --kl-divergence`), first KLD_WINDOWS (40) windows of 512 (~15 min)
#   weights the survey's weight quantizers (HQQ, NF4, SqueezeLLM, LLM.int8(), LoRC) next to RTN
#           and GPTQ: bits per weight, quantize time, perplexity, kernel speed
#           (scripts/results_weights.sh, the whole test file)   (~70 min)
#   lut     the look-up-table kernels of codebook weights (NF4's shared table, SqueezeLLM's table
#           per row) against the integer grid's W4A16 kernel, per ISA, one thread   (~2 min)
#   serve   `lowbit serve` continuous batching: aggregate decode throughput at 4 concurrent
#           streams against one, from the server's /metrics (scripts/bench_serve.sh)   (~3 min)
#
# Usage: scripts/results.sh [SECTION...]   (default: all). Sections not named keep their current
# text from docs/results.md, so a slow section need not be re-measured to refresh a fast one.
set -euo pipefail
cd "$(dirname "$0")/.."
ALL_SECTIONS=(engine speed kernels packed16 tokenizers quant outliers tasks lowbit scale scale_calib
  scale_duquant qat scale_qat prune edge kld weights lut serve)
# Measure what the checkout builds: configure if needed, then bring the binaries up to date.
if [ -f build/CMakeCache.txt ]; then
  cmake --build build -j"$(nproc)" --target lowbit lowbit_bench lowbit_bench_qgemm \
    lowbit_bench_attention lowbit_bench_tokenizers lowbit_bench_train > /dev/null
else
  bash scripts/setup.sh
fi
# Every section is stamped with the commit and source tree of the binary (`lowbit --version`);
# a binary built from uncommitted changes is refused unless ALLOW_UNCOMMITTED=1 (the stamps then
# say "+changes").
BUILD=$(./build/lowbit --version | sed -n 's/.*(\(commit .*\))$/\1/p')
if [[ "$BUILD" == *changes* && "${ALLOW_UNCOMMITTED:-0}" != 1 ]]; then
  echo "results.sh: the binary is built from uncommitted changes ($BUILD): commit first" >&2
  exit 1
fi
SHARED=${LOWBIT_SHARED:-../shared}
MODEL=$SHARED/models/ref-llama-s
WIKI=$SHARED/data/wikitext-2/wiki.test.raw
OUT=docs/results.md
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

machine() {
  echo "$(date -u +%Y-%m-%d) at $BUILD, on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'))"
}

ref() {  # value of wikitext2_test.$1 in reference.json
  grep -o "\"$1\": *[0-9.]*" "$MODEL/reference.json" | head -1 | sed 's/.*: *//'
}

ppl_row() {  # ctx windows reference_key
  local max=$2
  [ "$max" = all ] && max=0
  ./build/lowbit perplexity -q -m "$MODEL" -f "$WIKI" --ctx "$1" --max-windows "$max" > "$TMP/ppl"
  local ours theirs speed
  ours=$(sed -n 's/^perplexity: //p' "$TMP/ppl")
  speed=$(sed -n 's/^speed: \([0-9.]*\) tokens.*/\1/p' "$TMP/ppl")
  theirs=$(ref "$3")
  awk -v L="$1" -v w="$2" -v a="$ours" -v b="$theirs" -v s="$speed" \
    'BEGIN { printf "| %s | %s | %.4f | %.4f | %+.4f%% | %.0f |\n", L, w, a, b, 100 * (a - b) / b, s }'
}

section_engine() {
  echo "## FP32 engine vs Hugging Face transformers (ref-llama-s, WikiText-2 test)"
  echo
  echo "Measured $(machine)."
  echo
  echo "| L | windows | lowbit ppl | transformers ppl | difference | tokens/s |"
  echo "| --- | --- | --- | --- | --- | --- |"
  ppl_row 512 40 ppl_L512_windows40
  ppl_row 128 40 ppl_L128_windows40
  ppl_row 512 all ppl_L512_windows655
  echo
  echo "Perplexity tokens/s includes the output head on every position (all logits are needed)."
}

section_speed() {
  # One run per family: Google Benchmark's CSV reporter aborts when families have different
  # counters, and each file then carries its own header.
  local fam
  for fam in Prefill Decode SgemmLowbit SgemmOpenBLAS MemoryReadBandwidth; do
    ./build/bench/lowbit_bench --benchmark_min_time=1 --benchmark_format=csv \
      --benchmark_filter="^BM_$fam/" 2> /dev/null > "$TMP/bench-$fam.csv"
  done
  echo "## FP32 speed (ref-llama-s, $(nproc) threads)"
  echo
  echo "Measured $(machine) by \`build/bench/lowbit_bench\`."
  echo
  awk -F, -f scripts/results_bench.awk "$TMP"/bench-*.csv
}

# One thread of build/bench/lowbit_bench_qgemm on the paths matching $1, as CSV into $2.
qgemm_bench() {
  LOWBIT_BENCH_THREADS=1 ./build/bench/lowbit_bench_qgemm --benchmark_min_time=0.3 \
    --benchmark_format=csv --benchmark_filter="$1" 2> /dev/null > "$2"
}

section_kernels() {
  qgemm_bench '^(sgemm_f32|W4A8|W8A8|W4A16)/' "$TMP/qgemm.csv"
  echo "## Low-bit GEMM kernels per ISA (one thread)"
  echo
  echo "Measured $(machine) by \`build/bench/lowbit_bench_qgemm\` with"
  echo "\`LOWBIT_BENCH_THREADS=1\`: every ISA variant this CPU runs, on ref-llama-s's shapes (fused"
  echo "q/k/v, attention output, fused gate/up, down projection, output head), m = 512 (prefill) and"
  echo "m = 1 (decode). GOPS = 2 m n k / CPU time for every column, fp32 included, so columns compare"
  echo "directly. Per-channel weight scales unless \"g128\"; W4A4 runs the W4A8 kernel (same speed)."
  echo
  awk -f scripts/results_kernels.awk "$TMP/qgemm.csv"
  echo
  if grep -qw amx_int8 /proc/cpuinfo; then
    echo "The AMX kernel covers m >= 16 (whole 16-row tiles); the m = 1 rows of the amx column run"
    echo "its fallback, the AVX-512 VNNI GEMV."
    echo
  fi
  echo "### Prefill attention (one thread)"
  echo
  echo "One ref-llama-s layer's causal attention over 512 tokens (\`build/bench/lowbit_bench_attention\`,"
  echo "9 randomly interleaved repetitions, medians): the fused kernel against the unfused path"
  echo "(stacked OpenBLAS products with the softmax between, what CPUs without a fused variant run)."
  echo "GFLOPS counts the causally visible work only (4 head_dim flops per query-key pair)."
  echo
  ./build/bench/lowbit_bench_attention --benchmark_repetitions=9 \
    --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true \
    --benchmark_format=csv 2> /dev/null | awk -F, '
    /_median"/ { split($1, n, "/"); path[++k] = n[2]; isa[k] = $8; ms[k] = $3 / 1000; gf[k] = $11 }
    END {
      for (i = 1; i <= k; ++i) if (path[i] == "unfused") base = ms[i]
      print "| path | variant | ms per layer | GFLOPS | time vs unfused |"
      print "| --- | --- | --- | --- | --- |"
      for (i = 1; i <= k; ++i) {
        gsub(/"/, "", isa[i])
        printf "| %s | %s | %.2f | %.1f | %.2f |\n", path[i], isa[i], ms[i], gf[i], ms[i] / base
      }
    }'
}

section_packed16() {
  LOWBIT_BENCH_THREADS=1 ./build/bench/lowbit_bench_qgemm --benchmark_min_time=0.3 \
    --benchmark_repetitions=3 --benchmark_report_aggregates_only=true --benchmark_format=csv \
    --benchmark_filter='^W4A4(packed16)?/avx2/' 2> /dev/null > "$TMP/packed16.csv"
  echo "## W4A4: Agile-Quant's packed int16 multiplier against vpmaddubsw (AVX2, one thread)"
  echo
  echo "Measured $(machine) by \`build/bench/lowbit_bench_qgemm\` (medians of 3): W4A4 products"
  echo "(4-bit symmetric activations, per-channel int4 weights) on ref-llama-s's shapes through"
  echo "\`qgemm_packed16\` (Agile-Quant's multiplier: two weights per 16-bit lane, one \`vpmullw\`"
  echo "for both products, 256 products per 16-bit field before widening) and through \`qgemm\`'s"
  echo "AVX2 kernel (\`vpmaddubsw\` + \`vpmaddwd\`), both forced to AVX2 (the x86 stand-in for a"
  echo "core without an int8 dot product). Both give the same bits (tests/kernels)."
  echo
  echo "| m | n | k | qgemm AVX2 GOPS | packed16 AVX2 GOPS | packed16 time / qgemm time |"
  echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
  awk -F, '/_median"/ {
      name = $1; gsub(/"/, "", name); split(name, p, "/")
      m = p[3]; n = p[4]; k = p[5]; sub(/m:/, "", m); sub(/n:/, "", n); sub(/k:/, "", k)
      key = m "|" n "|" k
      if (!(key in seen)) { seen[key] = 1; order[++count] = key }
      unit = $5; gsub(/"/, "", unit)
      us = unit == "ms" ? $3 * 1000 : (unit == "ns" ? $3 / 1000 : $3)
      if (p[1] == "W4A4") base[key] = us; else packed[key] = us
    }
    END {
      for (i = 1; i <= count; ++i) {
        key = order[i]; split(key, f, "|")
        ops = 2 * f[1] * f[2] * f[3] / 1000
        printf "| %s | %s | %s | %.1f | %.1f | %.2f |\n", f[1], f[2], f[3], ops / base[key],
          ops / packed[key], packed[key] / base[key]
      }
    }' "$TMP/packed16.csv"
  echo
}

section_tokenizers() {
  ./build/bench/lowbit_bench_tokenizers --benchmark_format=csv 2> /dev/null > "$TMP/tok.csv"
  echo "## Tokenization speed (one thread)"
  echo
  echo "Measured $(machine) by \`build/bench/lowbit_bench_tokenizers\`: one \`encode\` call on"
  echo "the whole WikiText-2 test file, and on one 1 MB \"word\" of random letters (no spaces: the"
  echo "worst case of a merge loop that rescans after every merge). Merges run on a heap"
  echo "(src/text/bpe_merge.h); long text is encoded in pieces cut after newlines where the cut is
exact (src/text/chunked_encode.h): SentencePiece is the library's own encoder, called per piece."
  echo
  echo "| input | tokenizer | seconds | MB/s |"
  echo "| --- | --- | --- | --- |"
  # CSV columns: name, iterations, real_time, cpu_time (ms), time_unit, bytes_per_second,
  # items_per_second, label.
  awk -F, '/^"BM_/ {
      split($1, n, "/"); gsub(/"/, "", n[1]); gsub(/"/, "", $8)
      input = n[1] == "BM_EncodeWikiText2" ? "WikiText-2 test (1.29 MB)" : "one 1 MB word"
      printf "| %s | %s | %.2f | %.1f |\n", input, $8, $4 / 1000, $6 / 1e6 }' "$TMP/tok.csv"
}

# Per-cell measurements are kept in docs/data/*.tsv and reused (an interrupted or partial run
# resumes); delete those files, or set FRESH=1, to re-measure everything.
section_quant() {
  mkdir -p docs/data
  [ -n "${FRESH:-}" ] && rm -f docs/data/quant_cells_40.tsv docs/data/quant_cells_full.tsv
  # The issue's protocol: the W4A4 columns on the whole test file (~2 h on 2 cores), then, unless
  # QUANT_40=0, every cell on its first 40 windows (~50 min). Cells are cached in docs/data keyed
  # on the binary's source tree (one line each), so an interrupted run resumes where it stopped
  # and a source change re-measures everything.
  RAW=$PWD/docs/data/quant_cells_full.tsv MAX_WINDOWS=0 CONFIG_FILTER='^W4A4' \
    COLUMNS_SHOWN='^W4A4' bash scripts/results_quant.sh > "$TMP/quant_full.md"
  cat "$TMP/quant_full.md"
  echo
  echo "Calibration streams layer by layer (docs/quantization.md): peak memory is the loaded model"
  echo "and the checkpoint mapping, plus one calibration stream (128 x 512 x 384 fp32 = 96 MiB; two"
  echo "for a transform followed by GPTQ; the presets' 2048-token sequences are capped by the"
  echo "model's positions), plus one layer's statistics — it does not grow with the number of layers."
  echo
  echo "### The first 40 windows, every format"
  echo
  if [ "${QUANT_40:-1}" = 1 ]; then
    RAW=$PWD/docs/data/quant_cells_40.tsv MAX_WINDOWS=40 bash scripts/results_quant.sh \
      > "$TMP/quant_40.md"
    echo "The reference's own short protocol (20,480 tokens, \`MAX_WINDOWS=40\`): the whole matrix in"
    echo "under an hour, for checking a change quickly. Same models, same script."
    echo
    awk '/^\| method \|/ { on = 1 } on && /^$/ { exit } on' "$TMP/quant_40.md"
    echo
    grep -E '^(Cells are cached|[0-9]+ cell)' "$TMP/quant_40.md" || true
  else
    echo "Not measured at this source tree (\`QUANT_40=0\`): the matrix of every format on the first"
    echo "40 windows is produced by \`scripts/results.sh quant\` with the default \`QUANT_40=1\`."
  fi
  echo
  echo "Section written $(machine)."
}

# Outlier statistics per site of what each method's quantizer sees (`lowbit outliers`): why the
# rotations win where they do.
section_outliers() {
  local windows=${OUTLIER_WINDOWS:-8} calib=$SHARED/data/corpus/calib.txt
  echo "## Outliers per site: what each method leaves for the 4-bit quantizer (ref-llama-s)"
  echo
  echo "Measured $(machine) by \`lowbit outliers\` on the first $windows windows of 512 tokens of"
  echo "the WikiText-2 test file: for every layer's four linear-input sites, the activation as the"
  echo "quantizer sees it (after the method's folded and online transforms). **channel** = largest"
  echo "per-channel max |x| over the median channel's (normal outliers: what a per-token scale must"
  echo "cover); **token** = largest per-token max |x| over the median token's (massive outliers)."
  echo "Each cell: median over the $(./build/lowbit inspect -m "$MODEL" | sed -n 's/^layers: *\([0-9]*\).*/\1/p') layers / worst layer. Methods"
  echo "quantized W4A4 as in the quantization section (the transforms do not depend on the bits"
  echo "except DuQuant's peak rule under \`--a-asym\`)."
  echo
  local specs=("FP32|" "SmoothQuant|--method smoothquant" "Hadamard (QuaRot)|--method hadamard"
    "DuQuant|--method duquant" "DuQuant, authors' code|--method duquant --duquant-code-compat"
    "--preset duquant|--preset duquant") spec label flags f
  echo "| method | qkv_input channel | qkv_input token | o_input channel | o_input token | up_input channel | up_input token | down_input channel | down_input token |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  for spec in "${specs[@]}"; do
    IFS='|' read -r label flags <<< "$spec"
    f=$MODEL
    if [ -n "$flags" ]; then
      f=$TMP/outliers.lowbit
      # shellcheck disable=SC2086  # a flag list
      ./build/lowbit quantize -q -m "$MODEL" $flags --wbits 4 --abits 4 --kvbits 16 \
        --head-bits 16 --head-abits 16 --calib "$calib" -o "$f" > /dev/null
    fi
    ./build/lowbit outliers -m "$f" --simulate -f "$WIKI" --windows "$windows" |
      awk -F'|' -v l="$label" '/^\| [a-z_]+ \| [0-9]/ {
        gsub(/ /, ""); cell = cell sprintf(" %s / %s | %s / %s |", $4, $5, $6, $7) }
        END { print "| " l " |" cell }'
  done
}

section_tasks() {
  local limit=${TASK_LIMIT:-500} calib=$SHARED/data/corpus/calib.txt
  local models=("FP32|$MODEL") label file
  # RTN, the best W4A4 method of the quantization table (Hadamard + GPTQ), and DuQuant + GPTQ.
  for spec in "W4A4 RTN|rtn" "W4A4 Hadamard+GPTQ|hadamard+gptq" "W4A4 DuQuant+GPTQ|duquant+gptq"; do
    IFS='|' read -r label method <<< "$spec"
    file=$TMP/tasks-${method/+/-}.lowbit
    ./build/lowbit quantize -q -m "$MODEL" --method "$method" --wbits 4 --abits 4 \
      --calib "$calib" -o "$file" > /dev/null
    models+=("$label|$file")
  done
  echo "## Zero-shot tasks (ref-llama-s)"
  echo
  echo "Measured $(machine). $( [ "$limit" = 0 ] && echo "Every item of each task." ||
    echo "A seeded random subset of $limit items per task (\`--limit $limit --seed 0\`; the same items for every model).")"
  echo "Scoring as lm-evaluation-harness (docs/tasks.md); value ± binomial standard error. W4A4"
  echo "models run on the integer kernels with the default W8A8 output head; calibration as in the"
  echo "quantization section (128 x 512 tokens of \`corpus/calib.txt\`)."
  echo
  local i=0
  for m in "${models[@]}"; do
    IFS='|' read -r label file <<< "$m"
    ./build/lowbit eval -q -m "$file" --tasks all --tasks-dir "$SHARED/data/tasks" \
      --limit "$limit" --seed 0 > "$TMP/tasks-$i.md"
    i=$((i + 1))
  done
  local header="| task | metric |" rule="| --- | --- |"
  for m in "${models[@]}"; do
    header="$header ${m%%|*} |"
    rule="$rule --- |"
  done
  echo "$header"
  echo "$rule"
  # Join the per-model tables on (task, metric): "value ± stderr".
  awk -F'|' 'FNR == 1 { f++ } /^\| [a-z_]+ \| [a-z_]+ \|/ && $2 !~ /task/ {
      key = $2 "|" $3; if (!(key in seen)) { seen[key] = 1; order[++n] = key }
      gsub(/ /, "", $4); gsub(/ /, "", $5); cell[key, f] = $4 " ± " $5 }
    END { for (i = 1; i <= n; i++) { line = "|" order[i] "|"
            for (j = 1; j <= f; j++) line = line " " cell[order[i], j] " |"
            print line } }' "$TMP"/tasks-*.md
  echo
  echo "Items per second of each model, from the same runs ($(nproc) threads):"
  echo
  i=0
  for m in "${models[@]}"; do
    echo "- ${m%%|*}: $(grep -i "items/s" "$TMP/tasks-$i.md" | sed 's/^.*threads): //')"
    i=$((i + 1))
  done
  if [ "${TASK_FULL_FP32:-1}" = 1 ]; then
    # The speed target: all seven tasks, every item, FP32, timed as one benchmark run.
    local t0 t1
    t0=$(date +%s)
    ./build/lowbit eval -q -m "$MODEL" --tasks all --tasks-dir "$SHARED/data/tasks" > "$TMP/tasks-full.md"
    t1=$(date +%s)
    echo
    echo "### Every item, FP32 (the speed benchmark)"
    echo
    echo "All seven tasks on every item, FP32, $(nproc) threads: **$(awk -v s=$((t1 - t0)) 'BEGIN { printf "%.1f", s / 60 }') minutes** wall time."
    echo
    grep -E '^\|' "$TMP/tasks-full.md"
    echo
    echo "Items per second: $(grep -i "items/s" "$TMP/tasks-full.md" | sed 's/^.*threads): //')"
  fi
}

# Perplexity of a .lowbit file on the first $2 windows; $3 = extra flags (e.g. --simulate).
lowbit_ppl() {
  # shellcheck disable=SC2086
  ./build/lowbit perplexity -q -m "$1" -f "$WIKI" --ctx 512 --max-windows "$2" $3 |
    sed -n 's/^perplexity: //p'
}

section_lowbit() {
  local windows=${LOWBIT_WINDOWS:-40} calib=$SHARED/data/corpus/calib.txt
  echo "## Real low-bit execution (ref-llama-s, $(nproc) threads)"
  echo
  echo "Measured $(machine)."
  echo
  echo "### Speed, size and memory: \`lowbit bench\`"
  echo
  echo "Each low-bit format is RTN-quantized (the speed does not depend on the method), saved as a"
  echo ".lowbit file and measured in its own process; the output head is W8A8 in every low-bit row."
  echo "The formats are measured in interleaved rounds (each once per round); ratios are medians of"
  echo "the per-round ratios to the FP32 row."
  echo
  ./build/lowbit bench -m "$MODEL" 2> /dev/null
  echo
  echo "The same with a 4-bit output head in groups of 64 (\`--head-bits 4 --head-group 64\`, W4A8"
  echo "head; the smallest files, see the perplexity cost below):"
  echo
  ./build/lowbit bench -m "$MODEL" --formats FP32,W4A8,W4A4 --head-bits 4 --head-group 64 2> /dev/null |
    grep '^|'
  echo
  echo "The same with the layers' weights in groups of 128 along the input (\`--group 128\`; W8A8 head),"
  echo "the closest to llama.cpp's Q4_0 (groups of 32) that the AMX kernel runs as whole tiles:"
  echo
  ./build/lowbit bench -m "$MODEL" --formats FP32,W4A8,W4A4 --group 128 2> /dev/null | grep '^|'
  echo
  if grep -qw amx_int8 /proc/cpuinfo; then
    echo "Without AMX (\`LOWBIT_ISA=avx512vnni\`: the integer GEMMs on AVX-512 VNNI, as on CPUs before"
    echo "Sapphire Rapids; everything else unchanged):"
    echo
    LOWBIT_ISA=avx512vnni ./build/lowbit bench -m "$MODEL" --formats FP32,W4A8,W4A4 2> /dev/null |
      grep '^|'
    echo
  fi
  echo "Decode deep into the context (\`--context 1536\`: 64 tokens decoded after a 1536-token"
  echo "prompt), with the KV cache in fp32, int8 and int4 (\`--kvbits\`, per token and head):"
  echo
  echo "| model | KV cache | prefill tok/s | decode tok/s at 1536 | file MB | weights MB | peak RSS MiB |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  ./build/lowbit bench -m "$MODEL" --formats FP32 --context 1536 2> /dev/null | grep '^| FP32 ' |
    cut -d'|' -f3-7 | sed 's/^/| FP32 | fp32 |/; s/$/|/'
  local kvf=$TMP/kv.lowbit kv
  for kv in 16 8 4; do
    ./build/lowbit quantize -q -m "$MODEL" --method rtn --wbits 4 --abits 8 --kvbits "$kv" \
      -o "$kvf" > /dev/null
    ./build/lowbit bench -m "$kvf" --context 1536 2> /dev/null | grep '^| kv.lowbit ' |
      cut -d'|' -f3-7 | sed "s/^/| W4A8 | $([ "$kv" = 16 ] && echo fp32 || echo "int$kv") |/; s/$/|/"
  done
  echo
  echo "### Simulated vs integer-kernel perplexity (WikiText-2, L=512, first $windows windows)"
  echo
  echo "The same .lowbit file evaluated through the integer kernels and through the simulated"
  echo "fp32 path (\`--simulate\`)."
  echo
  echo "| model | kernels ppl | simulated ppl | difference | file MB | file / BF16 checkpoint |"
  echo "| --- | --- | --- | --- | --- | --- |"
  local ckpt_bytes f
  ckpt_bytes=$(stat -c %s "$MODEL/model.safetensors")
  # label|method|wbits|abits|kvbits|head weight bits|head group|layer group (head activations:
  # 8-bit)
  for spec in "W8A8|rtn|8|8|16|8|0|0" "W4A8|rtn|4|8|16|8|0|0" "W4A4|rtn|4|4|16|8|0|0" \
              "W4A16|rtn|4|16|16|8|0|0" "W4A4KV4|rtn|4|4|4|8|0|0" \
              "W4A4 Hadamard|hadamard|4|4|16|8|0|0" "W4A4 DuQuant|duquant|4|4|16|8|0|0" \
              "W4A8 g128|rtn|4|8|16|8|0|128" "W4A8 head FP32|rtn|4|8|16|16|0|0" \
              "W4A8 head 4-bit|rtn|4|8|16|4|0|0" "W4A8 head 4-bit g64|rtn|4|8|16|4|64|0" \
              "W4A8 head 4-bit g32|rtn|4|8|16|4|32|0"; do
    IFS='|' read -r label method wb ab kb hb hg lg <<< "$spec"
    f=$TMP/model.lowbit
    ./build/lowbit quantize -q -m "$MODEL" --method "$method" --wbits "$wb" --abits "$ab" \
      --kvbits "$kb" --head-bits "$hb" --head-abits "$([ "$hb" = 16 ] && echo 16 || echo 8)" \
      --head-group "$hg" --group "$lg" --calib "$calib" -o "$f" > /dev/null
    local real sim bytes
    real=$(lowbit_ppl "$f" "$windows" "")
    sim=$(lowbit_ppl "$f" "$windows" --simulate)
    bytes=$(stat -c %s "$f")
    awk -v l="$label" -v r="$real" -v s="$sim" -v b="$bytes" -v c="$ckpt_bytes" 'BEGIN {
      printf "| %s | %.3f | %.3f | %+.2f%% | %.1f | %.2f |\n", l, r, s, 100 * (r - s) / s, b / 1e6, b / c }'
  done
  # At W4A4 a last-bit summation difference can flip a 4-bit activation code and the flips
  # compound, so a few windows differ by up to ~2%; the whole file shows the paths agree.
  f=$TMP/model.lowbit
  ./build/lowbit quantize -q -m "$MODEL" --method rtn --wbits 4 --abits 4 -o "$f" > /dev/null
  local w4a4_whole
  w4a4_whole=$(lowbit_ppl "$f" 0 "")
  awk -v r="$w4a4_whole" -v s="$(lowbit_ppl "$f" 0 --simulate)" 'BEGIN {
    printf "| W4A4, whole test file | %.3f | %.3f | %+.2f%% | | |\n", r, s, 100 * (r - s) / s }'
  # The authors' settings (asymmetric, clipped activations for DuQuant; the query and K/V at 4
  # bits) on the kernels, whole file: the presets must agree with their simulation within 0.5%.
  local preset
  for preset in duquant quarot; do
    ./build/lowbit quantize -q -m "$MODEL" --preset "$preset" --calib "$calib" -o "$f" > /dev/null
    awk -v l="--preset $preset (W4A4KV4), whole test file" -v r="$(lowbit_ppl "$f" 0 "")" \
      -v s="$(lowbit_ppl "$f" 0 --simulate)" -v b="$(stat -c %s "$f")" -v c="$ckpt_bytes" 'BEGIN {
      printf "| %s | %.3f | %.3f | %+.2f%% | %.1f | %.2f |\n", l, r, s, 100 * (r - s) / s, b / 1e6, b / c }'
  done
  echo
  echo "\"head FP32\" keeps the output head in full precision (the papers' protocol); the default"
  echo "W8A8 head costs the perplexity difference between those rows and saves its memory. The"
  echo "\"head 4-bit\" rows store the head (and with it the tied embeddings) as 4-bit weights, per"
  echo "output channel or in groups of 64 / 32 along the input, multiplied as W4A8: the files that"
  echo "meet 0.3x of the BF16 checkpoint, at the perplexity cost shown. Hadamard and DuQuant untie"
  echo "the head (it absorbs the final norm); their embedding table is stored int8 like the head."
  echo
  echo "### Perplexity cost against FP32 (integer kernels, whole test file)"
  echo
  echo "RTN with the default W8A8 head, on all windows of the test file (L=512)."
  echo
  echo "| model | ppl | vs FP32 |"
  echo "| --- | --- | --- |"
  local fp32_whole
  fp32_whole=$(lowbit_ppl "$MODEL" 0 "")
  awk -v p="$fp32_whole" 'BEGIN { printf "| FP32 | %.3f | |\n", p }'
  for spec in "W4A8|0" "W4A8 g128|128"; do
    IFS='|' read -r label lg <<< "$spec"
    ./build/lowbit quantize -q -m "$MODEL" --method rtn --wbits 4 --abits 8 --group "$lg" \
      -o "$f" > /dev/null
    awk -v l="$label" -v p="$(lowbit_ppl "$f" 0 "")" -v b="$fp32_whole" 'BEGIN {
      printf "| %s | %.3f | %+.2f%% |\n", l, p, 100 * (p - b) / b }'
  done
  awk -v p="$w4a4_whole" -v b="$fp32_whole" 'BEGIN {
    printf "| W4A4 | %.3f | %+.2f%% |\n", p, 100 * (p - b) / b }'
}

# Runs a command under /usr/bin/time -v; prints "SECONDS PEAK_MIB" (wall clock, VmHWM: mapped
# file pages count) and leaves the command's stdout in $TMP/out.
timed() {
  /usr/bin/time -v "$@" > "$TMP/out" 2> "$TMP/time" || { cat "$TMP/time" >&2; return 1; }
  awk '/Elapsed \(wall clock\)/ { n = split($NF, t, ":"); s = 0; for (i = 1; i <= n; ++i) s = s * 60 + t[i] }
       /Maximum resident set size/ { rss = $NF / 1024 }
       END { printf "%.1f %.0f\n", s, rss }' "$TMP/time"
}

section_scale() {
  local dir=${SCALE_DIR:-build/scale} tok=$SHARED/tokenizers/llama2/tokenizer.model
  rm -rf "$dir" && mkdir -p "$dir"
  echo "## Real model sizes: random-weight checkpoints in real shapes"
  echo
  echo "Measured $(machine). Checkpoints written by \`lowbit fixture\` (bf16 safetensors, sharded"
  echo "at 5 GB, Llama-2 tokenizer), one at a time, deleted afterwards; speed, memory and size do"
  echo "not depend on the weights' values. Quantization is RTN (per-channel symmetric weights, MSE"
  echo "clip search; activations per token). \`lowbit bench --single\`: prefill 128 tokens, decode"
  echo "32 after them, medians of 3 passes. Quantize peak RSS is VmHWM from \`/usr/bin/time -v\`"
  echo "(mapped file pages count); generate peak RSS is the bench's own VmHWM after a warm-up"
  echo "prefill and decode, before its bandwidth probe exists. Decode / bound = weight bytes x"
  echo "decode tokens/s / the all-thread read bandwidth over 2 GiB, probed just before each decode"
  echo "pass (\`--bandwidth-mib 2048\`; this machine's bandwidth drifts by a third within a"
  echo "minute, so a bound measured at another time says little); median of the per-pass ratios."
  echo
  echo "| shape | format | file GB | quantize s | quantize peak RSS GB | prefill tok/s | decode tok/s | decode / bound | generate peak RSS GB |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  for shape in ${SCALE_SHAPES:-tinyllama-1.1b llama-2-7b}; do
    ./build/lowbit fixture --shape "$shape" -o "$dir/fp" --tokenizer "$tok" > /dev/null
    for fmt in FP W4A8 W4A4 W4A16; do
      local model=$dir/fp qs="" qrss=""
      if [ "$fmt" != FP ]; then
        local abits=${fmt#W4A}
        read -r qs qrss < <(timed ./build/lowbit quantize -q -m "$dir/fp" --method rtn --wbits 4 \
          --abits "$abits" -o "$dir/$fmt.lowbit")
        model=$dir/$fmt.lowbit
      fi
      ./build/lowbit bench -m "$model" --single --prompt 128 --decode 32 --bandwidth-mib 2048 \
        > "$TMP/out"
      awk -v shape="$shape" -v fmt="$fmt" -v qs="$qs" -v qrss="$qrss" \
        '/^bench-row / { pre = $2; dec = $3; file = $4; peak = $6; bound = $8
          printf "| %s | %s | %.2f | %s | %s | %.1f | %.2f | %.0f%% | %.2f |\n", shape,
            fmt == "FP" ? "FP (bf16)" : fmt, file / 1e9, qs == "" ? "-" : qs,
            qrss == "" ? "-" : sprintf("%.2f", qrss / 1024), pre, dec, 100 * bound,
            peak / 1024 }' "$TMP/out"
      [ "$fmt" != FP ] && rm -f "$dir/$fmt.lowbit"
    done
    rm -rf "$dir/fp"
  done
  # The 13B shape: RTN quantization only (its bf16 checkpoint is 26 GB).
  if [ -n "${SCALE_13B:-1}" ] && [ "${SCALE_13B:-1}" != 0 ]; then
    ./build/lowbit fixture --shape llama-2-13b -o "$dir/fp" --tokenizer "$tok" > /dev/null
    local qs qrss
    read -r qs qrss < <(timed ./build/lowbit quantize -q -m "$dir/fp" --method rtn --wbits 4 \
      --abits 8 -o "$dir/W4A8.lowbit")
    awk -v qs="$qs" -v qrss="$qrss" -v f="$(stat -c %s "$dir/W4A8.lowbit")" 'BEGIN {
      printf "| llama-2-13b | W4A8 | %.2f | %s | %.2f | - | - | - | - |\n", f / 1e9, qs, qrss / 1024 }'
    rm -rf "$dir/fp" "$dir/W4A8.lowbit"
  fi
  rm -rf "$dir"
}

# The whole Llama-2-7B shape through DuQuant + GPTQ (W4A4, 16 windows of 512 tokens): the
# streaming pipeline's peak memory with the largest method, measured rather than extrapolated.
section_scale_duquant() {
  local dir=${SCALE_DIR:-build/scale} tok=$SHARED/tokenizers/llama2/tokenizer.model s rss
  rm -rf "$dir" && mkdir -p "$dir"
  echo "## Real model sizes: DuQuant + GPTQ on the whole Llama-2-7B shape"
  echo
  echo "Measured $(machine)."
  ./build/lowbit fixture --shape llama-2-7b -o "$dir/fp" --tokenizer "$tok" > /dev/null
  read -r s rss < <(timed ./build/lowbit quantize -q -m "$dir/fp" --method duquant+gptq --wbits 4 \
    --abits 4 --calib "$WIKI" --calib-samples 16 -o "$dir/q.lowbit")
  echo
  echo "\`lowbit quantize --method duquant+gptq --wbits 4 --abits 4 --calib-samples 16\` (WikiText-2"
  echo "test as the calibration text, 512-token windows) of a random-weight Llama-2-7B-shaped bf16"
  echo "checkpoint (\`lowbit fixture\`), all 32 layers; peak RSS is VmHWM from \`/usr/bin/time -v\`."
  echo
  echo "| method | calibration windows | calibration s | quantization s | wall s | peak RSS GB | file GB |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  awk -v s="$s" -v rss="$rss" -v f="$(stat -c %s "$dir/q.lowbit")" '
    /^calibration:/ { c = $2 } /^quantization:/ { q = $2 }
    END { printf "| duquant+gptq | 16 | %.0f | %.0f | %.0f | %.2f | %.2f |\n", c, q, s, rss / 1024,
      f / 1e9 }' "$TMP/out"
  rm -rf "$dir"
}

# Calibrated methods on two layers of the 7B shape at 16 and 32 calibration windows of 512 tokens,
# fitted as a + b * windows (calibration is linear in tokens; GPTQ's solve is not) and
# extrapolated to the papers' 128 windows and 32 layers.
section_scale_calib() {
  local dir=${SCALE_DIR:-build/scale} tok=$SHARED/tokenizers/llama2/tokenizer.model
  rm -rf "$dir" && mkdir -p "$dir"
  echo "## Real model sizes: calibrated methods on the Llama-2-7B shape"
  echo
  echo "Measured $(machine)."
  ./build/lowbit fixture --shape llama-2-7b --layers 2 -o "$dir/fp2" --tokenizer "$tok" > /dev/null
  echo
  echo "Two layers of the Llama-2-7B shape (random weights; WikiText-2 test as the calibration"
  echo "text, 512-token windows, W4A4); the 32-layer figure at 128 windows is extrapolated: per"
  echo "layer a + b x windows fitted on the two measured runs, times 32 layers (fixed costs such as"
  echo "the output head are counted per layer, so it overestimates)."
  echo
  echo "| method | 2 layers, 16 windows: s | peak RSS GB | 2 layers, 32 windows: s | peak RSS GB | extrapolated 32 layers, 128 windows: min |"
  echo "| --- | --- | --- | --- | --- | --- |"
  for method in gptq duquant+gptq; do
    local s16 r16 s32 r32
    read -r s16 r16 < <(timed ./build/lowbit quantize -q -m "$dir/fp2" --method "$method" --wbits 4 \
      --abits 4 --calib "$WIKI" --calib-samples 16 -o "$dir/q.lowbit")
    read -r s32 r32 < <(timed ./build/lowbit quantize -q -m "$dir/fp2" --method "$method" --wbits 4 \
      --abits 4 --calib "$WIKI" --calib-samples 32 -o "$dir/q.lowbit")
    awk -v m="$method" -v s16="$s16" -v r16="$r16" -v s32="$s32" -v r32="$r32" 'BEGIN {
      b = (s32 - s16) / 16 / 2; a = s16 / 2 - 16 * b
      printf "| %s | %.0f | %.2f | %.0f | %.2f | %.0f |\n", m, s16, r16 / 1024, s32, r32 / 1024,
        32 * (a + 128 * b) / 60 }'
  done
  rm -rf "$dir"
}

section_qat() {
  bash scripts/results_qat.sh
  echo "Training speed, measured $(machine) (\`build/bench/lowbit_bench_train\`, one process: a KD-QAT step of 4 x 256"
  echo "tokens, W3A16 student, teacher included, against the FP32 forward of the same tokens):"
  echo
  ./build/bench/lowbit_bench_train --benchmark_format=json 2> /dev/null > "$TMP/train.json"
  python3 - "$TMP/train.json" <<'PY'
import json, sys
rows = {b["name"]: b for b in json.load(open(sys.argv[1]))["benchmarks"]}
fwd = rows["BM_Forward/real_time"]["real_time"]
print("| measurement | ms | tokens/s | x FP32 forward |")
print("| --- | ---: | ---: | ---: |")
for name, label in [("BM_Forward/real_time", "FP32 forward (teacher alone)"),
                    ("BM_TrainStep/0/real_time", "training step"),
                    ("BM_TrainStep/1/real_time", "training step, --recompute")]:
    b = rows[name]
    print(f"| {label} | {b['real_time']:.0f} | {b['tokens/s']:.0f} | {b['real_time'] / fwd:.2f} |")
PY
}

section_scale_qat() {
  local dir=${SCALE_DIR:-build/scale} tok=$SHARED/tokenizers/llama2/tokenizer.model
  rm -rf "$dir" && mkdir -p "$dir"
  echo "## Real model sizes: KD-QAT on the TinyLlama-1.1B shape"
  echo
  echo "Measured $(machine). A random-weight checkpoint in TinyLlama-1.1B's shape (\`lowbit fixture\`,"
  echo "bf16): \`lowbit qat --init rtn --wbits 4 --steps 2 --batch 4 --seq 256 --recompute\` (fp32"
  echo "master weights, gradients and both AdamW moments for all 1.1B parameters, the bf16 teacher"
  echo "mapped, one evaluation window before and after). The issue's bound: peak RSS <= 21 GB"
  echo "(GB = 10^9 bytes; GiB = 2^30). What the peak is made of: docs/training.md, memory at scale."
  echo
  ./build/lowbit fixture --shape tinyllama-1.1b -o "$dir/fp" --tokenizer "$tok" > /dev/null
  local secs rss
  read -r secs rss < <(timed ./build/lowbit qat -q -m "$dir/fp" --init rtn --wbits 4 --steps 2 \
    --batch 4 --seq 256 --recompute --eval-windows 1 --data "$SHARED/data/corpus/calib.txt" \
    -o "$dir/q.lowbit")
  echo "| model | steps | wall s (with load, start and export) | seconds per step | peak RSS GiB | peak RSS GB |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
  local per_step
  per_step=$(sed -n 's/^steps: .*), \([0-9.]*\) s,.*/\1/p' "$TMP/out")
  awk -v s="$secs" -v r="$rss" -v p="$per_step" \
    'BEGIN { printf "| TinyLlama-1.1B shape | 2 | %.0f | %.0f | %.2f | %.2f |\n", s, p / 2, r / 1024,
             r * 1048576 / 1e9 }'
  rm -rf "$dir"
}

section_prune() {
  BIN=./build/lowbit TASK_LIMIT=${TASK_LIMIT:-200} PRUNED=${PRUNED:-rtn duquant} \
    bash scripts/results_prune.sh
}

section_edge() {
  local q="$TMP/edge-w4a8.lowbit" calib=$SHARED/data/corpus/calib.txt
  ./build/lowbit quantize -q -m "$MODEL" --wbits 4 --abits 8 --head-bits 16 --head-abits 16 \
    -o "$q" > /dev/null
  local native
  native=$(./build/lowbit profile -m "$q" --prompt 16 --reps 1 -t 1 | sed -n 's/.*kernels \([a-z0-9]*\);.*/\1/p')
  echo "## Edge profile: where a W4A8 prefill's time goes (ref-llama-s, one thread)"
  echo
  echo "Measured $(machine). \`lowbit profile\` (mean of 5 prefills after a warm-up) of ref-llama-s"
  echo "RTN W4A8 (head in full precision), prompt from \`corpus/calib.txt\`. \`LOWBIT_ISA=avx2\` stands"
  echo "in for an edge core without int8 dot products (Agile-Quant's Cortex-A72 class: the int8"
  echo "products go through vpmaddubsw), next to this CPU's own kernels ($native); at 2048 tokens also"
  echo "with token pruning (beta 0.3 from layer 4, thresholds calibrated on 8 x 2048 tokens). The"
  echo "projections include their on-the-fly activation quantization (\"of which\" rows)."
  echo
  LOWBIT_ISA=avx2 ./build/lowbit profile -m "$q" --prompt 512 --reps 5 -t 1 --prompt-file "$calib" > "$TMP/e1"
  ./build/lowbit profile -m "$q" --prompt 512 --reps 5 -t 1 --prompt-file "$calib" > "$TMP/e2"
  LOWBIT_ISA=avx2 ./build/lowbit profile -m "$q" --prompt 2048 --reps 3 -t 1 --prompt-file "$calib" > "$TMP/e3"
  LOWBIT_ISA=avx2 ./build/lowbit profile -m "$q" --prompt 2048 --reps 3 -t 1 --prune-ratio 0.3 \
    --prune-calib "$calib" --prune-calib-len 2048 2> /dev/null > "$TMP/e4"
  python3 - "$TMP/e1" "$TMP/e2" "$TMP/e3" "$TMP/e4" "$native" <<'PY'
import re, sys
files, native = sys.argv[1:5], sys.argv[5]
heads = ["512 tokens, avx2", f"512 tokens, {native}", "2048 tokens, avx2", "2048, avx2, pruned 0.3"]
tables, totals, order = [], [], []
for f in files:
    text = open(f).read()
    totals.append(float(re.search(r"runs: ([0-9.]+) ms", text).group(1)))
    rows = {}
    for m in re.finditer(r"^\| (.+?) \| ([0-9.]+) \| ([0-9.]+)% \|$", text, re.M):
        rows[m.group(1)] = (float(m.group(2)), float(m.group(3)))
        if m.group(1) not in order: order.append(m.group(1))
    tables.append(rows)
print("| operator | " + " | ".join(f"{h}: ms (share)" for h in heads) + " |")
print("| --- |" + " ---: |" * len(heads))
for op in order:
    cells = [f"{t[op][0]:.2f} ({t[op][1]:.1f}%)" if op in t else "—" for t in tables]
    print(f"| {op} | " + " | ".join(cells) + " |")
print("| **prefill total** | " + " | ".join(f"**{x:.1f}**" for x in totals) + " |")
PY
}

section_kld() {
  local windows=${KLD_WINDOWS:-40} calib=$SHARED/data/corpus/calib.txt
  echo "## KL divergence against the full-precision model (ref-llama-s)"
  echo
  echo "Measured $(machine). \`lowbit perplexity --kl-divergence $MODEL\` on the first $windows"
  echo "windows of 512 tokens of the WikiText-2 test file: both models run every window and every"
  echo "position is compared (llama.cpp's metrics: KL(P_fp || P_q) of the next-token"
  echo "distributions, how often the two agree on the most likely token, and the perplexity"
  echo "difference with its 95% interval, positions treated as independent). Integer kernels; the"
  echo "output head W8A8 (the default) unless the format is weight-only."
  echo
  echo "| format | method | perplexity | delta ppl (95% CI) | mean KLD | median KLD | p99 KLD | top-1 agreement |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  local row fmt method flags
  while IFS='|' read -r fmt method flags; do
    ./build/lowbit quantize -q -m "$MODEL" --method "$method" $flags --calib "$calib" \
      -o "$TMP/kld.lowbit" > /dev/null
    ./build/lowbit perplexity -q -m "$TMP/kld.lowbit" -f "$WIKI" --ctx 512 \
      --max-windows "$windows" --kl-divergence "$MODEL" > "$TMP/kld"
    python3 - "$TMP/kld" "$fmt" "$method" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
g = lambda p: re.search(p, t).group(1)
ppl, base = g(r"\nperplexity: ([0-9.]+)"), g(r"base perplexity: ([0-9.]+)")
d = re.search(r"delta ppl: ([-+0-9.]+) ± [0-9.]+ \(95% CI \[([-+0-9.]+), ([-+0-9.]+)\]\)", t)
k = re.search(r"KL divergence: mean ([0-9.]+) ± ([0-9.]+), median ([0-9.]+), p90 [0-9.]+, p99 ([0-9.]+)", t)
top = re.search(r"top-1 agreement: ([0-9.]+) ± ([0-9.]+) %", t)
print(f"| {sys.argv[2]} | {sys.argv[3]} | {float(ppl):.2f} (fp {float(base):.2f}) | {float(d.group(1)):+.2f} [{float(d.group(2)):+.2f}, {float(d.group(3)):+.2f}] "
      f"| {float(k.group(1)):.4f} ± {float(k.group(2)):.4f} | {float(k.group(3)):.4f} | {float(k.group(4)):.3f} | {float(top.group(1)):.2f} ± {float(top.group(2)):.2f}% |")
PY
  done <<'ROWS'
W8A8|rtn|--wbits 8 --abits 8
W4A16 g128|rtn|--wbits 4 --abits 16 --group 128
W4A16 g128|gptq|--wbits 4 --abits 16 --group 128
W4A8|rtn|--wbits 4 --abits 8
W4A4|rtn|--wbits 4 --abits 4
W4A4|duquant+gptq|--wbits 4 --abits 4
ROWS
}

section_weights() {
  echo "## Weight quantizers: HQQ, NF4, SqueezeLLM, LLM.int8(), LoRC (ref-llama-s)"
  echo
  echo "Measured $(machine). \`scripts/results_weights.sh\`: each row is one \`lowbit quantize\`"
  echo "(128 x 512 calibration tokens of \`corpus/calib.txt\` for the methods that calibrate; the"
  echo "output head in full precision), then WikiText-2 perplexity on the integer kernels (the whole"
  echo "test file, in windows of 512 tokens) and \`lowbit bench --single\` (a 128-token prefill, 64 decoded"
  echo "tokens, all cores). Bits per weight are the decoder projections' as stored: codes at their"
  echo "width (3-bit codes in a bit-plane container, codebook codes too), fp32 scales, zero points,"
  echo "codebooks (NF4's shared fp32 table, SqueezeLLM's fp16 table per row) and side data (fp16"
  echo "outlier columns, the sparse part's fp16 values with 16-bit columns, low-rank factors). Quantize time includes calibration. The 3-bit rows' decode pays"
  echo "for unpacking the bit planes (docs/kernels.md)."
  echo "The --bits-budget rows count the budget's bits nominally (code width plus scales) or as"
  echo "stored (what this column shows; docs/quantization.md)."
  echo
  bash scripts/results_weights.sh
}

section_lut() {
  qgemm_bench '^W4A(16|8)(lut-shared|lut-rows|lut-rows-gather)?/' "$TMP/lut.csv"
  echo "## Look-up-table kernels for codebook weights (one thread)"
  echo
  echo "Measured $(machine) by \`build/bench/lowbit_bench_qgemm\` with"
  echo "\`LOWBIT_BENCH_THREADS=1\`, on ref-llama-s's shapes, m = 512 and m = 1. \"W4A16\": the integer"
  echo "grid dequantized in registers (per-channel scales; g128 with groups); \"W4A16lut-shared\": one"
  echo "16-entry fp32 table for the whole matrix with absmax scales per 64 (NF4), looked up with"
  echo "vpermps (AVX-512) or two vpermps and a blend (AVX2); \"W4A16lut-rows\": a table per output row"
  echo "(SqueezeLLM) in the row layout PackedLinear gives it (\`qgemm_lut_rows\`: one vpermps per 16"
  echo "codes of a row), \"W4A16lut-rows-gather\": the same weights in the packed layout, looked up"
  echo "with gathers (what per-row tables with groups still run on). \"W4A8lut-shared\": the shared"
  echo "table rounded to int8"
  echo "against 8-bit activations (\`qgemm_lut8\`: vpshufb into int8 panels for the W8A8 kernel), next"
  echo "to \"W4A8\", the integer grid. GOPS = 2 m n k / CPU time."
  echo
  awk -f scripts/results_kernels.awk "$TMP/lut.csv"
}

section_serve() {
  local q="$TMP/serve-w4a8.lowbit"
  ./build/lowbit quantize -q -m "$MODEL" --method rtn --wbits 4 --abits 8 -o "$q" > /dev/null
  echo "## Serving: continuous batching (ref-llama-s W4A8)"
  echo
  echo "Measured $(machine). \`scripts/bench_serve.sh\`: \`lowbit serve --parallel 4\` on ref-llama-s"
  echo "RTN W4A8, requests of 128 sampled tokens (ignore_eos), one at a time and then 4 at once (sent"
  echo "by one \`curl -Z\` process), in 8 interleaved rounds. Throughput is decode rows over the time"
  echo "spent in decode steps, as the server's /metrics counts them (lowbit_decode_rows_total /"
  echo "lowbit_decode_seconds_total);"
  echo "\"rows per step\" is how many sequences each batched forward carried. First with every core"
  echo "(the default), then with one thread (\`-t 1\`), where a step's cost is the kernels' and not"
  echo "the split of a one-row product over the cores."
  echo
  ROUNDS=8 bash scripts/bench_serve.sh "$q" 4 128
  echo
  ROUNDS=8 THREADS=1 bash scripts/bench_serve.sh "$q" 4 128
  echo
  echo "The ratio is the 4-stream step's gain from the other cores against the 1-stream step's (the"
  echo "two tables' throughputs, row by row). For reference, how the same file's prefill (a 512-token"
  echo "window: large, compute-bound products) and one-row decode (16 tokens) scale with the cores,"
  echo "\`lowbit bench --single\`, same run:"
  echo
  echo "| threads | prefill tok/s | decode tok/s |"
  echo "| ---: | ---: | ---: |"
  local p1 d1 p2 d2 cores
  cores=$(nproc)
  read -r p1 d1 _ < <(./build/lowbit bench -m "$q" --single --prompt 512 --decode 16 --reps 3 -t 1 |
    sed -n 's/^bench-row //p')
  read -r p2 d2 _ < <(./build/lowbit bench -m "$q" --single --prompt 512 --decode 16 --reps 3 -t "$cores" |
    sed -n 's/^bench-row //p')
  printf '| 1 | %.0f | %.0f |\n' "$p1" "$d1"
  awk -v c="$cores" -v p1="$p1" -v d1="$d1" -v p2="$p2" -v d2="$d2" \
    'BEGIN { printf "| %d | %.0f (%.2fx) | %.0f (%.2fx) |\n", c, p2, p2 / p1, d2, d2 / d1 }'
}

# The current text of section $1 in $OUT (nothing if absent).
old_section() {
  [ -f "$OUT" ] || return 0
  awk -v s="$1" '$0 == "<!-- section: " s " -->" { on = 1; next }
                 $0 == "<!-- end: " s " -->" { on = 0 } on' "$OUT"
}

requested=("$@")
[ ${#requested[@]} -eq 0 ] && requested=("${ALL_SECTIONS[@]}")
for s in "${requested[@]}"; do
  [[ " ${ALL_SECTIONS[*]} " == *" $s "* ]] || { echo "unknown section '$s' (known: ${ALL_SECTIONS[*]})" >&2; exit 2; }
  echo "measuring section '$s'..." >&2
  "section_$s" > "$TMP/$s.md"
done
{
  echo "# Results"
  echo
  echo "Generated by \`scripts/results.sh\`; each section says when and on what machine it was"
  echo "measured. Machines are noisy: compare ratios within one section, not absolute figures"
  echo "across sections or runs."
  for s in "${ALL_SECTIONS[@]}"; do
    echo
    echo "<!-- section: $s -->"
    if [ -f "$TMP/$s.md" ]; then cat "$TMP/$s.md"; else old_section "$s"; fi
    echo "<!-- end: $s -->"
  done
} > "$TMP/results.md"
mv "$TMP/results.md" "$OUT"
echo "wrote $OUT" >&2
