#include "io/hf_checkpoint.h"

#include <fmt/ranges.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "io/safetensors.h"

namespace lowbit {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json read_json_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot open", path.string());
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    fail("{}: invalid JSON: {}", path.string(), e.what());
  }
}

template <class T>
T get_field(const json& j, const char* field, const std::string& file, T fallback, bool required) {
  if (!j.contains(field) || j[field].is_null()) {
    if (required) fail("{}: missing field \"{}\"", file, field);
    return fallback;
  }
  try {
    return j[field].get<T>();
  } catch (const json::exception&) {
    fail("{}: field \"{}\" has the wrong type: {}", file, field, j[field].dump());
  }
}

// Opens every shard once; tensors are looked up by name across them.
class ShardSet {
 public:
  explicit ShardSet(const fs::path& dir) {
    const fs::path single = dir / "model.safetensors";
    const fs::path index = dir / "model.safetensors.index.json";
    if (fs::exists(single)) {
      open(single);
    } else if (fs::exists(index)) {
      const json j = read_json_file(index);
      if (!j.contains("weight_map") || !j["weight_map"].is_object())
        fail("{}: missing object \"weight_map\"", index.string());
      std::set<std::string> files;
      for (const auto& [name, file] : j["weight_map"].items()) {
        if (!file.is_string()) fail("{}: weight_map[\"{}\"] is not a string", index.string(), name);
        const std::string f = file.get<std::string>();
        if (f.find('/') != std::string::npos || f == "..")
          fail("{}: weight_map[\"{}\"] names a file outside the folder: {}", index.string(), name,
               f);
        files.insert(f);
      }
      for (const auto& f : files) open(dir / f);
    } else {
      fail("{}: no model.safetensors or model.safetensors.index.json", dir.string());
    }
  }

  const SafetensorsFile* find(const std::string& name) const {
    for (const auto& s : shards_)
      if (s.contains(name)) return &s;
    return nullptr;
  }

  // fp32 copy of `name`, checked against the expected shape.
  std::vector<float> load(const std::string& name, std::vector<int64_t> shape,
                          std::map<std::string, int64_t>& dtype_params) const {
    const SafetensorsFile* file = find(name);
    if (file == nullptr) fail("{}: missing tensor \"{}\"", where(), name);
    const TensorInfo& info = file->tensor(name);
    if (info.shape != shape)
      fail("{}: tensor \"{}\" has shape [{}], config.json implies [{}]", file->path().string(),
           name, fmt::join(info.shape, ", "), fmt::join(shape, ", "));
    dtype_params[dtype_name(info.dtype)] += info.numel();
    return file->to_f32(name);
  }

  size_t total_bytes() const {
    size_t n = 0;
    for (const auto& s : shards_) n += fs::file_size(s.path());
    return n;
  }

 private:
  void open(const fs::path& p) { shards_.emplace_back(p); }
  std::string where() const {
    return shards_.empty() ? "checkpoint" : shards_.front().path().string();
  }
  std::vector<SafetensorsFile> shards_;
};

}  // namespace

