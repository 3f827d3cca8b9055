#pragma once
// Shared helpers for the kernel tests: the ISAs of this architecture (parameters of the ISA-swept
// suites), random packed weights and quantized activations, and reference products written
// straight from the documented formulas (independent of the packed layout).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/packed_weights.h"
#include "kernels/quantize_activations.h"

namespace lowbit::kernels::testing {

// A suite run once per ISA of arch_isas() with that ISA forced, for a kernel family whose
// dispatch reports its variant through `current` (e.g. kv_attention_isa): skipped where the CPU
// lacks the ISA or the family has no variant of its own for it (the forced run would only repeat
// a lower variant).
template <Isa (*current)()>
class ForcedVariantTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!cpu_supports(GetParam())) GTEST_SKIP() << "CPU lacks " << isa_name(GetParam());
    guard_ = std::make_unique<ScopedIsa>(GetParam());
    if (current() != GetParam()) GTEST_SKIP() << "no variant for this ISA";
  }
  void TearDown() override { guard_.reset(); }
  std::unique_ptr<ScopedIsa> guard_;
};

// The ISAs worth forcing on this architecture (cpu_features.h's table); those the CPU lacks are
// skipped by the tests.
inline std::vector<Isa> arch_isas() {
  return build_isas();
}

inline std::string isa_param_name(const ::testing::TestParamInfo<Isa>& info) {
  return std::string(isa_name(info.param));
}

// Weights as the packer takes them, plus the layout parameters.
struct WeightCase {
  size_t n = 0, k = 0, group = 0;  // group 0: one per row
  int bits = 4;
  bool asym = false;
  std::vector<uint8_t> codes;  // [n, k]
  std::vector<float> scales;   // [n, groups]
  std::vector<uint8_t> zeros;  // [n, groups], empty when symmetric
  int sym_zero = 0;

  size_t group_size() const { return group == 0 ? k : group; }
  size_t groups() const { return (k + group_size() - 1) / group_size(); }
  int zero(size_t row, size_t g) const { return asym ? zeros[row * groups() + g] : sym_zero; }
  PackedWeights pack() const {
    return pack_weights(codes, n, k, bits, group, scales, zeros, sym_zero);
  }
};

inline WeightCase random_weights(std::mt19937& rng, size_t n, size_t k, size_t group, int bits,
                                 bool asym) {
  WeightCase w;
  w.n = n;
  w.k = k;
  w.group = group;
  w.bits = bits;
  w.asym = asym;
  w.sym_zero = 1 << (bits - 1);
  const int levels = 1 << bits;
  std::uniform_int_distribution<int> code(0, levels - 1);
  std::uniform_real_distribution<float> scale(0.001f, 0.1f);
  w.codes.resize(n * k);
  for (auto& c : w.codes) c = static_cast<uint8_t>(code(rng));
  w.scales.resize(n * w.groups());
  for (auto& s : w.scales) s = scale(rng);
  if (asym) {
    w.zeros.resize(n * w.groups());
    for (auto& z : w.zeros) z = static_cast<uint8_t>(code(rng));
  }
  return w;
}

// Quantized activations built directly (codes over the full range of `bits`, extremes included).
// With offsets (8-bit asymmetric activations), the value of a code is code + offset[row].
struct ActCase {
  size_t rows = 0, cols = 0, stride = 0;
  std::vector<int8_t> codes;  // rows x stride, zero padded
  std::vector<float> scales;
  std::vector<int32_t> offsets;  // rows, or empty
  QuantizedRowsView view() const { return {codes, scales, rows, cols, stride, {}, offsets}; }
  int code(size_t r, size_t c) const {
    return codes[r * stride + c] + (offsets.empty() ? 0 : offsets[r]);
  }
};

