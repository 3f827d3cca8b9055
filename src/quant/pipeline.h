#pragma once
// Post-training quantization of a loaded model: the passes of a method (method_registry.h: a
// transform such as SmoothQuant, Hadamard rotation or DuQuant, then a weight quantizer such as
// RTN, GPTQ or AWQ, named together as "--method duquant+gptq") run layer by layer. The result
// replaces every projection of the model by a FakeQuantLinear (online transform, per-token
// activation quantization, quantized weight), quantizes the output head and sets the KV-cache
// quantizer, so perplexity and generation run the quantized model.
#include <functional>

#include "model/llama.h"
#include "quant/quantize_options.h"
#include "text/tokenizer.h"

namespace lowbit {

struct QuantizeReport {
  double calibration_seconds = 0;
  double quantize_seconds = 0;
  size_t calibration_tokens = 0;
};

// Called with each layer as soon as it is quantized (layers in order). With it, the model's layer
// is released right after the call, so the quantized layers are never all held: `quantize`
// streams them into the output file (QuantizedModelWriter) and peak memory stays one layer's
// working copy plus the calibration streams. Without it the model keeps every quantized layer.
using LayerDone = std::function<void(int layer, const LayerWeights& weights)>;

QuantizeReport quantize_model(LlamaModel& model, const Tokenizer& tokenizer,
                              const QuantizeOptions& options, const LayerDone& layer_done = {});

}  // namespace lowbit
