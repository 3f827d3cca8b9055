#include "quant/smoothquant.h"

#include <algorithm>
#include <cmath>

#include "quant/quant_pass.h"

namespace lowbit {

std::vector<float> smoothing_scales(std::span<const float> act_absmax,
                                    std::span<const float> weight_absmax, float alpha) {
  std::vector<float> s(act_absmax.size());
  for (size_t j = 0; j < s.size(); ++j) {
    const double a = std::max(1e-5f, act_absmax[j]), w = std::max(1e-5f, weight_absmax[j]);
    s[j] = static_cast<float>(std::clamp(std::pow(a, alpha) / std::pow(w, 1.0 - alpha), 1e-5, 1e5));
  }
  return s;
}

namespace {

class SmoothQuantPass final : public QuantPass {
 public:
  explicit SmoothQuantPass(float alpha) : alpha_(alpha) {}

  void apply(LayerContext& ctx) override {
    const ModelConfig& c = ctx.config;
    LayerWeights& W = ctx.weights;
    WorkLayer& L = ctx.work;
    auto at = [&](ActivationSite site) -> const SiteStats& {
      return ctx.stats[static_cast<size_t>(site)];
    };
    // Inputs of q/k/v and gate/up: fold 1/s into the RMSNorm weight.
    for (auto [site, norm] : {std::pair{ActivationSite::kQkvInput, &W.attn_norm},
                              std::pair{ActivationSite::kUpInput, &W.ffn_norm}}) {
      const auto s = smoothing_scales(at(site).absmax, column_absmax(L.at(site)), alpha_);
      for (size_t j = 0; j < s.size(); ++j) (*norm)[j] /= s[j];
      for (WorkLinear* p : L.at(site)) scale_columns(*p, s);
    }
    // down_proj input = silu(gate) * up: fold 1/s into up_proj's rows.
    {
      const auto s =
          smoothing_scales(at(ActivationSite::kDownInput).absmax, column_absmax({&L.down}), alpha_);
      divide_rows(L.up, s);
      scale_columns(L.down, s);
    }
    // o_proj input = attention-weighted v: fold into v_proj's rows. With grouped-query attention
    // a v channel feeds every query head of its group, so the scale is shared across the group.
    {
      const size_t hd = static_cast<size_t>(c.head_dim),
                   group = static_cast<size_t>(c.n_heads / c.n_kv_heads);
      const auto& act = at(ActivationSite::kOInput).absmax;
      const auto wmax = column_absmax({&L.o});
      std::vector<float> a_kv(static_cast<size_t>(c.kv_dim()), 0.0f), w_kv(a_kv.size(), 0.0f);
      for (size_t ch = 0; ch < act.size(); ++ch) {
        const size_t kv = (ch / hd) / group * hd + ch % hd;
        a_kv[kv] = std::max(a_kv[kv], act[ch]);
        w_kv[kv] = std::max(w_kv[kv], wmax[ch]);
      }
      const auto s_kv = smoothing_scales(a_kv, w_kv, alpha_);
      std::vector<float> s(act.size());
      for (size_t ch = 0; ch < act.size(); ++ch) s[ch] = s_kv[(ch / hd) / group * hd + ch % hd];
      divide_rows(L.v, s_kv);
      scale_columns(L.o, s);
    }
  }

 private:
  float alpha_;
};

}  // namespace

std::unique_ptr<QuantPass> make_smoothquant_pass(const QuantizeOptions& o) {
  return std::make_unique<SmoothQuantPass>(static_cast<float>(o.params.real("alpha")));
}

}  // namespace lowbit
