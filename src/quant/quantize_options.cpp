#include "quant/quantize_options.h"

#include <fmt/format.h>

#include "core/error.h"

namespace lowbit {

void QuantizeOptions::validate(const ModelConfig& c) const {
  weight.validate("--wbits");
  bits_map.validate(c);
  act.validate("--abits");
  kv.validate("--kvbits");
  query.validate("--qbits", static_cast<size_t>(c.head_dim));
  head_weight.validate("--head-bits/--head-group", static_cast<size_t>(c.dim));
  head_act.validate("--head-abits", static_cast<size_t>(c.dim));
  for (int in : {c.dim, c.q_dim(), c.hidden_dim}) {
    weight.validate("--wbits/--group", static_cast<size_t>(in));
    act.validate("--abits/--act-group", static_cast<size_t>(in));
  }
  // A rule's group must fit the projections it reaches (their input widths differ).
  if (bits_map.sets_groups())
    for (int l = 0; l < c.n_layers; ++l)
      for (std::string_view p : kLayerProjections) {
        const int in = p == "o_proj" ? c.q_dim() : p == "down_proj" ? c.hidden_dim : c.dim;
        bits_map.spec_for(l, p, weight)
            .validate(fmt::format("--bits-map: layers.{}.{}", l, p), static_cast<size_t>(in));
      }
  for (const MethodParam& p : method_params()) params.validate(p.name);
  for (const MethodInfo* pass : method.passes)
    if (pass->validate != nullptr) pass->validate(*this, c);
  if (needs_calibration() && calib.file.empty())
    fail("--method {} needs --calib FILE", method.name());
}

}  // namespace lowbit
