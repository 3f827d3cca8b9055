#include "quant/nf4.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "quant/quant_pass.h"

namespace lowbit {

void double_quantize_scales(std::span<float> scales) {
  // bitsandbytes' quantize_4bit(compress_statistics=True): offset = absmax.mean(); the centred
  // constants quantized blockwise (256 per block) to 8 bits. bitsandbytes uses its signed
  // "dynamic" 8-bit float map there; lowbit uses the symmetric int8 grid (docs/quantization.md).
  if (scales.empty()) return;
  double mean = 0.0;
  for (float s : scales) mean += s;
  const auto offset = static_cast<float>(mean / static_cast<double>(scales.size()));
  constexpr size_t kBlock = 256;
  for (size_t b = 0; b < scales.size(); b += kBlock) {
    auto block = scales.subspan(b, std::min(kBlock, scales.size() - b));
    float amax = 0.0f;
    for (float s : block) amax = std::max(amax, std::fabs(s - offset));
    const float step = amax > 0.0f ? amax / 127.0f : 1.0f;
    for (float& s : block) s = std::nearbyint((s - offset) / step) * step + offset;
  }
  // A dequantized absmax that came out non-positive would flip or zero its block: keep it tiny
  // and positive (only possible when a block's absmax is far below the layer's mean).
  for (float& s : scales) s = std::max(s, 1e-12f);
}

QuantizedMatrix nf4_quantize(std::span<const float> w, size_t rows, size_t cols, int group_size,
                             bool double_quant) {
  const QuantSpec spec{.bits = 4, .group_size = group_size, .codebook = Codebook::kNf4};
  QuantizedMatrix m = quantize_rows(w, rows, cols, spec);
  if (double_quant) {
    // Requantize against the stored scales, as the kernel will dequantize with them.
    std::vector<float> s(m.params.size());
    for (size_t i = 0; i < s.size(); ++i) s[i] = m.params[i].scale;
    double_quantize_scales(s);
    const auto table = nf4_table();
    const size_t g = m.group_size(), groups = m.groups_per_row();
    for (size_t r = 0; r < rows; ++r)
      for (size_t k = 0; k < groups; ++k) {
        const float scale = s[r * groups + k];
        m.params[r * groups + k].scale = scale;
        for (size_t i = 0; i < g; ++i) {
          const size_t at = r * cols + k * g + i;
          m.codes[at] = nearest_code(table, w[at] / scale);
        }
      }
  }
  return m;
}

namespace {

class Nf4Pass final : public QuantPass {
 public:
  Nf4Pass(WeightSpecs specs, bool double_quant)
      : specs_(std::move(specs)), group_(specs_.weight.group_size), double_quant_(double_quant) {}

  void apply(LayerContext& ctx) override {
    for (ActivationSite site : kSites)
      for (WorkLinear* p : ctx.work.at(site))
        if (specs_(ctx.index, p->name).enabled())
          p->q = nf4_quantize(p->w, static_cast<size_t>(p->out), static_cast<size_t>(p->in), group_,
                              double_quant_);
  }

 private:
  WeightSpecs specs_;
  int group_;
  bool double_quant_;
};

}  // namespace

void validate_nf4(const QuantizeOptions& o, const ModelConfig&) {
  if (o.weight.bits != 4)
    fail("--method nf4: NF4 is a 4-bit format; got --wbits {}", o.weight.bits);
  for (const BitsRule& r : o.bits_map.rules())
    if ((r.bits != 4 && r.bits != 16) || r.group >= 0)
      fail(
          "--bits-map: rule '{}': nf4 is 4-bit with --group's blocks (a rule may only keep "
          "projections at 16)",
          r.text);
  if (o.weight.group_size <= 0)
    fail("--method nf4: NF4 scales blocks of weights by their absmax; give --group (QLoRA: 64)");
}

std::unique_ptr<QuantPass> make_nf4_pass(const QuantizeOptions& o) {
  return std::make_unique<Nf4Pass>(o.weight_specs(), o.params.enabled("nf4-double-quant"));
}

}  // namespace lowbit
