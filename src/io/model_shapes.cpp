#include "io/model_shapes.h"

#include <array>

#include "core/error.h"

namespace lowbit {

namespace {

// The numbers of each model's config.json on the Hugging Face hub.
const std::array<ModelShape, 9> kShapes = {{
    {"tinyllama-1.1b", "llama", 2048, 5632, 22, 32, 4, 32000, 2048, 10000.0, 1e-5, false, false,
     std::nullopt, 1, 2, "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T"},
    {"llama-2-7b", "llama", 4096, 11008, 32, 32, 32, 32000, 4096, 10000.0, 1e-5, false, false,
     std::nullopt, 1, 2, "meta-llama/Llama-2-7b-hf"},
    {"llama-2-13b", "llama", 5120, 13824, 40, 40, 40, 32000, 4096, 10000.0, 1e-5, false, false,
     std::nullopt, 1, 2, "meta-llama/Llama-2-13b-hf"},
    {"llama-3-8b", "llama", 4096, 14336, 32, 32, 8, 128256, 8192, 500000.0, 1e-5, false, false,
     std::nullopt, 128000, 128001, "meta-llama/Meta-Llama-3-8B"},
    {"mistral-7b", "mistral", 4096, 14336, 32, 32, 8, 32000, 32768, 10000.0, 1e-5, false, false,
     4096, 1, 2, "mistralai/Mistral-7B-v0.1"},
    {"qwen2.5-7b", "qwen2", 3584, 18944, 28, 28, 4, 152064, 131072, 1000000.0, 1e-6, false, true,
     131072, 151643, 151643, "Qwen/Qwen2.5-7B"},
    // Not a real model: the Llama-2 architecture at width 64 for tests (the Llama-2 vocabulary,
    // so the shared tokenizer.model fits it).
    {"llama-tiny", "llama", 64, 176, 2, 4, 2, 32000, 512, 10000.0, 1e-5, false, false, std::nullopt,
     1, 2, "lowbit's test shape"},
    // Qwen2's and Mistral's architectures at the same width, for tests.
    {"qwen2-tiny", "qwen2", 64, 176, 2, 4, 2, 32000, 512, 1000000.0, 1e-6, false, true, 512, 1, 2,
     "lowbit's test shape"},
    {"mistral-tiny", "mistral", 64, 176, 2, 4, 2, 32000, 512, 10000.0, 1e-5, false, false, 128, 1,
     2, "lowbit's test shape"},
}};

}  // namespace

std::span<const ModelShape> model_shapes() {
  return kShapes;
}

const ModelShape& find_model_shape(const std::string& name) {
  std::string known;
  for (const auto& s : kShapes) {
    if (s.name == name) return s;
    known += (known.empty() ? "" : ", ") + s.name;
  }
  fail("--shape {}: unknown (known: {})", name, known);
}

nlohmann::json model_shape_config(const ModelShape& s) {
  nlohmann::json c = {
      {"architectures",
       {s.model_type == "llama"
            ? "LlamaForCausalLM"
            : (s.model_type == "mistral" ? "MistralForCausalLM" : "Qwen2ForCausalLM")}},
      {"model_type", s.model_type},
      {"hidden_act", "silu"},
      {"hidden_size", s.hidden},
      {"intermediate_size", s.intermediate},
      {"num_hidden_layers", s.layers},
      {"num_attention_heads", s.heads},
      {"num_key_value_heads", s.kv_heads},
      {"vocab_size", s.vocab},
      {"max_position_embeddings", s.max_positions},
      {"rope_theta", s.rope_theta},
      {"rms_norm_eps", s.rms_norm_eps},
      {"tie_word_embeddings", s.tied_embeddings},
      {"bos_token_id", s.bos},
      {"eos_token_id", s.eos},
      {"torch_dtype", "bfloat16"},
  };
  if (s.sliding_window) {
    c["sliding_window"] = *s.sliding_window;
    if (s.model_type == "qwen2") {
      c["use_sliding_window"] = false;
      c["max_window_layers"] = s.layers;
    }
  }
  return c;
}

int64_t ShapeTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<ShapeTensor> model_shape_tensors(const ModelShape& s, DType weights) {
  const int64_t H = s.hidden, I = s.intermediate, V = s.vocab;
  const int64_t head_dim = H / s.heads, kv = int64_t{s.kv_heads} * head_dim;
  std::vector<ShapeTensor> t;
  t.push_back({"model.embed_tokens.weight", weights, {V, H}});
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    t.push_back({p + "input_layernorm.weight", DType::F32, {H}});
    t.push_back({p + "self_attn.q_proj.weight", weights, {H, H}});
    t.push_back({p + "self_attn.k_proj.weight", weights, {kv, H}});
    t.push_back({p + "self_attn.v_proj.weight", weights, {kv, H}});
    if (s.qkv_bias) {
      t.push_back({p + "self_attn.q_proj.bias", weights, {H}});
      t.push_back({p + "self_attn.k_proj.bias", weights, {kv}});
      t.push_back({p + "self_attn.v_proj.bias", weights, {kv}});
    }
    t.push_back({p + "self_attn.o_proj.weight", weights, {H, H}});
    t.push_back({p + "post_attention_layernorm.weight", DType::F32, {H}});
    t.push_back({p + "mlp.gate_proj.weight", weights, {I, H}});
    t.push_back({p + "mlp.up_proj.weight", weights, {I, H}});
    t.push_back({p + "mlp.down_proj.weight", weights, {H, I}});
  }
  t.push_back({"model.norm.weight", DType::F32, {H}});
  if (!s.tied_embeddings) t.push_back({"lm_head.weight", weights, {V, H}});
  return t;
}

}  // namespace lowbit
