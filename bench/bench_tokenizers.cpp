// Tokenization speed per tokenizer kind: the WikiText-2 test file (1.3 MB) in one encode call,
// and one 1 MB "word" without spaces (the worst case of a quadratic merge loop). Bytes/s is the
// input's size over CPU time. The targets: >= 1 MB/s on the file for every kind, and the
// 1 MB word in under 2 s.
//   ./build/bench/lowbit_bench_tokenizers
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <string>

#include "text/text_file.h"
#include "text/tokenizer.h"

namespace lowbit {
namespace {

const std::filesystem::path kShared = LOWBIT_SHARED_DIR;

std::unique_ptr<Tokenizer> load(int kind) {
  switch (kind) {
    case 0:
      return load_sentencepiece_tokenizer(kShared / "tokenizers/llama2/tokenizer.model");
    case 1:
      return load_bpe_tokenizer_json(kShared / "tokenizers/smollm2/tokenizer.json");
    default:
      return load_llama2c_tokenizer(kShared / "tokenizers/llama2/tokenizer.bin");
  }
}

const char* kKinds[] = {"sentencepiece", "byte_level_bpe", "llama2c"};

void BM_EncodeWikiText2(benchmark::State& state) {
  const auto tok = load(static_cast<int>(state.range(0)));
  const std::string text = read_text_file(kShared / "data/wikitext-2/wiki.test.raw");
  for (auto _ : state) benchmark::DoNotOptimize(tok->encode(text));
  state.SetLabel(kKinds[state.range(0)]);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_EncodeWikiText2)->DenseRange(0, 2)->Unit(benchmark::kMillisecond)->Iterations(1);

void BM_EncodeOneMegabyteWord(benchmark::State& state) {
  const auto tok = load(static_cast<int>(state.range(0)));
  std::string word;
  std::mt19937 rng(1);
  while (word.size() < (1u << 20)) word.push_back(static_cast<char>(97 + rng() % 26));
  for (auto _ : state) benchmark::DoNotOptimize(tok->encode(word));
  state.SetLabel(kKinds[state.range(0)]);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * word.size()));
}
BENCHMARK(BM_EncodeOneMegabyteWord)->DenseRange(0, 2)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace
}  // namespace lowbit

BENCHMARK_MAIN();
