#include "quant/llm_int8.h"

#include <fmt/format.h>

#include <cstdio>

#include "core/error.h"
#include "quant/quant_pass.h"

namespace lowbit {

std::vector<uint32_t> outlier_features(std::span<const float> act_absmax, float threshold) {
  std::vector<uint32_t> cols;
  for (size_t j = 0; j < act_absmax.size(); ++j)
    if (act_absmax[j] > threshold) cols.push_back(static_cast<uint32_t>(j));
  return cols;
}

void decompose_and_quantize(WorkLinear& p, std::span<const uint32_t> cols, float threshold,
                            int bits) {
  const size_t in = static_cast<size_t>(p.in), out = static_cast<size_t>(p.out);
  std::vector<float> w = p.w;
  if (!cols.empty()) {
    auto ex = std::make_shared<WeightExtras>();
    ex->outliers.cols.assign(cols.begin(), cols.end());
    ex->outliers.threshold = threshold;
    ex->outliers.weight.resize(out * cols.size());
    for (size_t r = 0; r < out; ++r)
      for (size_t j = 0; j < cols.size(); ++j) {
        float& v = w[r * in + cols[j]];
        ex->outliers.weight[r * cols.size() + j] = v;
        v = 0.0f;  // the int8 part does not see the column (nor does its row scale)
      }
    round_to_f16(ex->outliers.weight);
    p.extras = std::move(ex);
  }
  // Vector-wise: one absmax scale per output row, no clipping (the paper's quantizer).
  const QuantSpec spec{.bits = bits, .symmetric = true, .group_size = 0};
  p.q = quantize_rows(w, out, in, spec);
}

namespace {

class LlmInt8Pass final : public QuantPass {
 public:
  LlmInt8Pass(int bits, float threshold, bool report)
      : bits_(bits), threshold_(threshold), report_(report) {}

  void apply(LayerContext& ctx) override {
    std::string counts;
    for (ActivationSite site : kSites) {
      const auto cols = outlier_features(ctx.stats[static_cast<size_t>(site)].absmax, threshold_);
      for (WorkLinear* p : ctx.work.at(site)) decompose_and_quantize(*p, cols, threshold_, bits_);
      counts += fmt::format(" {}={}", site_name(site), cols.size());
    }
    // The paper reports how many feature dimensions cross the threshold: one line per layer.
    if (report_)
      fmt::print(stderr, "llm-int8: layer {} outlier columns (|x| > {}):{}\n", ctx.index,
                 threshold_, counts);
  }

 private:
  int bits_;
  float threshold_;
  bool report_;
};

}  // namespace

void validate_llm_int8(const QuantizeOptions& o, const ModelConfig&) {
  if (o.weight.bits != 8)
    fail("--method llm-int8: LLM.int8() quantizes weights to 8 bits; got --wbits {}",
         o.weight.bits);
  if (!o.bits_map.empty())
    fail("--method llm-int8: --bits-map is not supported (LLM.int8() is 8-bit throughout)");
}

std::unique_ptr<QuantPass> make_llm_int8_pass(const QuantizeOptions& o) {
  return std::make_unique<LlmInt8Pass>(
      o.weight.bits, static_cast<float>(o.params.real("int8-threshold")), o.calib.progress);
}

}  // namespace lowbit
