#pragma once
// One entry point for every checkpoint format: a Hugging Face folder (config.json + safetensors)
// or a llama2.c .bin file, with the tokenizer found beside it.
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/hf_checkpoint.h"
#include "model/llama.h"
#include "text/tokenizer.h"

namespace lowbit {

struct LoadedModel {
  std::unique_ptr<LlamaModel> model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::string format;  // "huggingface", "llama2.c", "lowbit-quantized" or "gguf"
  std::map<std::string, int64_t> dtype_params;  // parameters per stored dtype
  size_t file_bytes = 0;
  std::vector<int32_t> stop_ids;  // generation stops at any of these
  nlohmann::json quant_info;      // method, source, calibration of a quantized model, else null
  // tokenizer_config.json's text (beside the checkpoint, or embedded in a .lowbit file; "" when
  // there is none) and what to call it in errors: chat templates live there.
  std::string tokenizer_config;
  std::string tokenizer_config_source;
  // GGUF: one line per tensor type re-quantized on load (io/gguf_model.h), else empty.
  std::vector<std::string> gguf_requantized;
};

struct LoadOptions {
  // Quantized (.lowbit) models: run every projection through the simulated fp32 path instead of
  // the integer kernels (the accuracy reference the kernels must reproduce).
  bool simulate = false;
  // Hugging Face checkpoints: what the memory guard assumes stays resident (hf_checkpoint.h);
  // `lowbit quantize` streams layer by layer.
  HfResidency residency;
};

// `path`: a Hugging Face folder, a quantized .lowbit file, a llama-architecture .gguf file (its
// tokenizer inside) or a llama2.c .bin. tokenizer_path
// empty: the tokenizer beside the checkpoint (or inside the .lowbit file).
LoadedModel load_model(const std::filesystem::path& path,
                       const std::filesystem::path& tokenizer_path = {},
                       const LoadOptions& options = {});

}  // namespace lowbit
