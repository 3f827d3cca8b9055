#pragma once
// LLM.int8() (Dettmers et al. 2022): vector-wise int8 (one absmax scale per weight row and per
// token) with mixed-precision decomposition: the input features whose magnitude exceeds a
// threshold (6.0) are multiplied in floating point with their weight columns, the rest in int8.
// bitsandbytes finds those features per batch at run time; lowbit fixes them per layer input from
// the calibration statistics (a feature is an outlier column when its calibration max |x| exceeds
// the threshold), so that their weight columns can be kept in fp16 beside the int8 weight
// (layers/weight_extras.h). The paper observes that outlier features sit in the same few
// dimensions for all tokens, which is what makes a fixed set work; a token whose outlier falls
// outside the set is quantized with the rest (docs/quantization.md).
#include <memory>
#include <span>
#include <vector>

#include "model/config.h"
#include "quant/work_layer.h"

namespace lowbit {

struct QuantizeOptions;
class QuantPass;

// The input features whose max |x| exceeds `threshold`, ascending.
std::vector<uint32_t> outlier_features(std::span<const float> act_absmax, float threshold);

// Quantizes `p` vector-wise to `bits` with the columns in `cols` taken out into fp16 side data.
void decompose_and_quantize(WorkLinear& p, std::span<const uint32_t> cols, float threshold,
                            int bits);

std::unique_ptr<QuantPass> make_llm_int8_pass(const QuantizeOptions& options);
void validate_llm_int8(const QuantizeOptions& options, const ModelConfig& config);

}  // namespace lowbit
