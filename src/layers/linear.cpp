#include "layers/linear.h"

#include <algorithm>

#include "core/error.h"
#include "kernels/sgemm.h"

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

DenseLinear::DenseLinear(int in_features, int out_features,
                         std::shared_ptr<const std::vector<float>> weight, std::vector<float> bias)
    : Linear(in_features, out_features), weight_(std::move(weight)), bias_(std::move(bias)) {
  if (!weight_ || weight_->size() != static_cast<size_t>(in_features) * out_features)
    fail("DenseLinear: weight has {} values, expected {}x{}", weight_ ? weight_->size() : 0,
         out_features, in_features);
  if (!bias_.empty() && bias_.size() != static_cast<size_t>(out_features))
    fail("DenseLinear: bias has {} values, expected {}", bias_.size(), out_features);
}

void DenseLinear::forward(std::span<const float> x, size_t rows, std::span<float> y) const {
  const size_t in = static_cast<size_t>(in_), out = static_cast<size_t>(out_);
  kernels::sgemm_nt(rows, out, in, x.data(), in, weight_->data(), in, y.data(), out);
  if (!bias_.empty())
    for (size_t r = 0; r < rows; ++r)
      for (size_t o = 0; o < out; ++o) y[r * out + o] += bias_[o];
}

void DenseLinear::weight_row(size_t row, std::span<float> out) const {
  const size_t in = static_cast<size_t>(in_);
  std::copy_n(weight_->begin() + static_cast<ptrdiff_t>(row * in), in, out.begin());
}

}  // namespace lowbit
