#include "quant/lorc.h"

#include <cmath>

#include "core/error.h"
#include "kernels/dense_linalg.h"
#include "quant/quant_pass.h"

namespace lowbit {

void add_low_rank_compensation(WorkLinear& p, size_t rank, uint64_t seed) {
  if (!p.q) fail("lorc: the projection has no quantized weight to compensate");
  const size_t in = static_cast<size_t>(p.in), out = static_cast<size_t>(p.out);
  // The error against the effective weight so far (grid plus any side data already there).
  std::vector<float> e = p.q->dequantize();
  if (p.extras) p.extras->add_to_dense(e, out, in);
  for (size_t i = 0; i < e.size(); ++i) e[i] = p.w[i] - e[i];
  const auto svd = kernels::truncated_svd(e, out, in, rank, seed);
  if (svd.rank == 0) return;
  if (!p.extras) p.extras = std::make_shared<WeightExtras>();
  LowRank& lr = p.extras->low_rank;
  lr.rank = svd.rank;
  lr.u.resize(out * svd.rank);
  lr.v.resize(svd.rank * in);
  for (size_t t = 0; t < svd.rank; ++t) {
    const double root = std::sqrt(svd.s[t]);
    for (size_t i = 0; i < out; ++i)
      lr.u[i * svd.rank + t] = static_cast<float>(svd.u[i * svd.rank + t] * root);
    for (size_t j = 0; j < in; ++j)
      lr.v[t * in + j] = static_cast<float>(svd.vt[t * in + j] * root);
  }
  round_to_f16(lr.u);
  round_to_f16(lr.v);
}

namespace {

class LorcPass final : public QuantPass {
 public:
  LorcPass(size_t rank, uint64_t seed) : rank_(rank), seed_(seed) {}

  void apply(LayerContext& ctx) override {
    uint64_t i = 0;
    for (ActivationSite site : kSites)
      for (WorkLinear* p : ctx.work.at(site))
        if (p->q)
          add_low_rank_compensation(*p, rank_, seed_ + 7 * static_cast<uint64_t>(ctx.index) + i++);
  }

 private:
  size_t rank_;
  uint64_t seed_;
};

}  // namespace

std::unique_ptr<QuantPass> make_lorc_pass(const QuantizeOptions& o) {
  return std::make_unique<LorcPass>(static_cast<size_t>(o.params.integer("lorc-rank")), o.seed);
}

}  // namespace lowbit
