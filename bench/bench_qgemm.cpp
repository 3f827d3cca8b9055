// Throughput of the low-bit kernels on the reference model's shapes, per ISA variant, against
// lowbit's fp32 sgemm (OpenBLAS). GOPS counts 2 m n k operations (a multiply and an add per
// weight and row) for every path, so the numbers compare directly.
//   ./build/bench/lowbit_bench_qgemm [--benchmark_filter=W4A8]
// Names: <path>/<isa>/m:<m>/n:<n>/k:<k>[/g:<group>]. W4A4 runs the W4A8 kernel (4-bit values in
// int8); "W4A4/<isa>" and "W4A4packed16/<isa>" set it against Agile-Quant's packed int16
// multiplier (qgemm_packed16) on the ISAs that have one; "+quant" adds the on-the-fly activation
// quantization. "asym" paths quantize activations asymmetrically (clip 0.9, DuQuant's setting):
// 4-bit ones run the same kernel with codes q - z, 8-bit ones add the per-row offset term in the
// epilogue (weight sums precomputed, as PackedLinear caches them). "W4A16lut" runs codebook
// weights through the look-up-table kernels: "shared" one 16-entry table (NF4, blocks of 64 with
// their absmax scales), "rows" a table per output row (SqueezeLLM, no scales) in the row layout
// PackedLinear gives them (qgemm_lut_rows: one register permute per 16 codes of a row),
// "rows-gather" the same weights in the packed layout (qgemm_f32: gathers; what per-row tables with
// groups still run on), to set against "W4A16" (the integer grid dequantized in registers) under
// the same ISA. "W4A8lut-shared" is the shared table rounded to int8 with 8-bit activations
// (qgemm_lut8: vpshufb look-up into int8 panels for the W8A8 kernel), to set against "W4A8" (the
// integer grid). "W4A8cold" / "W8A8cold" run the output head's shape for a decode step (m = 1) and
// a server's 4-row decode batch (m = 4) with the weights out of cache, as a model's step meets
// them: each iteration takes the next of enough copies to fill kColdBytes.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu_features.h"
#include "kernels/qgemm.h"
#include "kernels/qgemm_lut_rows.h"
#include "kernels/sgemm.h"

