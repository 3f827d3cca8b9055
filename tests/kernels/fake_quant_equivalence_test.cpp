// The packed integer kernels reproduce the simulated ("fake") quantization path of src/quant:
// the same codes, scales and dequantized values, and outputs equal up to fp32 summation order.
// (Not part of the aarch64 cross test: it links src/quant and the OpenBLAS sgemm.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "kernels/kernel_test_util.h"
#include "kernels/qgemm.h"
#include "kernels/sgemm.h"
#include "layers/packed_linear.h"
#include "layers/quantizer.h"

namespace lowbit::kernels {
namespace {

struct Config {
  int wbits, abits;
  bool symmetric;
  int group;
  bool a_symmetric = true;
  float a_clip = 1.0f;
};

// Largest |kernel - simulated| / (1 + |simulated|) over the configurations: measured 4.7e-6 with
// activation codes and 6.5e-6 at A16 (AVX-512 VNNI); the bound leaves a factor 3.
constexpr double kTolerance = 2e-5;

TEST(KernelFakeQuantEquivalence, MatchesFakeQuantizedGemm) {
  std::mt19937 rng(4);
  const size_t m = 7, n = 72, k = 256;
  const std::vector<float> w = testing::random_floats(rng, n * k);
  std::vector<float> x = testing::random_floats(rng, m * k, 2.0f);
  x[5] = 9.0f;  // an outlier channel
  for (const Config c :
       {Config{4, 8, true, 128}, Config{4, 4, true, 0}, Config{8, 8, true, 0},
        Config{4, 8, false, 64}, Config{3, 8, true, 32}, Config{8, 4, false, 0},
        // Asymmetric and clipped activations (DuQuant's --a-asym --a-clip 0.9, QuaRot's clip).
        Config{4, 4, false, 0, false, 0.9f}, Config{4, 8, false, 0, false, 0.9f},
        Config{4, 8, true, 128, false, 1.0f}, Config{8, 8, false, 64, false, 0.9f},
        Config{4, 4, true, 0, true, 0.9f}, Config{8, 8, true, 0, true, 0.8f},
        Config{3, 6, true, 32, false, 0.9f}}) {
    QuantSpec ws;
    ws.bits = c.wbits;
    ws.symmetric = c.symmetric;
    ws.group_size = c.group;
    const QuantizedMatrix qw = quantize_rows(w, n, k, ws);
    // The packing the .lowbit writer uses (quant/packed_linear), so this tests what models run.
    const PackedWeights packed = lowbit::pack_quantized(qw);
    // Same dequantized weight, bit for bit.
    ASSERT_EQ(dequantize_weights(packed.view()), qw.dequantize());

    QuantSpec as;
    as.bits = c.abits;
    as.symmetric = c.a_symmetric;
    as.clip = c.a_clip;
    std::vector<float> xq = x;
    fake_quantize_rows(xq, m, k, as);
    QuantizedActivations qa;
    qa.quantize(x, m, k, ActivationFormat{c.abits, c.a_symmetric, c.a_clip});
    // Same dequantized activations, bit for bit (the value of a code is code + the row's offset).
    for (size_t i = 0; i < m; ++i)
      for (size_t j = 0; j < k; ++j)
        ASSERT_EQ(static_cast<float>(qa.row(i)[j] + qa.offset(i)) * qa.scale(i), xq[i * k + j])
            << as.describe() << " " << i << "," << j;

    const std::vector<float> wq = qw.dequantize();
    std::vector<float> want(m * n), got(m * n), got16(m * n), want16(m * n);
    sgemm_nt(m, n, k, xq.data(), k, wq.data(), k, want.data(), n);
    qgemm(qa.view(), packed.view(), {}, got, n);
    sgemm_nt(m, n, k, x.data(), k, wq.data(), k, want16.data(), n);
    qgemm_f32(x, m, k, packed.view(), {}, got16, n);
    // Same products, different summation order (int32 exact, then one scale multiply; fp32
    // sgemm in its own blocking), so the difference is fp32 rounding of a k = 256 sum.
    double worst = 0, worst16 = 0;
    for (size_t i = 0; i < m * n; ++i) {
      worst = std::max(worst, std::fabs(double(got[i]) - want[i]) / (1.0 + std::fabs(want[i])));
      worst16 =
          std::max(worst16, std::fabs(double(got16[i]) - want16[i]) / (1.0 + std::fabs(want16[i])));
    }
    std::printf("[ measured ] W%dA%d (%s) %.3g, W%dA16 %.3g\n", c.wbits, c.abits,
                as.describe().c_str(), worst, c.wbits, worst16);
    EXPECT_LT(worst, kTolerance) << "W" << c.wbits << "A" << c.abits;
    EXPECT_LT(worst16, kTolerance) << "W" << c.wbits << "A16";
  }
}

}  // namespace
}  // namespace lowbit::kernels
