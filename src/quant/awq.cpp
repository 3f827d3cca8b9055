#include "quant/awq.h"

#include <cmath>

#include "kernels/sgemm.h"
#include "quant/quant_pass.h"
#include "quant/rtn.h"

namespace lowbit {
namespace {

class AwqPass final : public QuantPass {
 public:
  explicit AwqPass(const QuantizeOptions& o) : specs_(o.weight_specs()), rtn_(make_rtn_pass(o)) {}

  void apply(LayerContext& ctx) override {
    for (ActivationSite site : kSites)
      search_scales(ctx.index, ctx.stats[static_cast<size_t>(site)], ctx.work.at(site));
    rtn_->apply(ctx);
  }

 private:
  void search_scales(int layer, const SiteStats& st,
                     const std::vector<WorkLinear*>& consumers) const {
    const size_t n = st.num_rows(), dim = st.dim;
    std::vector<float> mean(dim, 0.0f);
    for (size_t r = 0; r < n; ++r)
      for (size_t j = 0; j < dim; ++j)
        mean[j] += std::fabs(st.rows[r * dim + j]) / static_cast<float>(n);
    // Reference outputs X W^T of every consumer.
    std::vector<std::vector<float>> ref;
    for (WorkLinear* p : consumers) {
      ref.emplace_back(n * static_cast<size_t>(p->out));
      kernels::sgemm_nt(n, static_cast<size_t>(p->out), dim, st.rows.data(), dim, p->w.data(), dim,
                        ref.back().data(), static_cast<size_t>(p->out));
    }
    double best_err = -1.0;
    std::vector<float> best_s(dim, 1.0f);
    for (int g = 0; g <= 20; ++g) {
      const float ratio = static_cast<float>(g) / 20.0f;
      std::vector<float> s(dim);
      float mx = 0.0f, mn = 1e30f;
      for (size_t j = 0; j < dim; ++j) {
        s[j] = std::pow(std::max(mean[j], 1e-4f), ratio);
        mx = std::max(mx, s[j]);
        mn = std::min(mn, s[j]);
      }
      const float norm = std::sqrt(mx * mn);
      for (float& v : s) v /= norm;
      double err = 0.0;
      for (size_t i = 0; i < consumers.size(); ++i) {
        WorkLinear trial = *consumers[i];
        scale_columns(trial, s);
        fake_quantize_rows(trial.w, static_cast<size_t>(trial.out), dim, specs_(layer, trial.name));
        std::vector<float> xs(st.rows);
        for (size_t r = 0; r < n; ++r)
          for (size_t j = 0; j < dim; ++j) xs[r * dim + j] /= s[j];
        std::vector<float> y(ref[i].size());
        kernels::sgemm_nt(n, static_cast<size_t>(trial.out), dim, xs.data(), dim, trial.w.data(),
                          dim, y.data(), static_cast<size_t>(trial.out));
        for (size_t k = 0; k < y.size(); ++k) err += double(y[k] - ref[i][k]) * (y[k] - ref[i][k]);
      }
      if (best_err < 0 || err < best_err) {
        best_err = err;
        best_s = s;
      }
    }
    // Weight-only: the input is divided by s online (exact in full precision).
    auto t = std::make_shared<ActivationTransform>(dim);
    t->set_smooth(best_s);
    for (WorkLinear* p : consumers) {
      scale_columns(*p, best_s);
      p->transform = t;
    }
  }

  WeightSpecs specs_;
  std::unique_ptr<QuantPass> rtn_;
};

}  // namespace

std::unique_ptr<QuantPass> make_awq_pass(const QuantizeOptions& o) {
  return std::make_unique<AwqPass>(o);
}

}  // namespace lowbit
