#include "layers/linear.h"

#include <algorithm>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/sgemm.h"
#include "kernels/widen.h"

namespace lowbit {

void Linear::forward_group(std::span<const float> x, size_t rows,
                           std::span<const LinearOutput> group) const {
  for (const LinearOutput& m : group) m.layer->forward(x, rows, m.y);
}

void forward_group(std::span<const float> x, size_t rows, std::span<const LinearOutput> group) {
  if (group.empty()) return;
  for (const LinearOutput& m : group)
    if (m.layer->in_features() != group.front().layer->in_features())
      fail("forward_group: inputs of {} and {} features", group.front().layer->in_features(),
           m.layer->in_features());
  group.front().layer->forward_group(x, rows, group);
}

DenseLinear::DenseLinear(std::shared_ptr<const DenseMatrix> weight, std::vector<float> bias)
    : Linear(weight ? static_cast<int>(weight->cols()) : 0,
             weight ? static_cast<int>(weight->rows()) : 0),
      weight_(std::move(weight)),
      bias_(std::move(bias)) {
  if (!weight_) fail("DenseLinear: no weight");
  if (!bias_.empty() && bias_.size() != static_cast<size_t>(out_))
    fail("DenseLinear: bias has {} values, expected {}", bias_.size(), out_);
}

DenseLinear::DenseLinear(int in_features, int out_features, std::vector<float> weight,
                         std::vector<float> bias)
    : DenseLinear(make_f32_matrix(static_cast<size_t>(out_features),
                                  static_cast<size_t>(in_features), std::move(weight)),
                  std::move(bias)) {}

void DenseLinear::forward(std::span<const float> x, size_t rows, std::span<float> y) const {
  const size_t in = static_cast<size_t>(in_), out = static_cast<size_t>(out_);
  if (const auto w = weight_->f32(); !w.empty()) {
    kernels::sgemm_nt(rows, out, in, x.data(), in, w.data(), in, y.data(), out);
  } else if (rows <= kernels::kHalfGemvRows && kernels::widen_isa() != kernels::Isa::kScalar) {
    // Decode: the 16-bit weights are widened in registers and streamed once.
    const auto gemv =
        weight_->dtype() == WeightDType::kBF16 ? kernels::gemv_bf16 : kernels::gemv_f16;
    const uint16_t* half = weight_->half().data();
    thread_pool().parallel_for(out, 16, [&](size_t begin, size_t end) {
      gemv(x.data(), rows, in, half + begin * in, end - begin, in, y.data() + begin, out);
    });
  } else {
    // 16-bit weights: each thread widens a panel of weight rows into a buffer that stays in its
    // cache and multiplies it with the same fp32 GEMM, so the products equal an fp32 copy's while
    // memory holds only the 16-bit matrix. Few rows get here only on CPUs without a SIMD gemv
    // (small panels: the GEMV reads each once); more rows take larger panels, since the GEMM
    // repacks x for every panel.
    const size_t panel = rows <= 4 ? 32 : 256;
    thread_pool().parallel_for(out, panel, [&](size_t begin, size_t end) {
      thread_local std::vector<float> buffer;
      for (size_t p = begin; p < end; p += panel) {
        const size_t count = std::min(panel, end - p);
        if (buffer.size() < count * in) buffer.resize(count * in);
        weight_->widen_rows(p, count, buffer);
        kernels::sgemm_nt_serial(rows, count, in, x.data(), in, buffer.data(), in, y.data() + p,
                                 out);
      }
    });
  }
  if (!bias_.empty())
    for (size_t r = 0; r < rows; ++r)
      for (size_t o = 0; o < out; ++o) y[r * out + o] += bias_[o];
}

void DenseLinear::weight_row(size_t row, std::span<float> out) const {
  weight_->widen_rows(row, 1, out);
}

}  // namespace lowbit
