#include "io/hf_checkpoint.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <set>

#include "core/error.h"
#include "core/json.h"
#include "core/limits.h"
#include "core/memory_budget.h"
#include "io/safetensors.h"

namespace lowbit {
namespace fs = std::filesystem;

namespace {

// Opens every shard once; tensors are looked up by name across them.
class ShardSet {
 public:
  explicit ShardSet(const fs::path& dir) {
    const fs::path single = dir / "model.safetensors";
    const fs::path index = dir / "model.safetensors.index.json";
    if (fs::exists(single)) {
      open(single);
    } else if (fs::exists(index)) {
      const Json j = read_json_file(index);
      const JsonFields map = JsonFields(j, index.string()).object("weight_map");
      std::set<std::string> files;
      std::map<std::string, std::string> listed;  // tensor -> shard, as the index says
      for (const auto& [name, file] : map.json().items()) {
        if (!file.is_string()) fail("{}: weight_map[\"{}\"] is not a string", index.string(), name);
        const std::string f = file.get<std::string>();
        if (f.find('/') != std::string::npos || f == "..")
          fail("{}: weight_map[\"{}\"] names a file outside the folder: {}", index.string(), name,
               f);
        files.insert(f);
        listed[name] = f;
      }
      for (const auto& f : files) {
        std::error_code ec;  // a name from the file: too long or odd names must not throw
        if (!fs::exists(dir / f, ec))
          fail("{}: lists shard {}, which is missing from {}{}", index.string(), f, dir.string(),
               ec ? " (" + ec.message() + ")" : std::string());
        open(dir / f);
      }
      // The index and the shards must agree: each listed tensor in the shard it names, and no
      // tensor in two shards (which one would be read is otherwise an accident of file order).
      std::map<std::string, const SafetensorsFile*> owner;
      for (const auto& shard : shards_)
        for (const auto& [name, info] : shard->tensors())
          if (const auto [it, fresh] = owner.emplace(name, shard.get()); !fresh)
            fail("{}: tensor \"{}\" is in two shards: {} and {}", index.string(), name,
                 it->second->path().filename().string(), shard->path().filename().string());
      for (const auto& [name, f] : listed) {
        const auto it = owner.find(name);
        if (it == owner.end() || it->second->path().filename() != f)
          fail("{}: weight_map says tensor \"{}\" is in {}, but {}", index.string(), name, f,
               it == owner.end() ? std::string("no shard has it")
                                 : "it is in " + it->second->path().filename().string());
      }
    } else {
      fail("{}: no model.safetensors or model.safetensors.index.json", dir.string());
    }
  }

  const std::shared_ptr<const SafetensorsFile>* find(const std::string& name) const {
    for (const auto& s : shards_)
      if (s->contains(name)) return &s;
    return nullptr;
  }

  // fp32 copy of `name` (norms, biases), checked against the expected shape.
  std::vector<float> load(const std::string& name, std::vector<int64_t> shape,
                          std::map<std::string, int64_t>& dtype_params) const {
    return checked(name, shape, dtype_params).to_f32(name);
  }

  // A weight matrix as stored, borrowed from the mapping (which it keeps alive).
  std::shared_ptr<const DenseMatrix> matrix(const std::string& name, int64_t rows, int64_t cols,
                                            std::map<std::string, int64_t>& dtype_params) const {
    const SafetensorsFile& file = checked(name, {rows, cols}, dtype_params);
    const TensorInfo& info = file.tensor(name);
    WeightDType t = WeightDType::kF32;
    switch (info.dtype) {
      case DType::F32:
        break;
      case DType::BF16:
        t = WeightDType::kBF16;
        break;
      case DType::F16:
        t = WeightDType::kF16;
        break;
      default:
        fail("{}: tensor \"{}\" has dtype {}, expected F32, F16 or BF16", file.path().string(),
             name, dtype_name(info.dtype));
    }
    return std::make_shared<const DenseMatrix>(static_cast<size_t>(rows), static_cast<size_t>(cols),
                                               t, info.data, *find(name));
  }

  size_t total_bytes() const {
    size_t n = 0;
    for (const auto& s : shards_) n += fs::file_size(s->path());
    return n;
  }

