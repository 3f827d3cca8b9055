#pragma once
// The quantized model file `lowbit quantize -o OUT.lowbit` writes and every command loads: one
// `.lowbit` container (src/io/lowbit_file.h) holding the source config.json, the tokenizer files,
// the quantization metadata (method, weight/activation/KV specs, transforms) and the tensors:
// fp32 norms (and embeddings when they are not read from the head), projection weights as packed
// kernel blobs (src/kernels/packed_weights.h: int4 two per byte or int8, with scales and zero
// points), transforms (smoothing, block rotations, permutations). See docs/quantized-format.md.
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "model/llama.h"
#include "text/tokenizer.h"

namespace lowbit {

inline constexpr int kQuantFormatVersion = 2;

// Writes a quantized model layer by layer, as quantize_model finishes each (its `layer_done`
// hook), so the quantized layers need not all be held: tensor data spills to an unnamed temporary
// file beside the output, and finish() writes the file atomically (temporary sibling + rename).
// Checks the output path at construction, before any work.
class QuantizedModelWriter {
 public:
  // `source_dir`: the Hugging Face folder the model came from (config and tokenizer are copied).
  QuantizedModelWriter(const std::filesystem::path& source_dir,
                       const std::filesystem::path& out_file);
  ~QuantizedModelWriter();
  QuantizedModelWriter(const QuantizedModelWriter&) = delete;
  QuantizedModelWriter& operator=(const QuantizedModelWriter&) = delete;

  // Layer l's norms and quantized projections (layers in order, each once).
  void add_layer(size_t l, const LayerWeights& layer);
  // The rest (embeddings, final norm, head, KV and attention settings, metadata), then the file.
  void finish(const LlamaModel& model, const nlohmann::json& info);

 private:
  struct State;
  std::filesystem::path source_dir_, out_file_;
  std::unique_ptr<State> state_;
  size_t layers_written_ = 0;
};

// Writes `model` (after quantize_model) atomically (temporary sibling + rename). `source_dir` is
// the Hugging Face folder it came from (config and tokenizer are copied into the file).
void save_quantized_model(const LlamaModel& model, const std::filesystem::path& source_dir,
                          const std::filesystem::path& out_file, const nlohmann::json& info);

bool is_quantized_model_file(const std::filesystem::path& path);

// Rewrites the .lowbit file `in` as `out` (atomically; `out` may be `in`) with `pruning` as its
// default token pruning (model/token_pruning.h; ratio 0 removes it). Tensors are copied as they
// are.
void write_token_pruning(const std::filesystem::path& in, const std::filesystem::path& out,
                         const TokenPruning& pruning);

// How quantized projections execute: the integer kernels (packed weights used in place from the
// file mapping), or the simulated path (weights dequantized to fp32, fp32 GEMMs) used by the
// accuracy tables, which the kernels must reproduce.
enum class QuantExecution { kPacked, kSimulated };

struct QuantizedModel {
  LlamaWeights weights;
  QuantSpec kv;
  LlamaModel::AttentionQuant attention;
  TokenPruning pruning;  // the file's default token pruning (off when it stores none)
  nlohmann::json info;   // method, source, calibration, ...
  std::unique_ptr<Tokenizer> tokenizer;
  std::string tokenizer_config;  // the embedded tokenizer_config.json's text ("" if none)
  size_t file_bytes = 0;
};

// `verify_checksums` = false skips the tensors' CRC-32 (the header's is always checked): for the
// fuzz target, so mutated files reach the parsers behind the checksums.
QuantizedModel load_quantized_model(const std::filesystem::path& path, QuantExecution exec,
                                    bool verify_checksums = true);

}  // namespace lowbit
