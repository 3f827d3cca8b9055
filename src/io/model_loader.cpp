#include "io/model_loader.h"

#include <algorithm>

#include "core/error.h"
#include "core/memory_budget.h"
#include "io/gguf_model.h"
#include "io/gguf_reader.h"
#include "io/hf_checkpoint.h"
#include "io/llama2c_checkpoint.h"
#include "io/quantized_model_io.h"
#include "text/text_file.h"

namespace lowbit {
namespace fs = std::filesystem;

namespace {

std::unique_ptr<Tokenizer> load_tokenizer_file(const fs::path& path) {
  const auto name = path.filename().string();
  if (name.ends_with(".json")) return load_bpe_tokenizer_json(path);
  if (name.ends_with(".model")) return load_sentencepiece_tokenizer(path);
  if (name.ends_with(".bin")) return load_llama2c_tokenizer(path);
  fail("{}: unknown tokenizer format (expected .json, .model or .bin)", path.string());
}

}  // namespace

LoadedModel load_model(const fs::path& path, const fs::path& tokenizer_path,
                       const LoadOptions& options) {
  if (!fs::exists(path)) fail("{}: no such file or directory", path.string());
  LoadedModel out;
  LlamaWeights weights;
  QuantSpec kv_spec;
  LlamaModel::AttentionQuant attention;
  TokenPruning pruning;
  bool quantized = false;
  std::unique_ptr<Tokenizer> embedded_tokenizer;
  if (is_quantized_model_file(path)) {
    // Packed weights are read into memory: about the file's size.
    require_memory(fs::file_size(path) + (uint64_t{64} << 20),
                   fmt::format("{}: loading its packed weights", path.string()),
                   "use a smaller model or fewer bits per weight");
    auto q = load_quantized_model(
        path, options.simulate ? QuantExecution::kSimulated : QuantExecution::kPacked);
    weights = std::move(q.weights);
    kv_spec = q.kv;
    attention = q.attention;
    pruning = q.pruning;
    out.quant_info = std::move(q.info);
    out.file_bytes = q.file_bytes;
    embedded_tokenizer = std::move(q.tokenizer);
    out.tokenizer_config = std::move(q.tokenizer_config);
    out.tokenizer_config_source = path.string() + ": embedded tokenizer_config.json";
    out.format = "lowbit-quantized";
    quantized = true;
  } else if (is_gguf_file(path)) {
    auto g = load_gguf_model(path, options.simulate);
    weights = std::move(g.weights);
    out.dtype_params = std::move(g.type_params);
    out.file_bytes = g.file_bytes;
    embedded_tokenizer = std::move(g.tokenizer);
    out.tokenizer_config = std::move(g.tokenizer_config);
    out.tokenizer_config_source = path.string() + ": GGUF tokenizer metadata";
    out.gguf_requantized = std::move(g.requantized);
    // Types lowbit holds only approximately are re-quantized: say so once.
    for (const auto& line : out.gguf_requantized)
      fmt::print(stderr, "note: {}: {} (no exact lowbit form)\n", path.string(), line);
    out.format = "gguf";
  } else if (fs::is_directory(path)) {
    if (!fs::exists(path / "config.json"))
      fail("{}: not a Hugging Face checkpoint folder (no config.json)", path.string());
    HfCheckpoint ckpt = load_hf_checkpoint(path, options.residency);
    weights = std::move(ckpt.weights);
    out.dtype_params = std::move(ckpt.dtype_params);
    out.file_bytes = ckpt.file_bytes;
    out.format = "huggingface";
  } else if (path.extension() == ".bin") {
    require_memory(fs::file_size(path) + (uint64_t{64} << 20),
                   fmt::format("{}: loading its fp32 weights", path.string()),
                   "use a smaller model");
    weights = load_llama2c_checkpoint(path);
    out.dtype_params["F32"] = weights.config.parameter_count();
    out.file_bytes = fs::file_size(path);
    out.format = "llama2.c";
  } else {
    fail(
        "{}: unknown checkpoint format (expected a Hugging Face folder, a lowbit .lowbit file, "
        "a .gguf file or a llama2.c .bin)",
        path.string());
  }

  if (out.format != "lowbit-quantized" && out.format != "gguf") {
    const fs::path config =
        (fs::is_directory(path) ? path : path.parent_path()) / "tokenizer_config.json";
    if (fs::exists(config)) {
      out.tokenizer_config = read_text_file(config);
      out.tokenizer_config_source = config.string();
    }
  }
  if (!tokenizer_path.empty())
    out.tokenizer = load_tokenizer_file(tokenizer_path);
  else if (embedded_tokenizer)
    out.tokenizer = std::move(embedded_tokenizer);
  else
    out.tokenizer = load_tokenizer_for(path);
  const auto& c = weights.config;
  if (out.tokenizer->vocab_size() > c.vocab_size)
    fail("{}: tokenizer has {} tokens but the model's vocab_size is {}", path.string(),
         out.tokenizer->vocab_size(), c.vocab_size);
  if (!out.tokenizer->bos_id) out.tokenizer->bos_id = c.bos_id;
  if (!out.tokenizer->eos_id) out.tokenizer->eos_id = c.eos_id;
  out.stop_ids.push_back(*out.tokenizer->eos_id);
  for (const int32_t id : c.eos_ids)  // all of config.json's eos_token_id list
    if (std::find(out.stop_ids.begin(), out.stop_ids.end(), id) == out.stop_ids.end())
      out.stop_ids.push_back(id);
  // llama2.c models separate documents with BOS; its run.c stops generating there.
  if (out.format == "llama2.c") out.stop_ids.push_back(*out.tokenizer->bos_id);
  out.model = std::make_unique<LlamaModel>(std::move(weights));
  if (quantized) {
    out.model->set_kv_quant(kv_spec);
    out.model->set_attention_quant(attention);
    out.model->set_token_pruning(pruning);
  }
  return out;
}

}  // namespace lowbit
