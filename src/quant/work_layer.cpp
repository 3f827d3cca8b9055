#include "quant/work_layer.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "layers/fake_quant_linear.h"

namespace lowbit {
namespace {

// A layer's projections in WorkLayer order, with their names.
constexpr const char* kProjectionNames[] = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                            "gate_proj", "up_proj", "down_proj"};
std::array<const Linear*, 7> projections(const LayerWeights& W) {
  return {W.wq.get(),     W.wk.get(),   W.wv.get(),    W.wo.get(),
          W.w_gate.get(), W.w_up.get(), W.w_down.get()};
}

const DenseLinear& dense_projection(const LayerWeights& W, size_t layer, size_t i) {
  const auto* dense = dynamic_cast<const DenseLinear*>(projections(W)[i]);
  if (dense == nullptr)
    fail("layer {} {}: the model is already quantized; quantize a full-precision model", layer,
         kProjectionNames[i]);
  return *dense;
}

WorkLinear take(const DenseLinear& dense) {
  WorkLinear w;
  w.in = dense.in_features();
  w.out = dense.out_features();
  w.w = dense.weight().to_f32();
  w.bias.assign(dense.bias().begin(), dense.bias().end());
  return w;
}

}  // namespace

std::vector<WorkLinear*> WorkLayer::at(ActivationSite site) {
  switch (site) {
    case ActivationSite::kQkvInput:
      return {&q, &k, &v};
    case ActivationSite::kOInput:
      return {&o};
    case ActivationSite::kUpInput:
      return {&gate, &up};
    case ActivationSite::kDownInput:
      return {&down};
  }
  return {};
}

void check_full_precision(const LayerWeights& W, size_t layer) {
  for (size_t i = 0; i < std::size(kProjectionNames); ++i) dense_projection(W, layer, i);
}

WorkLayer take_layer(const LayerWeights& W, size_t layer) {
  auto at = [&](size_t i) {
    WorkLinear w = take(dense_projection(W, layer, i));
    w.name = kProjectionNames[i];
    return w;
  };
  return {at(0), at(1), at(2), at(3), at(4), at(5), at(6)};
}

void install_layer(LayerWeights& W, const WorkLayer& L, const QuantSpec& act) {
  auto make = [&](const WorkLinear& p) -> std::unique_ptr<Linear> {
    if (p.q) return std::make_unique<FakeQuantLinear>(*p.q, p.bias, act, p.transform, p.extras);
    return std::make_unique<FakeQuantLinear>(p.in, p.out, p.w, p.bias, act, p.transform);
  };
  W.wq = make(L.q);
  W.wk = make(L.k);
  W.wv = make(L.v);
  W.wo = make(L.o);
  W.w_gate = make(L.gate);
  W.w_up = make(L.up);
  W.w_down = make(L.down);
}

std::vector<float> column_absmax(const std::vector<WorkLinear*>& layers) {
  std::vector<float> m(static_cast<size_t>(layers.front()->in), 0.0f);
  for (const WorkLinear* l : layers)
    for (size_t r = 0; r < static_cast<size_t>(l->out); ++r)
      for (size_t j = 0; j < m.size(); ++j)
        m[j] = std::max(m[j], std::fabs(l->w[r * m.size() + j]));
  return m;
}

void scale_columns(WorkLinear& l, std::span<const float> s) {
  for (size_t r = 0; r < static_cast<size_t>(l.out); ++r)
    for (size_t j = 0; j < s.size(); ++j) l.w[r * s.size() + j] *= s[j];
}

void divide_rows(WorkLinear& l, std::span<const float> s) {
  const size_t in = static_cast<size_t>(l.in);
  for (size_t r = 0; r < s.size(); ++r) {
    for (size_t j = 0; j < in; ++j) l.w[r * in + j] /= s[r];
    if (!l.bias.empty()) l.bias[r] /= s[r];
  }
}

}  // namespace lowbit
