#pragma once
// Post-training quantization of a loaded model: the passes of a method (method_registry.h: a
// transform such as SmoothQuant, Hadamard rotation or DuQuant, then a weight quantizer such as
// RTN, GPTQ or AWQ, named together as "--method duquant+gptq") run layer by layer. The result
// replaces every projection of the model by a FakeQuantLinear (online transform, per-token
// activation quantization, quantized weight), quantizes the output head and sets the KV-cache
// quantizer, so perplexity and generation run the quantized model.
#include "model/llama.h"
#include "quant/quantize_options.h"
#include "text/tokenizer.h"

namespace lowbit {

struct QuantizeReport {
  double calibration_seconds = 0;
  double quantize_seconds = 0;
  size_t calibration_tokens = 0;
};

QuantizeReport quantize_model(LlamaModel& model, const Tokenizer& tokenizer,
                              const QuantizeOptions& options);

}  // namespace lowbit
