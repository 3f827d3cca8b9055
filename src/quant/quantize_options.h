#pragma once
// Everything that describes one quantization run: the method (its passes), the bit formats of
// weights, activations, KV cache and output head, the methods' tuning parameters, calibration.
#include <cstdint>

#include "layers/quantizer.h"
#include "model/config.h"
#include "quant/bits_map.h"
#include "quant/calibration.h"
#include "quant/method_registry.h"

namespace lowbit {

// The weight spec of each projection: the run's weight spec with the --bits-map rules applied
// (bits 16: the projection stays in full precision). A copyable value passes keep.
struct WeightSpecs {
  QuantSpec weight;
  BitsMap bits_map;
  QuantSpec operator()(int layer, std::string_view projection) const {
    return bits_map.spec_for(layer, projection, weight);
  }
};

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
  // Per-layer weight bits (--bits-map): projections a rule matches get its bits (and group, if
  // it gives one) instead of weight.bits (16: left in full precision).
  BitsMap bits_map;
  MethodParams params;  // the methods' tuning parameters (method_registry.h)
  uint64_t seed = 0;    // random rotations
  CalibrationOptions calib;

  bool needs_calibration() const { return method.needs_calibration(); }
  // The weight spec of one projection ("q_proj", ...) of layer `layer`, after the bits map.
  QuantSpec weight_for(int layer, std::string_view projection) const {
    return weight_specs()(layer, projection);
  }
  WeightSpecs weight_specs() const { return {weight, bits_map}; }
  // Throws lowbit::Error for impossible combinations before any work starts.
  void validate(const ModelConfig& config) const;
};

}  // namespace lowbit
