// The packed integer kernels reproduce the simulated ("fake") quantization path of src/quant:
// the same codes, scales and dequantized values, and outputs equal up to fp32 summation order.
// (Not part of the aarch64 cross test: it links src/quant and the OpenBLAS sgemm.)
#include <gtest/gtest.h>

#include <cmath>
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
};

TEST(KernelFakeQuantEquivalence, MatchesFakeQuantizedGemm) {
  std::mt19937 rng(4);
  const size_t m = 7, n = 72, k = 256;
  const std::vector<float> w = testing::random_floats(rng, n * k);
  std::vector<float> x = testing::random_floats(rng, m * k, 2.0f);
  x[5] = 9.0f;  // an outlier channel
  for (const Config c : {Config{4, 8, true, 128}, Config{4, 4, true, 0}, Config{8, 8, true, 0},
                         Config{4, 8, false, 64}, Config{3, 8, true, 32}, Config{8, 4, false, 0}}) {
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
    std::vector<float> xq = x;
    fake_quantize_rows(xq, m, k, as);
    QuantizedActivations qa;
    qa.quantize(x, m, k, c.abits);
    // Same dequantized activations, bit for bit.
    for (size_t i = 0; i < m; ++i)
      for (size_t j = 0; j < k; ++j)
        ASSERT_EQ(static_cast<float>(qa.row(i)[j]) * qa.scale(i), xq[i * k + j]) << i << "," << j;

    const std::vector<float> wq = qw.dequantize();
    std::vector<float> want(m * n), got(m * n), got16(m * n), want16(m * n);
    sgemm_nt(m, n, k, xq.data(), k, wq.data(), k, want.data(), n);
    qgemm(qa.view(), packed.view(), {}, got, n);
    sgemm_nt(m, n, k, x.data(), k, wq.data(), k, want16.data(), n);
    qgemm_f32(x, m, k, packed.view(), {}, got16, n);
    for (size_t i = 0; i < m * n; ++i) {
      EXPECT_NEAR(got[i], want[i], 1e-4f * (1.0f + std::fabs(want[i])))
          << "W" << c.wbits << "A" << c.abits;
      EXPECT_NEAR(got16[i], want16[i], 1e-4f * (1.0f + std::fabs(want16[i])))
          << "W" << c.wbits << "A16";
    }
  }
}

}  // namespace
}  // namespace lowbit::kernels