inline ActCase random_acts(std::mt19937& rng, size_t rows, size_t cols, int bits) {
  ActCase a;
  a.rows = rows;
  a.cols = cols;
  a.stride = activation_stride(cols);
  const int lo = -(1 << (bits - 1)), hi = (1 << (bits - 1)) - 1;
  std::uniform_int_distribution<int> code(lo, hi);
  std::uniform_real_distribution<float> scale(0.01f, 2.0f);
  a.codes.assign(rows * a.stride, 0);
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c) a.codes[r * a.stride + c] = static_cast<int8_t>(code(rng));
  a.scales.resize(rows);
  for (auto& s : a.scales) s = scale(rng);
  return a;
}

// 8-bit asymmetric activations as quantize_activations stores them: codes q - 128 over the whole
// int8 range and offsets 128 - z for zero points z in [0, 255] (both extremes included).
inline ActCase random_acts_with_offsets(std::mt19937& rng, size_t rows, size_t cols) {
  ActCase a = random_acts(rng, rows, cols, 8);
  std::uniform_int_distribution<int> zero(0, 255);
  a.offsets.resize(rows);
  for (size_t r = 0; r < rows; ++r) a.offsets[r] = 128 - (r == 0 ? 255 : r == 1 ? 0 : zero(rng));
  return a;
}

inline std::vector<float> random_floats(std::mt19937& rng, size_t count, float range = 1.0f) {
  std::uniform_real_distribution<float> u(-range, range);
  std::vector<float> v(count);
  for (auto& x : v) x = u(rng);
  return v;
}

// The integer GEMM's defining formula (qgemm.h), from the unpacked codes.
inline std::vector<float> reference_qgemm(const ActCase& a, const WeightCase& w,
                                          const std::vector<float>& bias) {
  std::vector<float> y(a.rows * w.n);
  const size_t gs = w.group_size();
  for (size_t i = 0; i < a.rows; ++i)
    for (size_t j = 0; j < w.n; ++j) {
      float acc_y = 0.0f;
      for (size_t g = 0; g < w.groups(); ++g) {
        int64_t acc = 0;
        for (size_t c = g * gs; c < std::min(w.k, (g + 1) * gs); ++c)
          acc += int64_t{a.code(i, c)} * (w.codes[j * w.k + c] - w.zero(j, g));
        acc_y =
            std::fma(static_cast<float>(acc), a.scales[i] * w.scales[j * w.groups() + g], acc_y);
      }
      if (!bias.empty()) acc_y += bias[j];
      y[i * w.n + j] = acc_y;
    }
  return y;
}

// The fp32-activation GEMM's defining formula (qgemm.h), from the unpacked codes.
inline std::vector<float> reference_qgemm_f32(const std::vector<float>& x, size_t m,
                                              const WeightCase& w, const std::vector<float>& bias) {
  std::vector<float> y(m * w.n);
  const size_t gs = w.group_size();
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < w.n; ++j) {
      float acc_y = 0.0f;
      for (size_t g = 0; g < w.groups(); ++g) {
        float acc = 0.0f;
        for (size_t c = g * gs; c < std::min(w.k, (g + 1) * gs); ++c)
          acc = std::fma(x[i * w.k + c], static_cast<float>(w.codes[j * w.k + c] - w.zero(j, g)),
                         acc);
        acc_y = std::fma(acc, w.scales[j * w.groups() + g], acc_y);
      }
      if (!bias.empty()) acc_y += bias[j];
      y[i * w.n + j] = acc_y;
    }
  return y;
}

// Bitwise float comparison (so -0.0 vs 0.0 or NaN payloads would show up too).
inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

// y (m rows at stride ldy) against want (m x n) bit for bit; reports the first 5 differences.
inline void expect_bit_exact(const std::vector<float>& want, std::span<const float> got, size_t m,
                             size_t n, size_t ldy, const std::string& what) {
  size_t bad = 0;
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < n; ++j)
      if (float_bits(want[i * n + j]) != float_bits(got[i * ldy + j]) && bad++ < 5)
        ADD_FAILURE() << what << " at (" << i << ", " << j << "): want " << want[i * n + j]
                      << " got " << got[i * ldy + j];
  EXPECT_EQ(bad, 0u) << what;
}

}  // namespace lowbit::kernels::testing
