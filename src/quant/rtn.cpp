#include "quant/rtn.h"

#include "quant/quant_pass.h"

namespace lowbit {
namespace {

class RtnPass final : public QuantPass {
 public:
  explicit RtnPass(WeightSpecs specs) : specs_(std::move(specs)) {}

  void apply(LayerContext& ctx) override {
    for (ActivationSite site : kSites)
      for (WorkLinear* p : ctx.work.at(site)) {
        const QuantSpec spec = specs_(ctx.index, p->name);
        if (spec.enabled())
          p->q = quantize_rows(p->w, static_cast<size_t>(p->out), static_cast<size_t>(p->in), spec);
      }
  }

 private:
  WeightSpecs specs_;
};

}  // namespace

std::unique_ptr<QuantPass> make_rtn_pass(const QuantizeOptions& o) {
  return std::make_unique<RtnPass>(o.weight_specs());
}

}  // namespace lowbit
