#pragma once
// NF4 (Dettmers et al. 2023, QLoRA; bitsandbytes' blockwise 4-bit NormalFloat): each block of
// group_size weights (64 in QLoRA) is divided by its absmax and rounded to the nearest of the 16
// NF4 values (layers/codebook.h); the value is nf4[u] * absmax. With double quantization the
// absmax constants are themselves quantized: their mean is subtracted and they are stored with
// 8 bits per value in blocks of 256 with one fp32 scale per block.
#include <memory>
#include <span>

#include "layers/quantizer.h"
#include "model/config.h"

namespace lowbit {

struct QuantizeOptions;
class QuantPass;

// NF4 with blocks of group_size (> 0); double_quant quantizes the block scales as above.
QuantizedMatrix nf4_quantize(std::span<const float> w, size_t rows, size_t cols, int group_size,
                             bool double_quant);
// In place: the scales quantize-dequantized as QLoRA's double quantization stores them.
void double_quantize_scales(std::span<float> scales);

std::unique_ptr<QuantPass> make_nf4_pass(const QuantizeOptions& options);
void validate_nf4(const QuantizeOptions& options, const ModelConfig& config);

}  // namespace lowbit
