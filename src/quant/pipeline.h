#pragma once
// Post-training quantization of a loaded model: a transform pass (SmoothQuant, Hadamard rotation
// or DuQuant) followed by a weight quantizer (RTN, GPTQ or AWQ), named together as
// "--method duquant+gptq". The result replaces every projection of the model by a
// FakeQuantLinear (online transform, per-token activation quantization, quantized weight) and
// sets the KV-cache quantizer, so perplexity and generation run the quantized model.
#include <string>
#include <vector>

#include "text/tokenizer.h"
#include "model/llama.h"
#include "quant/calibration.h"
#include "layers/quantizer.h"

namespace lowbit {

enum class TransformMethod { kNone, kSmoothQuant, kHadamard, kDuQuant };
enum class WeightMethod { kRtn, kGptq, kAwq };

struct MethodSpec {
  TransformMethod transform = TransformMethod::kNone;
  WeightMethod weight = WeightMethod::kRtn;
  // Parses "rtn", "smoothquant", "hadamard", "duquant", "gptq", "awq" joined by '+'.
  static MethodSpec parse(const std::string& text);
  std::string name() const;
};

struct QuantizeOptions {
  MethodSpec method;
  QuantSpec weight{4, true, 0, 1.0f, true};
  QuantSpec act{16, true, 0, 1.0f, false};
  QuantSpec kv{16, false, 0, 1.0f, false};  // group size is set to head_dim
  // The output head: int8 weights (per row, MSE clip) and int8 per-token activations by default.
  // A tied model then also reads its embeddings from the quantized head. 16 keeps it fp32 (the
  // papers' protocol).
  QuantSpec head_weight{8, true, 0, 1.0f, true};
  QuantSpec head_act{8, true, 0, 1.0f, false};
  float smooth_alpha = 0.5f;
  size_t duquant_block = 128;
  int duquant_steps = 256;
  bool duquant_row_rule = false;
  double gptq_damp = 0.01;
  bool gptq_act_order = false;
  uint64_t seed = 0;
  CalibrationOptions calib;

  bool needs_calibration() const;
  // Throws lowbit::Error for impossible combinations before any work starts.
  void validate(const ModelConfig& config) const;
};

struct QuantizeReport {
  double calibration_seconds = 0;
  double quantize_seconds = 0;
  size_t calibration_tokens = 0;
};

QuantizeReport quantize_model(LlamaModel& model, const Tokenizer& tokenizer,
                              const QuantizeOptions& options);

}  // namespace lowbit
