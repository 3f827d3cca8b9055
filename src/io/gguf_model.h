#pragma once
// A llama-architecture GGUF file (llama.cpp's container) as a lowbit model: the config from the
// llama.* metadata, the tokenizer from tokenizer.ggml.* (io/gguf_tokenizer.h), the tensors
//   F32, F16, BF16   full precision, matrices borrowed from the mapping as stored (DenseMatrix);
//   Q8_0, Q4_0       repacked exactly into lowbit's packed int8 / int4 weights (symmetric,
//                    group 32, scale = the block's fp16 d): the same values, no requantization,
//                    run weight-only (A16) on the packed kernels like a W4A16 g32 .lowbit file;
//   Q4_1, Q4_K, Q6_K dequantized and re-quantized with lowbit's RTN at the nearest lowbit format
//                    (their float minimums / two-level scales have no exact lowbit form).
// llama.cpp's converter permutes the rows of attn_q / attn_k within each head (interleaved RoPE
// pairs); the loader undoes it (rows only, so it applies to packed rows alike), giving Hugging
// Face's rotate_half layout that lowbit's forward pass uses.
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/llama_weights.h"
#include "text/tokenizer.h"

namespace lowbit {

struct GgufModel {
  LlamaWeights weights;
  std::unique_ptr<Tokenizer> tokenizer;
  std::string tokenizer_config;                // tokenizer_config.json-like text (chat template)
  std::map<std::string, int64_t> type_params;  // parameters per GGUF tensor type ("Q4_0" -> n)
  // One line per GGUF type that was re-quantized ("Q6_K -> int6 sym g16 (RTN): 8 tensors").
  std::vector<std::string> requantized;
  size_t file_bytes = 0;
};

// `simulate`: quantized projections run on the simulated fp32 path (FakeQuantLinear) instead of
// the packed kernels.
GgufModel load_gguf_model(const std::filesystem::path& path, bool simulate = false);

// The lowbit format a GGUF tensor type (by name, "Q4_0") becomes: "int4 sym g32 (exact)",
// "int4 asym g32 (re-quantized, RTN)", or the name itself for the full-precision types.
std::string gguf_type_in_lowbit(std::string_view type_name);

}  // namespace lowbit
