#pragma once
// Everything that describes one quantization run: the method (its passes), the bit formats of
// weights, activations, KV cache and output head, the methods' tuning parameters, calibration.
#include <cstdint>

#include "layers/quantizer.h"
#include "model/config.h"
#include "quant/calibration.h"
#include "quant/method_registry.h"

namespace lowbit {

struct QuantizeOptions {
  MethodSpec method = MethodSpec::parse("rtn");
  QuantSpec weight{.bits = 4, .symmetric = true, .mse_clip = true};
  QuantSpec act{.bits = 16};
  QuantSpec kv{.bits = 16, .symmetric = false};  // group size is set to head_dim
  // The query after RoPE (and the q/k Hadamard of a rotation method), per token and head.
  QuantSpec query{.bits = 16};
  // The output head: int8 weights (per row, MSE clip) and int8 per-token activations by default.
  // A tied model then also reads its embeddings from the quantized head. 16 keeps it fp32 (the
  // papers' protocol).
  QuantSpec head_weight{.bits = 8, .symmetric = true, .mse_clip = true};
  QuantSpec head_act{.bits = 8, .symmetric = true};
  MethodParams params;  // the methods' tuning parameters (method_registry.h)
  uint64_t seed = 0;    // random rotations
  CalibrationOptions calib;

  bool needs_calibration() const { return method.needs_calibration(); }
  // Throws lowbit::Error for impossible combinations before any work starts.
  void validate(const ModelConfig& config) const;
};

}  // namespace lowbit