namespace lowbit::kernels {
namespace {

struct Shape {
  size_t n, k;
};
// Fused q/k/v, attention output, fused gate/up, down projection, output head (ref-llama-s).
constexpr Shape kShapes[] = {{1152, 384}, {384, 384}, {2048, 384}, {384, 1024}, {32000, 384}};
constexpr size_t kRows[] = {512, 1};

PackedWeights random_packed(size_t n, size_t k, int bits, size_t group) {
  std::mt19937 rng(1);
  std::vector<uint8_t> codes(n * k);
  std::uniform_int_distribution<int> code(0, (1 << bits) - 1);
  for (auto& c : codes) c = static_cast<uint8_t>(code(rng));
  const size_t groups = group == 0 ? 1 : (k + group - 1) / group;
  std::vector<float> scales(n * groups, 0.01f);
  return pack_weights(codes, n, k, bits, group, scales, {}, 1 << (bits - 1));
}

std::vector<float> random_floats(size_t count) {
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(count);
  for (auto& x : v) x = u(rng);
  return v;
}

constexpr size_t kColdBytes = size_t{96} << 20;  // more than the caches of any CPU this runs on

void set_gops(benchmark::State& state, size_t m, size_t n, size_t k) {
  state.counters["GOPS"] = benchmark::Counter(2.0 * double(m) * double(n) * double(k) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

void bench_int(benchmark::State& state, Isa isa, size_t m, Shape s, int wbits, size_t group,
               bool with_quant, ActivationFormat af = {}) {
  ScopedIsa force(isa);
  const PackedWeights w = random_packed(s.n, s.k, wbits, group);
  const std::vector<int32_t> wsums =
      af.has_offsets() ? packed_weight_sums(w.view()) : std::vector<int32_t>{};
  const std::vector<float> x = random_floats(m * s.k);
  QuantizedActivations a;
  a.quantize(x, m, s.k, af);
  std::vector<float> y(m * s.n);
  for (auto _ : state) {
    if (with_quant) a.quantize(x, m, s.k, af);
    qgemm(a.view(), w.view(), {}, y, s.n, wsums);
    benchmark::DoNotOptimize(y.data());
  }
  set_gops(state, m, s.n, s.k);
  state.counters["weight_MB"] = double(w.bytes().size()) * 1e-6;
}

// bench_int's product with the weights out of cache: copies of the matrix, taken in turn.
void bench_int_cold(benchmark::State& state, Isa isa, size_t m, Shape s, int wbits) {
  ScopedIsa force(isa);
  std::vector<PackedWeights> copies;
  size_t bytes = 0;
  while (bytes < kColdBytes) {
    copies.push_back(random_packed(s.n, s.k, wbits, 0));
    bytes += copies.back().bytes().size();
  }
  const std::vector<float> x = random_floats(m * s.k);
  QuantizedActivations a;
  a.quantize(x, m, s.k, ActivationFormat{});
  std::vector<float> y(m * s.n);
  size_t next = 0;
  for (auto _ : state) {
    qgemm(a.view(), copies[next].view(), {}, y, s.n);
    next = (next + 1) % copies.size();
    benchmark::DoNotOptimize(y.data());
  }
  set_gops(state, m, s.n, s.k);
  state.counters["weight_GBps"] = benchmark::Counter(double(copies[0].bytes().size()) * 1e-9,
                                                     benchmark::Counter::kIsIterationInvariantRate);
}

// W4A4 (4-bit symmetric activations) through the packed int16 multiplier (qgemm_packed16), to set
// against "W4A4/<isa>" (the same product through qgemm) under the same ISA.
void bench_packed16(benchmark::State& state, Isa isa, size_t m, Shape s) {
  ScopedIsa force(isa);
  const PackedWeights w = random_packed(s.n, s.k, 4, 0);
  const std::vector<int32_t> wsums = packed_weight_sums(w.view());
  const std::vector<float> x = random_floats(m * s.k);
  QuantizedActivations a;
  a.quantize(x, m, s.k, ActivationFormat{4, true, 1.0f});
  std::vector<float> y(m * s.n);
  for (auto _ : state) {
    qgemm_packed16(a.view(), w.view(), {}, y, s.n, wsums);
    benchmark::DoNotOptimize(y.data());
  }
  set_gops(state, m, s.n, s.k);
  state.counters["weight_MB"] = double(w.bytes().size()) * 1e-6;
}

// fp32 activations against packed weights `w` (qgemm_f32: the integer grid or a codebook).
void time_f32(benchmark::State& state, const PackedWeights& w, size_t m, Shape s) {
  const std::vector<float> x = random_floats(m * s.k);
  std::vector<float> y(m * s.n);
  for (auto _ : state) {
    qgemm_f32(x, m, s.k, w.view(), {}, y, s.n);
    benchmark::DoNotOptimize(y.data());
  }
  set_gops(state, m, s.n, s.k);
  state.counters["weight_MB"] = double(w.bytes().size()) * 1e-6;
}

void bench_f32(benchmark::State& state, Isa isa, size_t m, Shape s, int wbits, size_t group) {
  ScopedIsa force(isa);
  time_f32(state, random_packed(s.n, s.k, wbits, group), m, s);
}

void bench_lut(benchmark::State& state, Isa isa, size_t m, Shape s, bool per_row) {
  ScopedIsa force(isa);
  std::mt19937 rng(3);
  std::vector<uint8_t> codes(s.n * s.k);
  std::uniform_int_distribution<int> code(0, 15);
  for (auto& c : codes) c = static_cast<uint8_t>(code(rng));
  const size_t group = per_row ? 0 : 64, groups = per_row ? 1 : (s.k + 63) / 64;
  const size_t tables = per_row ? s.n : 1;
  const std::vector<float> scales(s.n * groups, per_row ? 1.0f : 0.01f);
  const std::vector<float> codebook = random_floats(tables * 16);
  time_f32(state, pack_codebook_weights(codes, s.n, s.k, group, scales, codebook, tables), m, s);
}

void bench_lut_rows(benchmark::State& state, Isa isa, size_t m, Shape s) {
  ScopedIsa force(isa);
  std::mt19937 rng(3);
  std::vector<uint8_t> codes(s.n * s.k);
  std::uniform_int_distribution<int> code(0, 15);
  for (auto& c : codes) c = static_cast<uint8_t>(code(rng));
  const std::vector<float> scales(s.n, 1.0f);
  const std::vector<float> tables = random_floats(s.n * 16);
  const LutRowsWeights w = LutRowsWeights::from_packed(
      pack_codebook_weights(codes, s.n, s.k, 0, scales, tables, s.n).view());
  const std::vector<float> x = random_floats(m * s.k);
  std::vector<float> y(m * s.n);
  for (auto _ : state) {
    qgemm_lut_rows(x, m, s.k, w, {}, y, s.n);
    benchmark::DoNotOptimize(y.data());
  }
  set_gops(state, m, s.n, s.k);
  state.counters["weight_MB"] = double(w.bytes()) * 1e-6;
}

void bench_lut8(benchmark::State& state, Isa isa, size_t m, Shape s) {
  ScopedIsa force(isa);
  std::mt19937 rng(4);
  std::vector<uint8_t> codes(s.n * s.k);
  std::uniform_int_distribution<int> code(0, 15);
  for (auto& c : codes) c = static_cast<uint8_t>(code(rng));
  const std::vector<float> scales(s.n * ((s.k + 63) / 64), 0.01f);
  const std::vector<float> table = random_floats(16);
  const PackedWeights w = pack_codebook_weights(codes, s.n, s.k, 64, scales, table, 1);
  const Lut8Table t = lut8_table(table);
  const std::vector<float> x = random_floats(m * s.k);
  QuantizedActivations a;
  a.quantize(x, m, s.k, ActivationFormat{});
  std::vector<float> y(m * s.n);
  for (auto _ : state) {
    qgemm_lut8(a.view(), w.view(), t, {}, y, s.n);
    benchmark::DoNotOptimize(y.data());
  }
  set_gops(state, m, s.n, s.k);
  state.counters["weight_MB"] = double(w.bytes().size()) * 1e-6;
}

void bench_sgemm(benchmark::State& state, size_t m, Shape s) {
  const std::vector<float> x = random_floats(m * s.k), w = random_floats(s.n * s.k);
  std::vector<float> y(m * s.n);
  for (auto _ : state) {
    sgemm_nt(m, s.n, s.k, x.data(), s.k, w.data(), s.k, y.data(), s.n);
    benchmark::DoNotOptimize(y.data());
  }
  set_gops(state, m, s.n, s.k);
  state.counters["weight_MB"] = double(w.size() * sizeof(float)) * 1e-6;
}

std::string name(const std::string& path, std::string_view variant, size_t m, Shape s,
                 size_t group = 0) {
  std::string n = path + "/" + std::string(variant) + "/m:" + std::to_string(m) +
                  "/n:" + std::to_string(s.n) + "/k:" + std::to_string(s.k);
  if (group) n += "/g:" + std::to_string(group);
  return n;
}

void register_all() {
  // The scalar references are far too slow for these shapes; they are measured by the tests only.
  std::vector<Isa> int_isas, f32_isas, packed16_isas, lut_isas, lut_rows_isas;
  for (Isa isa : supported_isas()) {
    if (isa == Isa::kScalar) continue;
    ScopedIsa force(isa);
    if (qgemm_isa() == isa) int_isas.push_back(isa);
    if (qgemm_f32_isa() == isa) f32_isas.push_back(isa);
    if (qgemm_packed16_isa() == isa) packed16_isas.push_back(isa);
    if (qgemm_lut_isa() == isa) lut_isas.push_back(isa);
    if (qgemm_lut_rows_isa() == isa) lut_rows_isas.push_back(isa);
  }
  const Isa best = int_isas.empty() ? Isa::kScalar : int_isas.back();
  for (size_t m : kRows)
    for (Shape s : kShapes) {
      auto reg = [](const std::string& n, auto fn) {
        benchmark::RegisterBenchmark(n.c_str(), fn)->UseRealTime()->Unit(benchmark::kMicrosecond);
      };
      reg(name("sgemm_f32", "openblas", m, s),
          [=](benchmark::State& st) { bench_sgemm(st, m, s); });
      for (Isa isa : int_isas)
        reg(name("W4A8", isa_name(isa), m, s),
            [=](benchmark::State& st) { bench_int(st, isa, m, s, 4, 0, false); });
      reg(name("W4A8", isa_name(best), m, s, 128),
          [=](benchmark::State& st) { bench_int(st, best, m, s, 4, 128, false); });
      // Bit-plane containers: the 4/8-bit kernels on panels expanded in cache.
      for (const auto& [path, bits] :
           {std::pair<const char*, int>{"W2A8", 2}, {"W3A8", 3}, {"W5A8", 5}, {"W6A8", 6}})
        reg(name(path, isa_name(best), m, s),
            [=](benchmark::State& st) { bench_int(st, best, m, s, bits, 0, false); });
      reg(name("W4A8+quant", isa_name(best), m, s),
          [=](benchmark::State& st) { bench_int(st, best, m, s, 4, 0, true); });
      const ActivationFormat a8asym{8, false, 0.9f}, a4sym{4, true, 1.0f}, a4asym{4, false, 0.9f};
      reg(name("W4A8asym", isa_name(best), m, s),
          [=](benchmark::State& st) { bench_int(st, best, m, s, 4, 0, false, a8asym); });
      reg(name("W4A8asym+quant", isa_name(best), m, s),
          [=](benchmark::State& st) { bench_int(st, best, m, s, 4, 0, true, a8asym); });
      for (Isa isa : packed16_isas) {
        const ActivationFormat a4{4, true, 1.0f};
        reg(name("W4A4", isa_name(isa), m, s),
            [=](benchmark::State& st) { bench_int(st, isa, m, s, 4, 0, false, a4); });
        reg(name("W4A4packed16", isa_name(isa), m, s),
            [=](benchmark::State& st) { bench_packed16(st, isa, m, s); });
      }
      reg(name("W4A4+quant", isa_name(best), m, s),
          [=](benchmark::State& st) { bench_int(st, best, m, s, 4, 0, true, a4sym); });
      reg(name("W4A4asym+quant", isa_name(best), m, s),
          [=](benchmark::State& st) { bench_int(st, best, m, s, 4, 0, true, a4asym); });
      reg(name("W8A8asym", isa_name(best), m, s),
          [=](benchmark::State& st) { bench_int(st, best, m, s, 8, 0, false, a8asym); });
      for (Isa isa : int_isas)
        reg(name("W8A8", isa_name(isa), m, s),
            [=](benchmark::State& st) { bench_int(st, isa, m, s, 8, 0, false); });
      for (Isa isa : f32_isas)
        reg(name("W4A16", isa_name(isa), m, s),
            [=](benchmark::State& st) { bench_f32(st, isa, m, s, 4, 0); });
      if (!f32_isas.empty()) {
        reg(name("W4A16", isa_name(f32_isas.back()), m, s, 128),
            [=](benchmark::State& st) { bench_f32(st, f32_isas.back(), m, s, 4, 128); });
        reg(name("W3A16", isa_name(f32_isas.back()), m, s, 128),
            [=](benchmark::State& st) { bench_f32(st, f32_isas.back(), m, s, 3, 128); });
      }
      for (Isa isa : int_isas)
        reg(name("W4A8lut-shared", isa_name(isa), m, s, 64),
            [=](benchmark::State& st) { bench_lut8(st, isa, m, s); });
      for (Isa isa : lut_isas) {
        reg(name("W4A16lut-shared", isa_name(isa), m, s, 64),
            [=](benchmark::State& st) { bench_lut(st, isa, m, s, false); });
        reg(name("W4A16lut-rows-gather", isa_name(isa), m, s),
            [=](benchmark::State& st) { bench_lut(st, isa, m, s, true); });
      }
      for (Isa isa : lut_rows_isas)
        reg(name("W4A16lut-rows", isa_name(isa), m, s),
            [=](benchmark::State& st) { bench_lut_rows(st, isa, m, s); });
    }
  const Shape head = kShapes[std::size(kShapes) - 1];
  for (size_t m : {size_t{1}, size_t{4}})
    for (int bits : {4, 8}) {
      const std::string path = bits == 4 ? "W4A8cold" : "W8A8cold";
      benchmark::RegisterBenchmark(
          name(path, isa_name(best), m, head).c_str(),
          [=](benchmark::State& st) { bench_int_cold(st, best, m, head, bits); })
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
    }
}

}  // namespace
}  // namespace lowbit::kernels

int main(int argc, char** argv) {
  // LOWBIT_BENCH_THREADS=N sizes the pool (default: all cores); with 1 the CPU-time column is
  // the single-core speed even on a busy machine.
  if (const char* t = std::getenv("LOWBIT_BENCH_THREADS")) lowbit::set_num_threads(std::atoi(t));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  lowbit::kernels::register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
