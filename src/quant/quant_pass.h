#pragma once
// The interface every method implements: a pass over the layers of a model being quantized.
// The pipeline (pipeline.cpp) calls begin() once, then apply() on each layer in order, after the
// passes of earlier kinds have run on that layer; what a pass receives is what its registry row
// says it needs.
#include "quant/calibration.h"
#include "quant/quantize_options.h"
#include "quant/work_layer.h"

namespace lowbit {

// What a pass sees of the layer being quantized.
struct LayerContext {
  const ModelConfig& config;
  int index;
  LayerWeights& weights;  // the model's layer (a transform may fold scales into its norms)
  WorkLayer& work;        // fp32 working copies of the projections, edited in place
  // Statistics of the layer's inputs as the earlier passes left the model (full precision);
  // empty unless the row's MethodNeeds asks for them. The pass's own: it may consume them (GPTQ
  // moves the Gram matrices into its solver rather than copy a gigabyte).
  LayerStats& stats;
  // Statistics of the mean calibration sequence (every one of its rows kept), propagated through
  // the earlier layers as quantized, then through this layer as the earlier passes left it (full
  // precision); null unless the pass asks for it (needs_quantized_sequence).
  const LayerStats* sequence = nullptr;
};

class QuantPass {
 public:
  virtual ~QuantPass() = default;
  // Model-wide changes before the first layer (a rotation of the residual stream reaches the
  // embeddings and the head).
  virtual void begin(LlamaModel& /*model*/) {}
  virtual void apply(LayerContext& layer) = 0;
  // A pass that trains (MethodNeeds::training_data) gets the calibration windows once, after
  // every pass's begin() (so it embeds them as the model-wide changes left the embeddings).
  virtual void begin_training(const LlamaModel& /*model*/,
                              const std::vector<std::vector<int32_t>>& /*windows*/) {}
  // Whether apply() wants LayerContext::sequence (DuQuant's authors fit their rotations on it).
  virtual bool needs_quantized_sequence() const { return false; }
};

}  // namespace lowbit
