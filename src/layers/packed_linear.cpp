#include "layers/packed_linear.h"

#include <fmt/format.h>

#include "core/error.h"
#include "core/op_profile.h"
#include "kernels/qgemm.h"
#include "kernels/quantize_activations.h"
#include "layers/fake_quant_linear.h"

namespace lowbit {

PackedLinear::PackedLinear(kernels::PackedWeightsView weights, std::shared_ptr<const void> storage,
                           QuantSpec weight_spec, std::vector<float> bias, QuantSpec act_spec,
                           std::shared_ptr<const ActivationTransform> transform)
    : Linear(static_cast<int>(weights.k()), static_cast<int>(weights.n())),
      weights_(weights),
      storage_(std::move(storage)),
      wspec_(weight_spec),
      bias_(std::move(bias)),
      act_(act_spec),
      transform_(std::move(transform)) {
  if (!bias_.empty() && bias_.size() != weights_.n())
    fail("PackedLinear: bias has {} values for {} outputs", bias_.size(), weights_.n());
  if (act_.enabled() && !supports_activations(act_))
    fail(
        "PackedLinear: the integer kernels ({}) have no variant for activations {}: they quantize "
        "per token (symmetric or asymmetric, with a fixed clip ratio); run with --simulate",
        kernels::isa_name(kernels::qgemm_isa()), act_.describe());
  if (transform_ && transform_->dim() != weights_.k())
    fail("PackedLinear: transform of {} channels for {} inputs", transform_->dim(), weights_.k());
}

bool PackedLinear::supports_activations(const QuantSpec& act) {
  return !act.enabled() || (act.bits >= 2 && act.bits <= 8 && act.group_size == 0 &&
                            !act.mse_clip && act.clip > 0.0f && act.clip <= 1.0f);
}

kernels::Isa PackedLinear::kernel_isa() const {
  return act_.enabled() ? kernels::qgemm_isa() : kernels::qgemm_f32_isa();
}

std::span<const int32_t> PackedLinear::weight_sums() const {
  if (!(act_.enabled() && act_.bits == 8 && !act_.symmetric)) return {};
  std::call_once(wsums_once_, [&] { wsums_ = kernels::packed_weight_sums(weights_); });
  return wsums_;
}

std::span<const float> PackedLinear::transformed_input(std::span<const float> x,
                                                       size_t rows) const {
  const size_t in = static_cast<size_t>(in_);
  std::span<const float> input = x.first(rows * in);
  if (!transform_ || transform_->empty()) return input;
  thread_local std::vector<float> transformed;
  if (transformed.size() < rows * in) transformed.resize(rows * in);
  std::span<float> t(transformed.data(), rows * in);
  std::copy(input.begin(), input.end(), t.begin());
  transform_->apply(t, rows);
  return t;
}

void PackedLinear::multiply(std::span<const float> input, size_t rows, std::span<float> y) const {
  kernels::qgemm_f32(input, rows, static_cast<size_t>(in_), weights_, bias_, y,
                     static_cast<size_t>(out_));
}

void PackedLinear::forward(std::span<const float> x, size_t rows, std::span<float> y) const {
  const LinearOutput self{this, y};
  forward_group(x, rows, std::span(&self, 1));
}

void PackedLinear::forward_group(std::span<const float> x, size_t rows,
                                 std::span<const LinearOutput> group) const {
  for (const LinearOutput& m : group) {
    const auto* p = dynamic_cast<const PackedLinear*>(m.layer);
    if (p == nullptr || p->transform_ != transform_ || p->act_ != act_) {
      Linear::forward_group(x, rows, group);  // prepared differently: each on its own
      return;
    }
  }
  ForwardProfile* profile = active_profile();
  const std::span<const float> input = [&] {
    OpTimer t(transform_ ? profile : nullptr, ForwardOp::kActTransform);
    return transformed_input(x, rows);
  }();
  if (act_.enabled()) {
    thread_local kernels::QuantizedActivations qa;
    {
      OpTimer t(profile, ForwardOp::kActQuant);
      qa.quantize(input, rows, static_cast<size_t>(in_),
                  kernels::ActivationFormat{act_.bits, act_.symmetric, act_.clip});
    }
    for (const LinearOutput& m : group) {
      const auto& p = static_cast<const PackedLinear&>(*m.layer);
      kernels::qgemm(qa.view(), p.weights_, p.bias_, m.y, static_cast<size_t>(p.out_),
                     p.weight_sums());
    }
  } else {
    for (const LinearOutput& m : group)
      static_cast<const PackedLinear&>(*m.layer).multiply(input, rows, m.y);
  }
}

std::string PackedLinear::format() const {
  return fmt::format("W{}A{} packed{}", wspec_.bits, act_.enabled() ? act_.bits : 16,
                     transform_ && !transform_->empty() ? " +" + transform_->describe() : "");
}

void PackedLinear::weight_row(size_t row, std::span<float> out) const {
  weights_.dequantize_row(row, out);
}

kernels::PackedWeights pack_quantized(const QuantizedMatrix& q) {
  std::vector<float> scales(q.params.size());
  std::vector<uint8_t> zeros;
  for (size_t i = 0; i < q.params.size(); ++i) scales[i] = q.params[i].scale;
  if (!q.spec.symmetric) {
    zeros.resize(q.params.size());
    for (size_t i = 0; i < q.params.size(); ++i)
      zeros[i] = static_cast<uint8_t>(q.params[i].zero);  // integer-valued, in [0, 2^bits)
  }
  return kernels::pack_weights(q.codes, q.rows, q.cols, q.spec.bits <= 4 ? 4 : 8,
                               q.spec.group_size > 0 ? q.group_size() : 0, scales, zeros,
                               -q.spec.qmin());
}

QuantizedMatrix unpack_quantized(const kernels::PackedWeightsView& w, const QuantSpec& spec) {
  const auto u = kernels::unpack_weights(w);
  QuantizedMatrix q;
  q.rows = w.n();
  q.cols = w.k();
  q.spec = spec;
  q.codes = u.codes;
  if (q.groups_per_row() * q.rows != u.scales.size())
    fail("packed weights: {} scales for {} rows of {} groups", u.scales.size(), q.rows,
         q.groups_per_row());
  q.params.resize(u.scales.size());
  for (size_t i = 0; i < u.scales.size(); ++i)
    q.params[i] = {u.scales[i], spec.symmetric ? 0.0f : static_cast<float>(u.zeros[i])};
  return q;
}

}  // namespace lowbit
