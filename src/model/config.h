#pragma once
// Architecture hyper-parameters of a Llama-family decoder, independent of the checkpoint format.
#include <cstdint>
#include <string>
#include <vector>

namespace lowbit {

// RoPE frequency scaling (config.json rope_scaling / rope_parameters). "llama3" is Llama-3.1's
// smooth interpolation (transformers' modeling_rope_utils.py, _compute_llama3_parameters).
struct RopeScaling {
  std::string type = "default";  // default, llama3
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int original_max_positions = 8192;
};

struct ModelConfig {
  std::string architecture = "llama";  // model_type
  int dim = 0;                         // hidden_size
  int hidden_dim = 0;                  // intermediate_size (SwiGLU)
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;  // < n_heads: grouped-query attention; 1: multi-query
  int head_dim = 0;
  int vocab_size = 0;
  int max_seq_len = 2048;
  float norm_eps = 1e-5f;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tied_embeddings = false;
  bool attention_bias = false;  // q/k/v/o biases
  bool qkv_bias = false;        // q/k/v biases only (Qwen2)
  int sliding_window = 0;       // > 0: each token attends to at most this many (Mistral)
  bool mlp_bias = false;        // gate/up/down biases
  int32_t bos_id = 1;
  int32_t eos_id = 2;
  // Every end-of-sequence id config.json lists (Llama-3's eos_token_id is a list, e.g. the
  // instruct models' [128001, 128008, 128009]); generation stops at any of them.
  std::vector<int32_t> eos_ids;

  int q_dim() const { return n_heads * head_dim; }
  int kv_dim() const { return n_kv_heads * head_dim; }
  // Throws lowbit::Error naming `source` and the offending field when sizes are inconsistent.
  void validate(const std::string& source) const;
  int64_t parameter_count() const;
};

}  // namespace lowbit
