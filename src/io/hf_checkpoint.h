#pragma once
// Hugging Face Llama-family checkpoint folders: config.json plus model.safetensors, or shards
// listed in model.safetensors.index.json. Tensors are memory mapped and converted to fp32 one at a
// time, so peak memory is the fp32 model plus one tensor.
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
