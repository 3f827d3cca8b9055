// Prefill attention of one ref-llama-s layer (512 tokens, 6 query heads over 2 KV heads, head
// size 64) on one thread, fused kernel against the unfused path (per KV head and block of 64
// queries: OpenBLAS scores, softmax, OpenBLAS weighted sum; what LlamaModel runs where no fused
// variant exists). GFLOPS counts the 4 head_dim flops of every causally visible (query, key)
// pair for both, so the unfused path's computed-then-masked scores count as overhead.
//   ./build/bench/lowbit_bench_attention
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/cpu_features.h"
#include "kernels/sgemm.h"
#include "kernels/vmath.h"

namespace lowbit::kernels {
namespace {

constexpr size_t kTokens = 512, kHeads = 6, kKvHeads = 2, kHeadDim = 64, kBlock = 64;
constexpr size_t kGroup = kHeads / kKvHeads, kQDim = kHeads * kHeadDim,
                 kKvDim = kKvHeads * kHeadDim;

struct Layer {
  std::vector<float> q, k, v, out;
  Layer() : q(kTokens * kQDim), k(kTokens * kKvDim), v(kTokens * kKvDim), out(kTokens * kQDim) {
    std::mt19937 rng(3);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (auto* buf : {&q, &k, &v})
      for (auto& x : *buf) x = normal(rng);
  }
};

void set_flops(benchmark::State& state) {
  const double pairs = double(kHeads) * kTokens * (kTokens + 1) / 2;
  state.counters["GFLOPS"] = benchmark::Counter(4.0 * double(kHeadDim) * pairs * 1e-9,
                                                benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Fused(benchmark::State& state) {
  Layer L;
  std::vector<float> kt(kKvHeads * kHeadDim * kTokens);
  std::vector<uint32_t> lens(kBlock);
  const float scale = 1.0f / std::sqrt(float(kHeadDim));
  for (auto _ : state) {
    for (size_t h = 0; h < kKvHeads; ++h)
      for (size_t t = 0; t < kTokens; ++t)
        for (size_t d = 0; d < kHeadDim; ++d)
          kt[(h * kHeadDim + d) * kTokens + t] = L.k[t * kKvDim + h * kHeadDim + d];
    for (size_t head = 0; head < kHeads; ++head)
      for (size_t i0 = 0; i0 < kTokens; i0 += kBlock) {
        for (size_t r = 0; r < kBlock; ++r) lens[r] = static_cast<uint32_t>(i0 + r + 1);
        const size_t kv = head / kGroup;
        CausalAttentionProblem p;
        p.q = L.q.data() + i0 * kQDim + head * kHeadDim;
        p.rows = kBlock;
        p.ldq = kQDim;
        p.lens = lens.data();
        p.kt = kt.data() + kv * kHeadDim * kTokens;
        p.ldkt = kTokens;
        p.v = L.v.data() + kv * kHeadDim;
        p.ldv = kKvDim;
        p.n_keys = kTokens;
        p.head_dim = kHeadDim;
        p.scale = scale;
        p.out = L.out.data() + i0 * kQDim + head * kHeadDim;
        p.ldo = kQDim;
        causal_attention(p);
      }
    benchmark::DoNotOptimize(L.out.data());
  }
  state.SetLabel(std::string(isa_name(causal_attention_isa())));
  set_flops(state);
}

void BM_Unfused(benchmark::State& state) {
  Layer L;
  const size_t stacked = kGroup * kBlock;
  std::vector<float> q(stacked * kHeadDim), scores(stacked * kTokens), out(stacked * kHeadDim);
  const float scale = 1.0f / std::sqrt(float(kHeadDim));
  for (auto _ : state) {
    for (size_t kv = 0; kv < kKvHeads; ++kv)
      for (size_t i0 = 0; i0 < kTokens; i0 += kBlock) {
        const size_t visible = i0 + kBlock;
        for (size_t j = 0; j < kGroup; ++j)
          for (size_t r = 0; r < kBlock; ++r)
            std::copy_n(L.q.data() + (i0 + r) * kQDim + (kv * kGroup + j) * kHeadDim, kHeadDim,
                        q.data() + (j * kBlock + r) * kHeadDim);
        sgemm_nt_serial(stacked, visible, kHeadDim, q.data(), kHeadDim, L.k.data() + kv * kHeadDim,
                        kKvDim, scores.data(), visible);
        for (size_t j = 0; j < kGroup; ++j)
          for (size_t r = 0; r < kBlock; ++r) {
            float* s = scores.data() + (j * kBlock + r) * visible;
            const size_t len = i0 + r + 1;
            softmax(std::span(s, len), scale);
            std::fill(s + len, s + visible, 0.0f);
          }
        sgemm_nn_serial(stacked, kHeadDim, visible, scores.data(), visible,
                        L.v.data() + kv * kHeadDim, kKvDim, out.data(), kHeadDim);
        for (size_t j = 0; j < kGroup; ++j)
          for (size_t r = 0; r < kBlock; ++r)
            std::copy_n(out.data() + (j * kBlock + r) * kHeadDim, kHeadDim,
                        L.out.data() + (i0 + r) * kQDim + (kv * kGroup + j) * kHeadDim);
      }
    benchmark::DoNotOptimize(L.out.data());
  }
  state.SetLabel("openblas");
  set_flops(state);
}

BENCHMARK(BM_Fused)->Name("attention/fused/t:512")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Unfused)->Name("attention/unfused/t:512")->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace lowbit::kernels

BENCHMARK_MAIN();
