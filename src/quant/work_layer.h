#pragma once
// One decoder layer while it is being quantized: fp32 working copies of its seven projections,
// each with the online transform of its input and, once a weight quantizer has run, its quantized
// weight. Every method pass edits a WorkLayer; the pipeline installs it into the model.
#include <array>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "layers/activation_transform.h"
#include "layers/quantizer.h"
#include "layers/weight_extras.h"
#include "model/llama.h"

namespace lowbit {

// The four linear-input sites of a layer, in ActivationSite order.
inline constexpr ActivationSite kSites[] = {ActivationSite::kQkvInput, ActivationSite::kOInput,
                                            ActivationSite::kUpInput, ActivationSite::kDownInput};

// A projection being quantized: a mutable fp32 weight and the online transform of its input.
struct WorkLinear {
  std::string_view name;  // "q_proj", ... (the --bits-map names)
  int in = 0, out = 0;
  std::vector<float> w;  // [out, in]
  std::vector<float> bias;
  std::shared_ptr<ActivationTransform> transform;
  std::optional<QuantizedMatrix> q;  // set by the weight quantizer
  // Side data of the quantized weight (LLM.int8() outlier columns, SqueezeLLM's sparse part,
  // LoRC's low-rank factors), or null.
  std::shared_ptr<WeightExtras> extras;
};

struct WorkLayer {
  WorkLinear q, k, v, o, gate, up, down;
  // The projections that read `site` (q/k/v, o, gate/up, down): they share its input.
  std::vector<WorkLinear*> at(ActivationSite site);
};

// A mutable fp32 copy of one layer's projections; fails (naming the layer and projection) when
// one is not full precision: a quantized model is not quantized again.
WorkLayer take_layer(const LayerWeights& W, size_t layer);
// Fails unless every projection of `W` is full precision.
void check_full_precision(const LayerWeights& W, size_t layer);

// Installs a working layer into the model as fake-quantized operators with activation spec `act`
// (full-precision weights where no weight quantizer has run).
void install_layer(LayerWeights& W, const WorkLayer& L, const QuantSpec& act);

// Per input channel, the max |w| over the rows of every layer in `layers` (all of one width).
std::vector<float> column_absmax(const std::vector<WorkLinear*>& layers);
// W[:, j] *= s[j].
void scale_columns(WorkLinear& l, std::span<const float> s);
// W[r, :] /= s[r] and bias[r] /= s[r].
void divide_rows(WorkLinear& l, std::span<const float> s);

}  // namespace lowbit
