#pragma once
// The diagonal of the empirical Fisher information of every decoder projection weight, as
// SqueezeLLM (Kim et al. 2024, §3.1) weighs its k-means: F = sum over calibration windows of
// (dL/dW)^2, L the window's mean next-token cross-entropy, computed by lowbit's training engine
// (train_model.h) on the model as it is (full precision before quantization). Memory: the
// engine's fp32 master copy of the model plus one fp32 value per projection weight for F, on top
// of the model itself; the training engine's bounds apply (docs/training.md).
#include <array>
#include <cstdint>
#include <vector>

#include "model/llama.h"

namespace lowbit::train {

// [layer][projection: q, k, v, o, gate, up, down] -> [out * in], row-major like the weight.
using FisherDiagonal = std::vector<std::array<std::vector<float>, 7>>;

// Windows of equal length (one backward pass each); `progress` draws a bar on stderr.
FisherDiagonal fisher_diagonal(const LlamaModel& model,
                               const std::vector<std::vector<int32_t>>& windows, bool progress);

}  // namespace lowbit::train
