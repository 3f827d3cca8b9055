#pragma once
// The quantized model folder `lowbit quantize -o OUT` writes and every command loads:
//   OUT/config.json          the source config (tie_word_embeddings updated by rotations)
//   OUT/lowbit_quant.json    format version, method, weight/activation/KV specs, transforms
//   OUT/model.safetensors    embeddings and norms (F32); per projection either codes (U8, q - qmin)
//                            with F32 scales/zeros per group, or an F32 weight; transforms
//                            (smoothing F32, block rotations F32 [blocks, b, b], permutations I32)
//   OUT/tokenizer*           copied from the source
// See docs/quantized-format.md.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "model/llama.h"

namespace lowbit {

constexpr const char* kQuantMetadataFile = "lowbit_quant.json";
constexpr int kQuantFormatVersion = 1;

// Writes `model` (after quantize_model) to `out_dir` atomically: everything goes to a temporary
// folder beside it, renamed into place only when complete. `info` is stored in lowbit_quant.json.
void save_quantized_model(const LlamaModel& model, const std::filesystem::path& source_dir,
                          const std::filesystem::path& out_dir, const nlohmann::json& info);

bool is_quantized_model_dir(const std::filesystem::path& dir);
LlamaWeights load_quantized_weights(const std::filesystem::path& dir, QuantSpec& kv_spec,
                                    nlohmann::json& info);

}  // namespace lowbit
