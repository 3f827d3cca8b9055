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

HfCheckpoint load_hf_checkpoint(const std::filesystem::path& dir);

}  // namespace lowbit
