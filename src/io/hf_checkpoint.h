#pragma once
// Hugging Face Llama-family checkpoint folders: config.json plus model.safetensors, or shards
// listed in model.safetensors.index.json. The shards are memory mapped and weight matrices stay
// in them as stored (bf16, f16 or fp32: layers/dense_matrix.h), so a model needs about its file
// size in memory; only norms and biases are converted to fp32.
#include <filesystem>
#include <map>
#include <string>

#include "model/config.h"
#include "model/llama_weights.h"

namespace lowbit {

// Parses and validates config.json; unsupported architectures or options name the field.
ModelConfig read_hf_config(const std::filesystem::path& config_json);

struct HfCheckpoint {
  LlamaWeights weights;
  std::map<std::string, int64_t> dtype_params;  // parameters stored per dtype, e.g. BF16 -> n
  size_t file_bytes = 0;                        // total size of the safetensors files
};

// What the memory guard assumes the caller will hold resident.
struct HfResidency {
  // false: the whole checkpoint (generate, perplexity, eval: every layer's pages stay mapped in).
  // true: `lowbit quantize`, which streams the model layer by layer (quant/pipeline.h): the
  // embeddings and head, one layer as stored plus its fp32 working copy and quantized form, and
  // `calibration_tokens` tokens of residual stream for each of up to two calibration streams plus
  // one layer's Gram matrices.
  bool layer_by_layer = false;
  uint64_t calibration_tokens = 0;
};

HfCheckpoint load_hf_checkpoint(const std::filesystem::path& dir,
                                const HfResidency& residency = {});

}  // namespace lowbit