 private:
  // The shard holding `name`, after checking its shape; counts its parameters per dtype.
  const SafetensorsFile& checked(const std::string& name, const std::vector<int64_t>& shape,
                                 std::map<std::string, int64_t>& dtype_params) const {
    const auto* file = find(name);
    if (file == nullptr) fail("{}: missing tensor \"{}\"", where(), name);
    const TensorInfo& info = (*file)->tensor(name);
    if (info.shape != shape)
      fail("{}: tensor \"{}\" has shape [{}], config.json implies [{}]", (*file)->path().string(),
           name, fmt::join(info.shape, ", "), fmt::join(shape, ", "));
    dtype_params[dtype_name(info.dtype)] += info.numel();
    return **file;
  }
  void open(const fs::path& p) { shards_.push_back(std::make_shared<const SafetensorsFile>(p)); }
  std::string where() const {
    return shards_.empty() ? "checkpoint" : shards_.front()->path().string();
  }
  std::vector<std::shared_ptr<const SafetensorsFile>> shards_;
};

}  // namespace

ModelConfig read_hf_config(const fs::path& config_json) {
  const std::string file = config_json.string();
  const Json doc = read_json_file(config_json);
  const JsonFields j(doc, file);
  ModelConfig c;
  c.architecture = j.string("model_type");
  // Llama and the architectures that differ from it only in config fields: Mistral (a sliding
  // window), Qwen2 (q/k/v biases). transformers' modeling_mistral.py and modeling_qwen2.py.
  if (c.architecture != "llama" && c.architecture != "mistral" && c.architecture != "qwen2")
    fail("{}: model_type \"{}\" is not supported (supported: llama, mistral, qwen2)", file,
         c.architecture);
  const auto act = j.string_or("hidden_act", "silu");
  if (act != "silu") fail("{}: hidden_act \"{}\" is not supported (supported: silu)", file, act);

  // Integers are read exactly (a fraction or an out-of-range value is an error, not a cast), in
  // the ranges of limits.h; ModelConfig::validate checks how they fit together.
  using namespace limits;
  auto integer = [&](const char* key, int64_t max) {
    return static_cast<int>(j.integer(key, 1, max));
  };
  c.dim = integer("hidden_size", kMaxModelWidth);
  c.hidden_dim = integer("intermediate_size", kMaxModelWidth);
  c.n_layers = integer("num_hidden_layers", kMaxLayers);
  c.n_heads = integer("num_attention_heads", kMaxModelWidth);
  c.n_kv_heads =
      static_cast<int>(j.integer_or("num_key_value_heads", c.n_heads, 1, kMaxModelWidth));
  c.vocab_size = integer("vocab_size", kMaxVocab);
  c.max_seq_len = static_cast<int>(j.integer_or("max_position_embeddings", 2048, 1, kMaxPositions));
  c.norm_eps = static_cast<float>(j.real_or("rms_norm_eps", 1e-6));
  c.tied_embeddings = j.boolean_or("tie_word_embeddings", false);
  c.attention_bias = j.boolean_or("attention_bias", false);
  c.mlp_bias = j.boolean_or("mlp_bias", false);
  c.bos_id = static_cast<int>(j.integer_or("bos_token_id", 1, 0, kMaxVocab - 1));
  if (j.has("eos_token_id") && j.at("eos_token_id").is_array()) {
    const Json& list = j.at("eos_token_id");
    if (list.empty()) fail("{}: eos_token_id is an empty list", file);
    if (list.size() > 64) fail("{}: eos_token_id lists {} ids (at most 64)", file, list.size());
    for (size_t i = 0; i < list.size(); ++i)
      c.eos_ids.push_back(static_cast<int32_t>(json_integer(
          list[i], 0, kMaxVocab - 1, file, "eos_token_id[" + std::to_string(i) + "]")));
    c.eos_id = c.eos_ids.front();
  } else {
    c.eos_id = static_cast<int>(j.integer_or("eos_token_id", 2, 0, kMaxVocab - 1));
    c.eos_ids = {c.eos_id};
  }
  c.head_dim = static_cast<int>(j.integer_or("head_dim", c.dim / c.n_heads, 1, kMaxModelWidth));

  // transformers 4.x writes rope_theta at top level and the scaling in rope_scaling (its type
  // as "type" or "rope_type"); 5.x nests both in rope_parameters.
  c.rope_theta = j.real_or("rope_theta", 10000.0);
  const auto read_scaling = [&](const JsonFields& r, const std::string& field) {
    const std::string type =
        r.has("rope_type") ? r.string("rope_type") : r.string_or("type", "default");
    if (type == "default") return;
    if (type != "llama3")
      fail("{}: {} type \"{}\" is not supported (supported: default, llama3)", file, field, type);
    c.rope_scaling.type = type;
    c.rope_scaling.factor = r.real("factor");
    c.rope_scaling.low_freq_factor = r.real("low_freq_factor");
    c.rope_scaling.high_freq_factor = r.real("high_freq_factor");
    c.rope_scaling.original_max_positions =
        static_cast<int>(r.integer("original_max_position_embeddings", 1, kMaxPositions));
  };
  if (j.has("rope_scaling") && !j.at("rope_scaling").is_null())
    read_scaling(j.object("rope_scaling"), "rope_scaling");
  if (j.has("rope_parameters")) {
    const JsonFields rp = j.object("rope_parameters");
    read_scaling(rp, "rope_parameters");
    c.rope_theta = rp.real_or("rope_theta", c.rope_theta);
  }
  if (c.architecture == "qwen2") {
    c.qkv_bias = true;  // Qwen2Attention: q/k/v projections with bias, o_proj without
    // The window is off unless use_sliding_window (and then only above max_window_layers).
    if (j.boolean_or("use_sliding_window", false))
      fail("{}: use_sliding_window = true is not supported", file);
  }
  if (c.architecture == "mistral" && j.has("sliding_window") && !j.at("sliding_window").is_null()) {
    const int window = static_cast<int>(j.integer("sliding_window", 1, kMaxPositions));
    if (window < c.max_seq_len) c.sliding_window = window;  // else it never applies
  }
  c.validate(file);
  return c;
}

HfCheckpoint load_hf_checkpoint(const fs::path& dir, const HfResidency& residency) {
  HfCheckpoint out;
  ModelConfig c = read_hf_config(dir / "config.json");
  ShardSet shards(dir);
  // Weights stay as stored: the mapped files become resident as they are read (counted once,
  // however many layers share them), plus fp32 norms and each thread's widening panel.
  const size_t file_bytes = shards.total_bytes();
  if (!residency.layer_by_layer) {
    require_memory(file_bytes + (uint64_t{64} << 20),
                   fmt::format("{}: its {:.2f} GB of weights, read as stored", dir.string(),
                               static_cast<double>(file_bytes) / 1e9),
                   "use a smaller model, or a .lowbit file quantized from it");
  } else {
    // Streaming quantization: per parameter of one layer its stored bytes (the file's average),
    // an fp32 working copy and the quantized layer's codes and dequantized weights (9 bytes); the
    // embeddings and head as stored plus an fp32 copy of each while they are transformed or
    // quantized; residual streams and one layer's Gram matrices (double) when calibrating.
    const auto params = static_cast<uint64_t>(c.parameter_count());
    const double stored = static_cast<double>(file_bytes) / static_cast<double>(params);
    const uint64_t table = static_cast<uint64_t>(c.vocab_size) * static_cast<uint64_t>(c.dim);
    const uint64_t tables = c.tied_embeddings ? table : 2 * table;
    const uint64_t layer = (params - tables) / static_cast<uint64_t>(c.n_layers);
    const uint64_t widest = static_cast<uint64_t>(std::max(c.dim, c.hidden_dim));
    uint64_t need = static_cast<uint64_t>(static_cast<double>(layer) * (stored + 9.0)) +
                    static_cast<uint64_t>(static_cast<double>(tables) * (stored + 4.0)) +
                    (uint64_t{64} << 20);
    if (residency.calibration_tokens > 0)
      need += 2 * residency.calibration_tokens * static_cast<uint64_t>(c.dim) * 4 +
              3 * widest * widest * 8;
    require_memory(need,
                   fmt::format("{}: quantizing its {:.2f} B parameters layer by layer",
                               dir.string(), static_cast<double>(params) / 1e9),
                   "use fewer --calib-samples or a shorter --calib-len");
  }
  auto& dp = out.dtype_params;
  const int64_t d = c.dim, h = c.hidden_dim, q = c.q_dim(), kv = c.kv_dim(), v = c.vocab_size;

  LlamaWeights& w = out.weights;
  w.config = c;
  w.embedding = shards.matrix("model.embed_tokens.weight", v, d, dp);
  w.final_norm = shards.load("model.norm.weight", {d}, dp);
  w.lm_head = std::make_unique<DenseLinear>(
      c.tied_embeddings ? w.embedding : shards.matrix("lm_head.weight", v, d, dp));

  auto linear = [&](const std::string& name, int64_t in, int64_t o, bool bias) {
    std::vector<float> b = bias ? shards.load(name + ".bias", {o}, dp) : std::vector<float>{};
    return std::make_unique<DenseLinear>(shards.matrix(name + ".weight", o, in, dp), std::move(b));
  };
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    LayerWeights L;
    L.attn_norm = shards.load(p + "input_layernorm.weight", {d}, dp);
    L.ffn_norm = shards.load(p + "post_attention_layernorm.weight", {d}, dp);
    const bool qkv_bias = c.attention_bias || c.qkv_bias;
    L.wq = linear(p + "self_attn.q_proj", d, q, qkv_bias);
    L.wk = linear(p + "self_attn.k_proj", d, kv, qkv_bias);
    L.wv = linear(p + "self_attn.v_proj", d, kv, qkv_bias);
    L.wo = linear(p + "self_attn.o_proj", q, d, c.attention_bias);
    L.w_gate = linear(p + "mlp.gate_proj", d, h, c.mlp_bias);
    L.w_up = linear(p + "mlp.up_proj", d, h, c.mlp_bias);
    L.w_down = linear(p + "mlp.down_proj", h, d, c.mlp_bias);
    w.layers.push_back(std::move(L));
  }
  out.file_bytes = file_bytes;
  return out;
}

}  // namespace lowbit
