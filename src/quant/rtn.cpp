#include "quant/rtn.h"

#include "quant/quant_pass.h"

namespace lowbit {
namespace {

class RtnPass final : public QuantPass {
 public:
  explicit RtnPass(QuantSpec weight) : weight_(weight) {}

  void apply(LayerContext& ctx) override {
    for (ActivationSite site : kSites)
      for (WorkLinear* p : ctx.work.at(site))
        p->q =
            quantize_rows(p->w, static_cast<size_t>(p->out), static_cast<size_t>(p->in), weight_);
  }

 private:
  QuantSpec weight_;
};

}  // namespace

std::unique_ptr<QuantPass> make_rtn_pass(const QuantizeOptions& o) {
  return std::make_unique<RtnPass>(o.weight);
}

}  // namespace lowbit
