#include "layers/fake_quant_linear.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"
#include "kernels/sgemm.h"

namespace lowbit {

FakeQuantLinear::FakeQuantLinear(QuantizedMatrix weight, std::vector<float> bias,
                                 QuantSpec act_spec,
                                 std::shared_ptr<const ActivationTransform> transform,
                                 std::shared_ptr<const WeightExtras> extras)
    : Linear(static_cast<int>(weight.cols), static_cast<int>(weight.rows)),
      qweight_(std::move(weight)),
      bias_(std::move(bias)),
      wspec_(qweight_.spec),
      act_(act_spec),
      transform_(std::move(transform)),
      extras_(extras && !extras->empty() ? std::move(extras) : nullptr) {
  if (qweight_.rows == 0 || qweight_.cols == 0 ||
      qweight_.codes.size() != qweight_.rows * qweight_.cols)
    fail("FakeQuantLinear: quantized weight has {} codes, expected {}x{}", qweight_.codes.size(),
         qweight_.rows, qweight_.cols);
  if (extras_) extras_->validate(qweight_.rows, qweight_.cols, "FakeQuantLinear");
  check_shapes();
}

FakeQuantLinear::FakeQuantLinear(int in_features, int out_features, std::vector<float> weight,
                                 std::vector<float> bias, QuantSpec act_spec,
                                 std::shared_ptr<const ActivationTransform> transform)
    : Linear(in_features, out_features),
      weight_(std::move(weight)),
      bias_(std::move(bias)),
      act_(act_spec),
      transform_(std::move(transform)) {
  if (weight_.size() != static_cast<size_t>(in_features) * out_features)
    fail("FakeQuantLinear: weight has {} values, expected {}x{}", weight_.size(), out_features,
         in_features);
  check_shapes();
}

void FakeQuantLinear::check_shapes() const {
  if (!bias_.empty() && bias_.size() != static_cast<size_t>(out_))
    fail("FakeQuantLinear: bias has {} values for {} outputs", bias_.size(), out_);
  if (transform_ && transform_->dim() != static_cast<size_t>(in_))
    fail("FakeQuantLinear: transform of {} channels for {} inputs", transform_->dim(), in_);
}

std::span<const float> FakeQuantLinear::weight() const {
  if (qweight_.rows != 0)
    std::call_once(dequantized_, [&] {
      weight_ = qweight_.dequantize();
      if (extras_) extras_->add_to_dense(weight_, qweight_.rows, qweight_.cols);
    });
  return weight_;
}

void FakeQuantLinear::forward(std::span<const float> x, size_t rows, std::span<float> y) const {
  const size_t in = static_cast<size_t>(in_), out = static_cast<size_t>(out_);
  thread_local std::vector<float> buf;
  if (buf.size() < rows * in) buf.resize(rows * in);
  std::span<float> xq(buf.data(), rows * in);
  std::copy_n(x.begin(), rows * in, xq.begin());
  if (transform_) transform_->apply(xq, rows);
  if (extras_ && !extras_->outliers.empty() && act_.enabled()) {
    // LLM.int8(): the outlier features stay in full precision, the rest is quantized without
    // them (they no longer set the row's scale).
    thread_local std::vector<float> xo;
    extras_->split_outliers(xq, rows, in, xo);
    fake_quantize_rows(xq, rows, in, act_);
    extras_->restore_outliers(xq, rows, in, xo);
  } else {
    fake_quantize_rows(xq, rows, in, act_);
  }
  kernels::sgemm_nt(rows, out, in, xq.data(), in, weight().data(), in, y.data(), out);
  if (!bias_.empty())
    for (size_t r = 0; r < rows; ++r)
      for (size_t o = 0; o < out; ++o) y[r * out + o] += bias_[o];
}

size_t FakeQuantLinear::weight_bytes() const {
  // What the packed layer will occupy: codes plus one fp32 scale (and zero) per group.
  const size_t n = static_cast<size_t>(in_) * static_cast<size_t>(out_);
  if (!wspec_.enabled()) return n * sizeof(float);
  const size_t group =
      wspec_.group_size > 0 ? static_cast<size_t>(wspec_.group_size) : static_cast<size_t>(in_);
  const size_t groups = n / group;
  const bool zeros = !wspec_.symmetric && !wspec_.uses_codebook();
  size_t table = 0;
  // Per-row tables (SqueezeLLM) are stored in fp16, a shared one (NF4) in fp32 (pack_quantized).
  if (qweight_.rows != 0)
    table = qweight_.codebook.size() * (wspec_.codebook == Codebook::kPerRow ? 2 : sizeof(float));
  return (n * static_cast<size_t>(wspec_.bits) + 7) / 8 + groups * sizeof(float) * (zeros ? 2 : 1) +
         table + (extras_ ? extras_->bytes() : 0);
}

void FakeQuantLinear::weight_row(size_t row, std::span<float> out) const {
  const size_t in = static_cast<size_t>(in_);
  std::copy_n(weight().begin() + static_cast<ptrdiff_t>(row * in), in, out.begin());
}

std::string FakeQuantLinear::format() const {
  // Appended piecewise: gcc 12 warns falsely on `" " + std::string` here.
  std::string s =
      fmt::format("W{}A{}", wspec_.enabled() ? wspec_.bits : 16, act_.enabled() ? act_.bits : 16);
  if (wspec_.uses_codebook()) s.append(" ").append(wspec_.describe());
  if (transform_ && !transform_->empty()) s.append(" +").append(transform_->describe());
  if (extras_) s += extras_->describe(static_cast<size_t>(out_), static_cast<size_t>(in_));
  return s;
}

}  // namespace lowbit
