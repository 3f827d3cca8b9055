#!/usr/bin/env bash
# Line and region coverage of the parsers by the committed fuzz corpora: builds the replay
# binaries with clang's source-based coverage (build-cov), replays each target's corpus and
# regression inputs, merges the profiles and prints one markdown row per parser source file
# (docs/fuzzing.md's coverage table). Usage: scripts/fuzz_coverage.sh > coverage.md
set -euo pipefail
cd "$(dirname "$0")/.."
export LOWBIT_SHARED=${LOWBIT_SHARED:-$PWD/../shared}
[ -d /dev/shm ] && export TMPDIR=/dev/shm
if [ ! -f build-cov/CMakeCache.txt ]; then
  CC=clang CXX=clang++ cmake -S . -B build-cov -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS="-fprofile-instr-generate -fcoverage-mapping -O1" \
    -DCMAKE_EXE_LINKER_FLAGS="-fprofile-instr-generate" \
    -DLOWBIT_BUILD_TESTS=OFF -DLOWBIT_BUILD_BENCH=OFF > /dev/null
fi
targets=()
for f in fuzz/targets/*.cpp; do targets+=("$(basename "$f" .cpp)"); done
replays=()
for t in "${targets[@]}"; do replays+=("lowbit_fuzz_${t}_replay"); done
cmake --build build-cov -j"$(nproc)" --target "${replays[@]}" > build-cov/build.log 2>&1 ||
  { tail -30 build-cov/build.log >&2; exit 1; }
rm -rf build-cov/prof && mkdir -p build-cov/prof
objects=()
for t in "${targets[@]}"; do
  bin=build-cov/fuzz/lowbit_fuzz_${t}_replay
  LLVM_PROFILE_FILE=build-cov/prof/$t.profraw "$bin" "fuzz/corpus/$t" "fuzz/regressions/$t" > /dev/null
  objects+=(-object "$bin")
done
llvm-profdata merge -sparse -o build-cov/prof/all.profdata build-cov/prof/*.profraw
# The files whose job is to parse what users download (the rest of src/ is reached only as far
# as a parser hands it data).
files=(src/core/json.cpp src/io/safetensors.cpp src/io/hf_checkpoint.cpp
       src/io/llama2c_checkpoint.cpp src/io/lowbit_file.cpp src/io/quantized_model_io.cpp
       src/text/byte_level_bpe.cpp src/text/sentencepiece_tokenizer.cpp
       src/text/llama2c_tokenizer.cpp src/text/chunked_encode.cpp src/eval/task_data.cpp
       src/kernels/packed_weights.cpp src/quant/bit_format.cpp src/quant/method_registry.cpp)
echo "| file | lines covered | regions covered | functions covered |"
echo "| --- | ---: | ---: | ---: |"
llvm-cov report "${objects[@]:1}" -instr-profile=build-cov/prof/all.profdata "${files[@]}" |
  awk -v root="$PWD/" '$1 ~ /\.cpp$/ || $1 == "TOTAL" {
      name = $1; sub(root, "", name)
      # Filename Regions Missed Cover Functions Missed Executed Lines Missed Cover [Branches ...]
      printf "| %s | %s of %d | %s of %d | %s of %d |\n", (name == "TOTAL" ? "**all of the above**" : "`" name "`"),
             $10, $8, $4, $2, $7, $5
    }'
