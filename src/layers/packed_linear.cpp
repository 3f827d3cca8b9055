#include "layers/packed_linear.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/op_profile.h"
#include "kernels/qgemm.h"
#include "kernels/quantize_activations.h"
#include "kernels/sgemm.h"
#include "layers/fake_quant_linear.h"

namespace lowbit {

PackedLinear::PackedLinear(kernels::PackedWeightsView weights, std::shared_ptr<const void> storage,
                           QuantSpec weight_spec, std::vector<float> bias, QuantSpec act_spec,
                           std::shared_ptr<const ActivationTransform> transform,
                           std::shared_ptr<const WeightExtras> extras,
                           std::vector<float> zero_fractions)
    : Linear(static_cast<int>(weights.k()), static_cast<int>(weights.n())),
      weights_(weights),
      storage_(std::move(storage)),
      wspec_(weight_spec),
      bias_(std::move(bias)),
      act_(act_spec),
      transform_(std::move(transform)),
      extras_(extras && !extras->empty() ? std::move(extras) : nullptr),
      zero_fractions_(std::move(zero_fractions)) {
  if (!bias_.empty() && bias_.size() != weights_.n())
    fail("PackedLinear: bias has {} values for {} outputs", bias_.size(), weights_.n());
  if (weights_.layout().codebook() && act_.enabled()) {
    // W4A8 looks the codes up in an int8 rounding of the table (kernels::qgemm_lut8), which a
    // byte shuffle does per register lane: one table for every row only.
    if (weights_.layout().codebook_rows != 1)
      fail(
          "PackedLinear: codebook weights with a table per row ({}) have no kernel for {} "
          "activations (the int8 look-up serves one shared table, NF4's); run them with 16-bit "
          "activations or --simulate",
          wspec_.describe(), act_.describe());
    if (act_.bits != 8)
      fail("PackedLinear: codebook weights ({}) take 8-bit activations on the int8 look-up, not {}",
           wspec_.describe(), act_.describe());
    lut8_ = kernels::lut8_table(std::span(weights_.codebook(), 16));
  }
  if (!act_.enabled() && kernels::LutRowsWeights::applies(weights_))
    lut_rows_ = kernels::LutRowsWeights::from_packed(weights_);
  if (act_.enabled() && !supports_activations(act_))
    fail(
        "PackedLinear: the integer kernels ({}) have no variant for activations {}: they quantize "
        "per token (symmetric or asymmetric, with a fixed clip ratio); run with --simulate",
        kernels::isa_name(kernels::qgemm_isa()), act_.describe());
  if (transform_ && transform_->dim() != weights_.k())
    fail("PackedLinear: transform of {} channels for {} inputs", transform_->dim(), weights_.k());
  if (extras_) extras_->validate(weights_.n(), weights_.k(), "PackedLinear");
  if (!zero_fractions_.empty()) {
    const size_t groups = weights_.layout().groups();
    if (zero_fractions_.size() != weights_.n() * groups)
      fail("PackedLinear: {} zero-point fractions for {} rows of {} groups", zero_fractions_.size(),
           weights_.n(), groups);
    zero_correction_.resize(zero_fractions_.size());
    for (size_t r = 0; r < weights_.n(); ++r)
      for (size_t g = 0; g < groups; ++g) {
        const float f = zero_fractions_[r * groups + g];
        if (!std::isfinite(f)) fail("PackedLinear: zero-point fraction of row {} is {}", r, f);
        zero_correction_[r * groups + g] = -f * weights_.scale(r, g);
      }
  }
}

size_t PackedLinear::weight_bytes() const {
  return weights_.blob().size() + (extras_ ? extras_->bytes() : 0) +
         zero_fractions_.size() * sizeof(float);
}

void PackedLinear::add_side_products(const SideInput& in, size_t rows, std::span<float> y) const {
  const size_t k = static_cast<size_t>(in_), n = static_cast<size_t>(out_);
  if (!zero_correction_.empty()) {
    // y -= sum_g f s sum_{k in g} x: the input's group sums times the per-group corrections.
    const size_t gs = weights_.layout().group_size, groups = weights_.layout().groups();
    thread_local std::vector<float> sums;
    sums.assign(rows * groups, 0.0f);
    for (size_t r = 0; r < rows; ++r)
      for (size_t c = 0; c < k; ++c) sums[r * groups + c / gs] += in.main[r * k + c];
    kernels::sgemm_nt(rows, n, groups, sums.data(), groups, zero_correction_.data(), groups,
                      y.data(), n, /*accumulate=*/true);
  }
  if (extras_) {
    extras_->add_outlier_product(in.outliers, rows, n, y);
    extras_->add_side_product(in.full, rows, k, n, y);
  }
}

bool PackedLinear::supports_activations(const QuantSpec& act) {
  return !act.enabled() || (act.bits >= 2 && act.bits <= 8 && act.group_size == 0 &&
                            !act.mse_clip && act.clip > 0.0f && act.clip <= 1.0f);
}

kernels::Isa PackedLinear::kernel_isa() const {
  if (lut8_) return kernels::qgemm_isa();
  if (lut_rows_) return kernels::qgemm_lut_rows_isa();
  if (weights_.layout().codebook()) return kernels::qgemm_lut_isa();
  return act_.enabled() ? kernels::qgemm_isa() : kernels::qgemm_f32_isa();
}

std::span<const int32_t> PackedLinear::weight_sums() const {
  if (!(act_.enabled() && act_.bits == 8 && !act_.symmetric)) return {};
  std::call_once(wsums_once_, [&] {
    wsums_ = lut8_ ? kernels::packed_weight_sums_lut8(weights_, *lut8_)
                   : kernels::packed_weight_sums(weights_);
  });
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

std::span<const std::byte> PackedLinear::relaid_codes() const {
  if (!lut_rows_) return {};
  const kernels::PackedLayout& l = weights_.layout();
  return weights_.blob().subspan(l.codes_offset(), l.blocks() * l.block_bytes());
}

void PackedLinear::multiply(std::span<const float> input, size_t rows, std::span<float> y) const {
  if (lut_rows_) {
    kernels::qgemm_lut_rows(input, rows, static_cast<size_t>(in_), *lut_rows_, bias_, y,
                            static_cast<size_t>(out_));
    return;
  }
  kernels::qgemm_f32(input, rows, static_cast<size_t>(in_), weights_, bias_, y,
                     static_cast<size_t>(out_));
}

void PackedLinear::forward(std::span<const float> x, size_t rows, std::span<float> y) const {
  const LinearOutput self{this, y};
  forward_group(x, rows, std::span(&self, 1));
}

namespace {

// The fp32 values of quantized activation rows: (code + offset) * scale, rows x cols.
void dequantize_rows(const kernels::QuantizedActivations& qa, std::span<float> out) {
  const size_t cols = qa.cols();
  for (size_t r = 0; r < qa.rows(); ++r) {
    const auto codes = qa.row(r);
    const float s = qa.scale(r);
    const int32_t o = qa.offset(r);
    for (size_t c = 0; c < cols; ++c) out[r * cols + c] = static_cast<float>(codes[c] + o) * s;
  }
}

const std::vector<uint32_t>* outlier_columns(const PackedLinear& p) {
  return p.extras() && !p.extras()->outliers.empty() ? &p.extras()->outliers.cols : nullptr;
}

}  // namespace

void PackedLinear::forward_group(std::span<const float> x, size_t rows,
                                 std::span<const LinearOutput> group) const {
  const auto* own_outliers = outlier_columns(*this);
  bool side = false;
  for (const LinearOutput& m : group) {
    const auto* p = dynamic_cast<const PackedLinear*>(m.layer);
    const auto* cols = p ? outlier_columns(*p) : nullptr;
    if (p == nullptr || p->transform_ != transform_ || p->act_ != act_ ||
        (cols == nullptr) != (own_outliers == nullptr) || (cols && *cols != *own_outliers)) {
      Linear::forward_group(x, rows, group);  // prepared differently: each on its own
      return;
    }
    side = side || p->has_side_products();
  }
  const size_t in = static_cast<size_t>(in_);
  ForwardProfile* profile = active_profile();
  const std::span<const float> input = [&] {
    OpTimer t(transform_ ? profile : nullptr, ForwardOp::kActTransform);
    return transformed_input(x, rows);
  }();
  // LLM.int8() outlier columns: out of the main product's input, into their own.
  SideInput si{input, input, {}};
  thread_local std::vector<float> main_buf, outliers_buf, full_buf;
  if (own_outliers != nullptr) {
    main_buf.assign(input.begin(), input.end());
    extras_->split_outliers(main_buf, rows, in, outliers_buf);
    si.main = main_buf;
    si.outliers = outliers_buf;
  }
  if (act_.enabled()) {
    thread_local kernels::QuantizedActivations qa;
    {
      OpTimer t(profile, ForwardOp::kActQuant);
      qa.quantize(si.main, rows, in,
                  kernels::ActivationFormat{act_.bits, act_.symmetric, act_.clip});
    }
    thread_local std::vector<kernels::QgemmProduct> products;
    products.clear();
    for (const LinearOutput& m : group) {
      const auto& p = static_cast<const PackedLinear&>(*m.layer);
      if (p.lut8_)
        kernels::qgemm_lut8(qa.view(), p.weights_, *p.lut8_, p.bias_, m.y,
                            static_cast<size_t>(p.out_), p.weight_sums());
      else
        products.push_back(
            {p.weights_, p.bias_, m.y, static_cast<size_t>(p.out_), p.weight_sums()});
    }
    if (!products.empty()) kernels::qgemm_group(qa.view(), products);
    if (side) {  // the side products see the activations as quantized
      thread_local std::vector<float> deq;
      deq.resize(rows * in);
      dequantize_rows(qa, deq);
      si.main = deq;
      si.full = deq;
    }
  } else {
    for (const LinearOutput& m : group)
      static_cast<const PackedLinear&>(*m.layer).multiply(si.main, rows, m.y);
  }
  if (!side) return;
  if (own_outliers != nullptr) {
    full_buf.assign(si.main.begin(), si.main.end());
    extras_->restore_outliers(full_buf, rows, in, si.outliers);
    si.full = full_buf;
  }
  for (const LinearOutput& m : group)
    static_cast<const PackedLinear&>(*m.layer).add_side_products(si, rows, m.y);
}

std::string PackedLinear::format() const {
  // Appended piecewise: gcc 12 warns falsely on `" " + std::string` here.
  std::string s = fmt::format("W{}A{} packed", wspec_.bits, act_.enabled() ? act_.bits : 16);
  if (wspec_.uses_codebook()) s.append(" ").append(wspec_.describe());
  if (lut8_) s += " (int8 table)";
  if (!zero_fractions_.empty()) s += " +fractional zeros";
  if (transform_ && !transform_->empty()) s.append(" +").append(transform_->describe());
  if (extras_) s += extras_->describe(static_cast<size_t>(out_), static_cast<size_t>(in_));
  return s;
}

void PackedLinear::weight_row(size_t row, std::span<float> out) const {
  weights_.dequantize_row(row, out);
  if (!zero_fractions_.empty()) {
    const size_t gs = weights_.layout().group_size, groups = weights_.layout().groups();
    for (size_t c = 0; c < out.size(); ++c) out[c] += zero_correction_[row * groups + c / gs];
  }
  if (extras_) extras_->add_to_row(row, out);
}

kernels::PackedWeights pack_quantized(const QuantizedMatrix& q) {
  if (q.spec.uses_codebook()) {
    // 16-entry tables for the packer, which stores the first 2^bits of each: a 2- or 3-bit
    // codebook's codes go in their own width (a bit-plane container). Per-row tables
    // (SqueezeLLM's) are stored in fp16, as that method keeps them; its quantizer rounds them
    // first, so the packed layer equals the simulated one.
    const size_t levels = size_t{1} << q.spec.bits;
    if (q.codebook_rows != 1 && q.codebook_rows != q.rows)
      fail("packed weights: {} codebook tables for {} rows", q.codebook_rows, q.rows);
    std::vector<float> tables(q.codebook_rows * 16, 0.0f);
    for (size_t t = 0; t < q.codebook_rows; ++t)
      for (size_t e = 0; e < levels; ++e) tables[t * 16 + e] = q.codebook[t * levels + e];
    std::vector<float> scales(q.params.size());
    for (size_t i = 0; i < q.params.size(); ++i) scales[i] = q.params[i].scale;
    return kernels::pack_codebook_weights(
        q.codes, q.rows, q.cols, q.spec.group_size > 0 ? q.group_size() : 0, scales, tables,
        q.codebook_rows, kernels::container_bits(q.spec.bits),
        q.spec.codebook == Codebook::kPerRow);
  }
  std::vector<float> scales(q.params.size());
  std::vector<uint8_t> zeros;
  for (size_t i = 0; i < q.params.size(); ++i) scales[i] = q.params[i].scale;
  if (!q.spec.symmetric) {
    zeros.resize(q.params.size());
    const float top = static_cast<float>(q.spec.qmax());
    for (size_t i = 0; i < q.params.size(); ++i)
      zeros[i] = static_cast<uint8_t>(std::clamp(round_half_even(q.params[i].zero), 0.0f, top));
  }
  return kernels::pack_weights(q.codes, q.rows, q.cols, kernels::container_bits(q.spec.bits),
                               q.spec.group_size > 0 ? q.group_size() : 0, scales, zeros,
                               -q.spec.qmin());
}

std::vector<float> zero_fractions(const QuantizedMatrix& q) {
  if (q.spec.symmetric || q.spec.uses_codebook()) return {};
  std::vector<float> f(q.params.size());
  bool any = false;
  const float top = static_cast<float>(q.spec.qmax());
  for (size_t i = 0; i < f.size(); ++i) {
    const float z = q.params[i].zero;
    f[i] = z - std::clamp(round_half_even(z), 0.0f, top);
    any = any || f[i] != 0.0f;
  }
  if (!any) f.clear();
  return f;
}

QuantizedMatrix unpack_quantized(const kernels::PackedWeightsView& w, const QuantSpec& spec,
                                 std::span<const float> zero_fractions) {
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
  if (spec.uses_codebook() != w.layout().codebook())
    fail("packed weights: stored {} but the spec is {}",
         w.layout().codebook() ? "with a codebook" : "on the integer grid", spec.describe());
  if (spec.uses_codebook()) {
    const size_t levels = size_t{1} << spec.bits;
    q.codebook_rows = u.codebook_rows;
    q.codebook.resize(u.codebook_rows * levels);
    for (size_t t = 0; t < u.codebook_rows; ++t)
      for (size_t e = 0; e < levels; ++e) q.codebook[t * levels + e] = u.codebook[t * 16 + e];
  }
  for (size_t i = 0; i < u.scales.size(); ++i)
    q.params[i] = {u.scales[i], spec.symmetric ? 0.0f : static_cast<float>(u.zeros[i])};
  if (!zero_fractions.empty()) {
    if (zero_fractions.size() != q.params.size())
      fail("packed weights: {} zero-point fractions for {} groups", zero_fractions.size(),
           q.params.size());
    for (size_t i = 0; i < q.params.size(); ++i) q.params[i].zero += zero_fractions[i];
  }
  return q;
}

}  // namespace lowbit
