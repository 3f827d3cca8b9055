#include "model/config.h"

#include "core/error.h"
#include "core/limits.h"

namespace lowbit {

void ModelConfig::validate(const std::string& source) const {
  auto positive = [&](const char* field, int64_t v) {
    if (v <= 0) fail("{}: {} must be positive, got {}", source, field, v);
  };
  positive("hidden_size", dim);
  positive("intermediate_size", hidden_dim);
  positive("num_hidden_layers", n_layers);
  positive("num_attention_heads", n_heads);
  positive("num_key_value_heads", n_kv_heads);
  positive("head_dim", head_dim);
  positive("vocab_size", vocab_size);
  positive("max_position_embeddings", max_seq_len);
  // Upper bounds (core/limits.h) keep every size product below 2^63 and allocations honest.
  auto at_most = [&](const char* field, int64_t v, int64_t max) {
    if (v > max) fail("{}: {} = {} exceeds the limit of {}", source, field, v, max);
  };
  at_most("hidden_size", dim, limits::kMaxModelWidth);
  at_most("intermediate_size", hidden_dim, limits::kMaxModelWidth);
  at_most("num_hidden_layers", n_layers, limits::kMaxLayers);
  at_most("num_attention_heads", n_heads, limits::kMaxModelWidth);
  at_most("head_dim", head_dim, limits::kMaxModelWidth);
  at_most("num_attention_heads x head_dim", int64_t{n_heads} * head_dim, limits::kMaxModelWidth);
  at_most("vocab_size", vocab_size, limits::kMaxVocab);
  at_most("max_position_embeddings", max_seq_len, limits::kMaxPositions);
  if (n_kv_heads > n_heads)
    fail("{}: num_key_value_heads {} exceeds num_attention_heads {}", source, n_kv_heads, n_heads);
  if (n_heads % n_kv_heads != 0)
    fail("{}: num_attention_heads {} is not a multiple of num_key_value_heads {}", source, n_heads,
         n_kv_heads);
  if (head_dim % 2 != 0) fail("{}: head_dim {} must be even for RoPE", source, head_dim);
  if (!(norm_eps > 0)) fail("{}: rms_norm_eps must be positive, got {}", source, norm_eps);
  if (!(rope_theta > 0)) fail("{}: rope_theta must be positive, got {}", source, rope_theta);
  if (rope_scaling.type == "llama3") {
    const auto& r = rope_scaling;
    if (!(r.factor >= 1.0)) fail("{}: rope_scaling.factor must be >= 1, got {}", source, r.factor);
    if (!(r.high_freq_factor > r.low_freq_factor) || !(r.low_freq_factor > 0))
      fail("{}: rope_scaling needs 0 < low_freq_factor < high_freq_factor, got {} and {}", source,
           r.low_freq_factor, r.high_freq_factor);
    if (r.original_max_positions <= 0)
      fail("{}: rope_scaling.original_max_position_embeddings must be positive, got {}", source,
           r.original_max_positions);
  }
  if (sliding_window < 0)
    fail("{}: sliding_window must be positive, got {}", source, sliding_window);
}

int64_t ModelConfig::parameter_count() const {
  const int64_t d = dim, h = hidden_dim, q = q_dim(), kv = kv_dim(), v = vocab_size;
  int64_t per_layer = d * q + 2 * d * kv + q * d + 3 * d * h + 2 * d;
  if (attention_bias) per_layer += q + 2 * kv + d;
  if (qkv_bias && !attention_bias) per_layer += q + 2 * kv;
  if (mlp_bias) per_layer += 2 * h + d;
  return v * d + n_layers * per_layer + d + (tied_embeddings ? 0 : v * d);
}

}  // namespace lowbit