ModelConfig read_hf_config(const fs::path& config_json) {
  const std::string file = config_json.string();
  const json j = read_json_file(config_json);
  if (!j.is_object()) fail("{}: expected a JSON object", file);
  ModelConfig c;
  c.architecture = get_field<std::string>(j, "model_type", file, "", true);
  if (c.architecture != "llama")
    fail("{}: model_type \"{}\" is not supported (supported: llama)", file, c.architecture);
  const auto act = get_field<std::string>(j, "hidden_act", file, "silu", false);
  if (act != "silu") fail("{}: hidden_act \"{}\" is not supported (supported: silu)", file, act);
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null())
    fail("{}: rope_scaling {} is not supported", file, j["rope_scaling"].dump());

  c.dim = get_field<int>(j, "hidden_size", file, 0, true);
  c.hidden_dim = get_field<int>(j, "intermediate_size", file, 0, true);
  c.n_layers = get_field<int>(j, "num_hidden_layers", file, 0, true);
  c.n_heads = get_field<int>(j, "num_attention_heads", file, 0, true);
  c.n_kv_heads = get_field<int>(j, "num_key_value_heads", file, c.n_heads, false);
  c.vocab_size = get_field<int>(j, "vocab_size", file, 0, true);
  c.max_seq_len = get_field<int>(j, "max_position_embeddings", file, 2048, false);
  c.norm_eps = get_field<float>(j, "rms_norm_eps", file, 1e-6f, false);
  c.tied_embeddings = get_field<bool>(j, "tie_word_embeddings", file, false, false);
  c.attention_bias = get_field<bool>(j, "attention_bias", file, false, false);
  c.mlp_bias = get_field<bool>(j, "mlp_bias", file, false, false);
  c.bos_id = get_field<int>(j, "bos_token_id", file, 1, false);
  if (j.contains("eos_token_id") && j["eos_token_id"].is_array()) {
    if (j["eos_token_id"].empty()) fail("{}: eos_token_id is an empty list", file);
    c.eos_id = j["eos_token_id"][0].get<int>();
  } else {
    c.eos_id = get_field<int>(j, "eos_token_id", file, 2, false);
  }
  if (c.n_heads <= 0) fail("{}: num_attention_heads must be positive, got {}", file, c.n_heads);
  c.head_dim = get_field<int>(j, "head_dim", file, c.dim / c.n_heads, false);

  // transformers 4.x writes rope_theta at top level; 5.x nests it in rope_parameters.
  c.rope_theta = get_field<double>(j, "rope_theta", file, 10000.0, false);
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) {
    const auto& rp = j["rope_parameters"];
    const std::string where = file + ": rope_parameters";
    const auto type = get_field<std::string>(rp, "rope_type", where, "default", false);
    if (type != "default")
      fail("{}: rope_parameters.rope_type \"{}\" is not supported (supported: default)", file,
           type);
    c.rope_theta = get_field<double>(rp, "rope_theta", where, c.rope_theta, false);
  }
  c.validate(file);
  return c;
}

HfCheckpoint load_hf_checkpoint(const fs::path& dir) {
  HfCheckpoint out;
  ModelConfig c = read_hf_config(dir / "config.json");
  ShardSet shards(dir);
  auto& dp = out.dtype_params;
  const int64_t d = c.dim, h = c.hidden_dim, q = c.q_dim(), kv = c.kv_dim(), v = c.vocab_size;

  LlamaWeights& w = out.weights;
  w.config = c;
  auto embedding = std::make_shared<const std::vector<float>>(
      shards.load("model.embed_tokens.weight", {v, d}, dp));
  w.embedding = embedding;
  w.final_norm = shards.load("model.norm.weight", {d}, dp);
  if (c.tied_embeddings) {
    w.lm_head = std::make_unique<DenseLinear>(c.dim, c.vocab_size, embedding);
  } else {
    w.lm_head = std::make_unique<DenseLinear>(
        c.dim, c.vocab_size,
        std::make_shared<const std::vector<float>>(shards.load("lm_head.weight", {v, d}, dp)));
  }

  auto linear = [&](const std::string& name, int64_t in, int64_t o, bool bias) {
    auto weight =
        std::make_shared<const std::vector<float>>(shards.load(name + ".weight", {o, in}, dp));
    std::vector<float> b = bias ? shards.load(name + ".bias", {o}, dp) : std::vector<float>{};
    return std::make_unique<DenseLinear>(static_cast<int>(in), static_cast<int>(o), weight,
                                         std::move(b));
  };
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    LayerWeights L;
    L.attn_norm = shards.load(p + "input_layernorm.weight", {d}, dp);
    L.ffn_norm = shards.load(p + "post_attention_layernorm.weight", {d}, dp);
    L.wq = linear(p + "self_attn.q_proj", d, q, c.attention_bias);
    L.wk = linear(p + "self_attn.k_proj", d, kv, c.attention_bias);
    L.wv = linear(p + "self_attn.v_proj", d, kv, c.attention_bias);
    L.wo = linear(p + "self_attn.o_proj", q, d, c.attention_bias);
    L.w_gate = linear(p + "mlp.gate_proj", d, h, c.mlp_bias);
    L.w_up = linear(p + "mlp.up_proj", d, h, c.mlp_bias);
    L.w_down = linear(p + "mlp.down_proj", h, d, c.mlp_bias);
    w.layers.push_back(std::move(L));
  }
  out.file_bytes = shards.total_bytes();
  return out;
}

}  // namespace lowbit
