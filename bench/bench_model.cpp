// Speed of the fp32 engine on ref-llama-s: prefill (512-token window) and decode tokens/s, the
// GFLOP/s of lowbit's sgemm against OpenBLAS's own threaded sgemm on the model's shapes, and the
// memory read bandwidth that bounds decode. Run: ./build/bench/lowbit_bench
// [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include "core/read_bandwidth.h"
#include "core/thread_pool.h"
#include "io/model_loader.h"
#include "kernels/sgemm.h"

namespace lowbit {
namespace {

std::filesystem::path ref_model() {
  if (const char* p = std::getenv("LOWBIT_BENCH_MODEL")) return p;
  return std::filesystem::path(LOWBIT_SHARED_DIR) / "models/ref-llama-s";
}

LoadedModel& model() {
  // LOWBIT_BENCH_THREADS: worker threads (default: all cores); 1 shows the kernels alone.
  if (const char* t = std::getenv("LOWBIT_BENCH_THREADS")) set_num_threads(std::atoi(t));
  static LoadedModel m = load_model(ref_model());
  return m;
}

std::vector<int32_t> prompt(size_t n) {
  std::vector<int32_t> ids(n);
  std::mt19937 rng(0);
  for (auto& id : ids) id = static_cast<int32_t>(3 + rng() % 31000);
  ids[0] = 1;
  return ids;
}

// Multiply-adds x2 of one token through the linear layers (the output head counted separately).
double linear_flops_per_token(const ModelConfig& c) {
  const double d = c.dim, h = c.hidden_dim, q = c.q_dim(), kv = c.kv_dim();
  return 2.0 * c.n_layers * (d * q + 2 * d * kv + q * d + 3 * d * h);
}

void BM_Prefill(benchmark::State& state) {
  auto& m = *model().model;
  const auto ids = prompt(static_cast<size_t>(state.range(0)));
  KVCache cache = m.make_cache(static_cast<int>(ids.size()));
  for (auto _ : state) {
    cache.clear();
    benchmark::DoNotOptimize(m.forward(ids, cache).data());
  }
  const double n = static_cast<double>(ids.size());
  const auto& c = m.config();
  // Causal attention: QK^T and PV over n(n+1)/2 pairs per head.
  const double attn = 4.0 * c.n_layers * c.n_heads * c.head_dim * n * (n + 1) / 2;
  const double flops = n * linear_flops_per_token(c) + attn + 2.0 * c.dim * c.vocab_size;
  state.counters["tokens/s"] = benchmark::Counter(n, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Prefill)->Arg(512)->Arg(128)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Decode(benchmark::State& state) {
  auto& m = *model().model;
  const auto ids = prompt(static_cast<size_t>(state.range(0)));
  KVCache cache = m.make_cache(static_cast<int>(ids.size()) + 1);
  m.forward(std::span(ids).first(ids.size() - 1), cache);
  const int32_t token[] = {ids.back()};
  for (auto _ : state) {
    cache.truncate(static_cast<int>(ids.size()) - 1);
    benchmark::DoNotOptimize(m.forward(token, cache).data());
  }
  state.counters["tokens/s"] = benchmark::Counter(1, benchmark::Counter::kIsIterationInvariantRate);
  // Bytes of weights streamed per token: every projection and the output head.
  const auto& c = m.config();
  const double bytes = 4.0 * (linear_flops_per_token(c) / 2 + double(c.dim) * c.vocab_size);
  state.counters["weight GB/s"] =
      benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Decode)->Arg(16)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();

// One batched decode step of `rows` sequences (continuous batching in `lowbit serve`): each row
// has its own 64-token context; tokens/s counts rows. The ratio of rows=4 to rows=1 is the
// payoff of sharing each weight load across the rows.
void BM_DecodeBatch(benchmark::State& state) {
  auto& m = *model().model;
  const auto rows = static_cast<size_t>(state.range(0));
  const auto ids = prompt(64);
  std::vector<KVCache> caches;
  std::vector<KVCache*> pointers;
  for (size_t r = 0; r < rows; ++r) caches.push_back(m.make_cache(static_cast<int>(ids.size())));
  for (auto& cache : caches) {
    m.forward(std::span(ids).first(ids.size() - 1), cache);
    pointers.push_back(&cache);
  }
  const std::vector<int32_t> tokens(rows, ids.back());
  for (auto _ : state) {
    for (auto& cache : caches) cache.truncate(static_cast<int>(ids.size()) - 1);
    benchmark::DoNotOptimize(m.forward_batch(tokens, pointers).data());
  }
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_DecodeBatch)
    ->Arg(1)
    ->Arg(2)
    ->Arg(4)
    ->Arg(8)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The model's GEMM shapes for a 512-token window: (m, n, k) with n = output features.
void gemm_shapes(benchmark::internal::Benchmark* b) {
  b->Args({512, 384, 384})
      ->Args({512, 128, 384})
      ->Args({512, 1024, 384})
      ->Args({512, 384, 1024})
      ->Args({512, 32000, 384})
      ->Args({1, 1024, 384});
}

struct GemmData {
  std::vector<float> a, b, c;
  explicit GemmData(size_t m, size_t n, size_t k) : a(m * k), b(n * k), c(m * n) {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(-1, 1);
    for (auto& x : a) x = u(rng);
    for (auto& x : b) x = u(rng);
  }
};

void set_gflops(benchmark::State& state, size_t m, size_t n, size_t k) {
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(m) * double(n) * double(k) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

void BM_SgemmLowbit(benchmark::State& state) {
  const auto m = static_cast<size_t>(state.range(0)), n = static_cast<size_t>(state.range(1)),
             k = static_cast<size_t>(state.range(2));
  GemmData d(m, n, k);
  for (auto _ : state) kernels::sgemm_nt(m, n, k, d.a.data(), k, d.b.data(), k, d.c.data(), n);
  set_gflops(state, m, n, k);
}
BENCHMARK(BM_SgemmLowbit)->Apply(gemm_shapes)->UseRealTime();

// OpenBLAS with its own threads (all cores), the reference for lowbit's fp32 GEMM.
void BM_SgemmOpenBLAS(benchmark::State& state) {
  const auto m = static_cast<size_t>(state.range(0)), n = static_cast<size_t>(state.range(1)),
             k = static_cast<size_t>(state.range(2));
  GemmData d(m, n, k);
  kernels::sgemm_nt_serial(1, 1, 1, d.a.data(), 1, d.b.data(), 1, d.c.data(),
                           1);  // init lowbit's setting
  openblas_set_num_threads(thread_pool().size());
  const int M = static_cast<int>(m), N = static_cast<int>(n), K = static_cast<int>(k);
  for (auto _ : state)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, d.a.data(), K, d.b.data(),
                K, 0.0f, d.c.data(), N);
  openblas_set_num_threads(1);
  set_gflops(state, m, n, k);
}
BENCHMARK(BM_SgemmOpenBLAS)->Apply(gemm_shapes)->UseRealTime();

// Streaming read bandwidth over 256 MiB with all threads: the ceiling for fp32 decode.
// Read bandwidth of all threads over a buffer of range(0) MiB, or, for 0, of the model's fp32
// weight bytes: exactly what one decode step streams, which on a CPU with a large L3 may be served
// from cache. The probe is core/read_bandwidth.h's, as `lowbit bench --bandwidth-mib` runs it.
void BM_MemoryReadBandwidth(benchmark::State& state) {
  const size_t bytes = state.range(0) > 0 ? static_cast<size_t>(state.range(0)) << 20
                                          : model().model->weights().weight_bytes();
  const size_t n = bytes / sizeof(uint32_t);
  std::vector<uint32_t> buf(n, 1u);
  for (auto _ : state) benchmark::DoNotOptimize(sum_with_all_threads(buf));
  state.counters["MB"] = static_cast<double>(bytes) * 1e-6;
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(n) * sizeof(uint32_t) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_MemoryReadBandwidth)->Arg(0)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace lowbit

BENCHMARK_MAIN();
