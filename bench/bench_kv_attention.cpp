// Decode attention over an integer KV cache (kernels/kv_attention.h), per ISA variant: the scores
// q . value_t and the weighted sum sum_t p_t value_t of one ref-llama-s KV head (head size 64, the
// 3 query heads of its group) over a cache of 1536 positions, int8 and int4 codes. GB/s counts
// the cached codes read once per call (what decode over a quantized cache is bound by).
//   ./build/bench/lowbit_bench_kv_attention [--benchmark_filter=kv_weighted_sum]
// Names: <product>/<isa>/bits:<b>/t:<positions>.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/kv_attention.h"

namespace lowbit::kernels {
namespace {

constexpr size_t kHeadDim = 64, kRows = 3, kPositions = 1536;

struct Cache {
  std::vector<uint8_t> codes;
  std::vector<float> params;  // scale, zero per position
  KvCodesView view;
  explicit Cache(int bits) {
    std::mt19937 rng(5);
    const size_t row_bytes = bits == 8 ? kHeadDim : kHeadDim / 2;
    codes.resize(kPositions * row_bytes);
    for (auto& c : codes) c = static_cast<uint8_t>(rng());
    params.resize(kPositions * 2);
    std::uniform_real_distribution<float> scale(0.001f, 0.1f);
    std::uniform_int_distribution<int> zero(0, (1 << bits) - 1);
    for (size_t t = 0; t < kPositions; ++t) {
      params[2 * t] = scale(rng);
      params[2 * t + 1] = static_cast<float>(zero(rng));
    }
    view = {codes.data(), row_bytes, params.data(), 2, bits, -(1 << (bits - 1)), kHeadDim};
  }
};

std::vector<float> random_floats(size_t count) {
  std::mt19937 rng(6);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(count);
  for (auto& x : v) x = u(rng);
  return v;
}

void set_bandwidth(benchmark::State& state, const Cache& c) {
  state.counters["GB/s"] = benchmark::Counter(double(c.codes.size()) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

void bench_scores(benchmark::State& state, Isa isa, int bits) {
  ScopedIsa force(isa);
  const Cache c(bits);
  const std::vector<float> q = random_floats(kRows * kHeadDim);
  std::vector<float> scores(kRows * kPositions);
  for (auto _ : state) {
    kv_scores(q.data(), kRows, kHeadDim, c.view, kPositions, scores.data(), kPositions);
    benchmark::DoNotOptimize(scores.data());
  }
  set_bandwidth(state, c);
}

void bench_weighted_sum(benchmark::State& state, Isa isa, int bits) {
  ScopedIsa force(isa);
  const Cache c(bits);
  const std::vector<float> p = random_floats(kRows * kPositions);
  std::vector<float> out(kRows * kHeadDim);
  for (auto _ : state) {
    kv_weighted_sum(p.data(), kRows, kPositions, c.view, kPositions, out.data(), kHeadDim);
    benchmark::DoNotOptimize(out.data());
  }
  set_bandwidth(state, c);
}

void register_all() {
  for (Isa isa : supported_isas()) {
    {
      ScopedIsa force(isa);
      if (kv_attention_isa() != isa) continue;  // no variant of its own
    }
    for (int bits : {8, 4}) {
      // Appended piece by piece: GCC 12 warns (-Wrestrict, a false positive) on "literal" + string.
      std::string tail = "/";
      tail += isa_name(isa);
      tail += "/bits:";
      tail += std::to_string(bits);
      tail += "/t:";
      tail += std::to_string(kPositions);
      benchmark::RegisterBenchmark((std::string("kv_scores") + tail).c_str(),
                                   [=](benchmark::State& st) { bench_scores(st, isa, bits); })
          ->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark((std::string("kv_weighted_sum") + tail).c_str(),
                                   [=](benchmark::State& st) { bench_weighted_sum(st, isa, bits); })
          ->Unit(benchmark::kMicrosecond);
    }
  }
}

}  // namespace
}  // namespace lowbit::kernels

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  lowbit::kernels::register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
