// Weight matrices as stored: a bf16 checkpoint's projections stay bf16 (borrowed from the
// mapping), their products equal those of an fp32 copy (panels: the same bits; the decode gemv:
// within summation error), misaligned data is copied, and row ranges are checked.
#include "layers/dense_matrix.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "core/error.h"
#include "io/checkpoint_fixture.h"
#include "io/model_loader.h"
#include "io/model_shapes.h"
#include "layers/linear.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

TEST(DenseMatrix, Bf16CheckpointStaysBf16AndMatchesAnFp32Copy) {
  testing::TempDir dir;
  FixtureOptions o;
  o.tokenizer = testing::shared_dir() / "tokenizers/llama2/tokenizer.model";
  write_checkpoint_fixture(find_model_shape("llama-tiny"), dir / "m", o);
  const auto m = load_model(dir / "m");
  const auto& wq = dynamic_cast<const DenseLinear&>(*m.model->weights().layers[0].wq);
  EXPECT_EQ(wq.format(), "bf16");
  EXPECT_EQ(wq.weight_bytes(), wq.weight().size() * 2);
  const DenseLinear fp32(wq.in_features(), wq.out_features(), wq.weight().to_f32());
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (size_t rows : {1, 3, 4, 5, 37}) {
    std::vector<float> x(rows * static_cast<size_t>(wq.in_features()));
    for (auto& v : x) v = normal(rng);
    const size_t n = rows * static_cast<size_t>(wq.out_features());
    std::vector<float> got(n), want(n);
    wq.forward(x, rows, got);
    fp32.forward(x, rows, want);
    for (size_t i = 0; i < n; ++i) {
      if (rows > 4)
        ASSERT_EQ(got[i], want[i]) << "panels widen into the same sgemm, rows " << rows;
      else
        ASSERT_NEAR(got[i], want[i], 1e-5f * (1.0f + std::fabs(want[i]))) << "rows " << rows;
    }
  }
  std::vector<float> row(static_cast<size_t>(wq.in_features())), want_row = row;
  wq.weight_row(5, row);
  fp32.weight_row(5, want_row);
  EXPECT_EQ(row, want_row);
}

TEST(DenseMatrix, MisalignedDataIsCopiedAndRangesAreChecked) {
  // bf16 of 1, -2, 0.5, 3 at an odd address.
  const uint16_t bits[4] = {0x3f80, 0xc000, 0x3f00, 0x4040};
  std::vector<std::byte> buffer(9);
  std::memcpy(buffer.data() + 1, bits, 8);
  const DenseMatrix m(2, 2, WeightDType::kBF16, std::span(buffer).subspan(1, 8), nullptr);
  EXPECT_EQ(m.to_f32(), (std::vector<float>{1.0f, -2.0f, 0.5f, 3.0f}));
  std::vector<float> out(2);
  m.widen_rows(1, 1, out);
  EXPECT_EQ(out, (std::vector<float>{0.5f, 3.0f}));
  EXPECT_THROW(m.widen_rows(1, 2, out), Error);
  EXPECT_THROW(DenseMatrix(3, 2, WeightDType::kBF16, std::span(buffer).subspan(1, 8), nullptr),
               Error);
  const DenseMatrix f(1, 2, std::vector<float>{4.0f, 5.0f});
  EXPECT_EQ(f.bytes(), 8u);
  EXPECT_EQ(std::string(weight_dtype_name(f.dtype())), "f32");
}

}  // namespace
}  // namespace lowbit
