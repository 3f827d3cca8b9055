#pragma once
// The Llama-family forward pass (RMSNorm, RoPE, causal grouped-query attention, SwiGLU MLP) in
// fp32, for a batch of consecutive tokens of one sequence: a whole prompt or window at once
// (prefill, matrix-matrix products) or a single token (decode).
#include <cstdint>
#include <span>
#include <vector>

#include "layers/quantizer.h"
#include "model/kv_cache.h"
#include "model/llama_weights.h"

namespace lowbit {

// Where activations enter the linear layers; a calibration pass observes them through
// ActivationObserver, so each site names the input shared by the layers listed.
enum class ActivationSite {
  kQkvInput,   // input of q_proj, k_proj, v_proj (normed residual)
  kOInput,     // input of o_proj (attention output)
  kUpInput,    // input of gate_proj and up_proj (normed residual)
  kDownInput,  // input of down_proj (SwiGLU output)
};
const char* site_name(ActivationSite site);

class ActivationObserver {
 public:
  virtual ~ActivationObserver() = default;
  // x is rows x cols, row-major.
  virtual void observe(int layer, ActivationSite site, std::span<const float> x, size_t rows,
                       size_t cols) = 0;
};

enum class LogitsFor { kLastToken, kAllTokens };

class LlamaModel {
 public:
  explicit LlamaModel(LlamaWeights weights);

  const ModelConfig& config() const { return w_.config; }
  LlamaWeights& weights() { return w_; }
  const LlamaWeights& weights() const { return w_; }
  void set_observer(ActivationObserver* observer) { observer_ = observer; }
  // Keys (after RoPE) and values are quantize-dequantized with this spec before they enter the
  // cache (per token and head when group_size == head_dim). bits 16 = full precision.
  void set_kv_quant(const QuantSpec& spec);
  const QuantSpec& kv_quant() const { return kv_quant_; }

  // Attention as the W4A4KV4 papers quantize it. qk_hadamard: q and k get an orthonormal Hadamard
  // per head after RoPE (QuaRot's rotation before the K cache is quantized; scores are unchanged
  // in full precision since (qH)(kH)^T = q k^T, but k's outliers are spread before quantization).
  // query: q quantize-dequantized per token and head after that (DuQuant's code quantizes it).
  struct AttentionQuant {
    bool qk_hadamard = false;
    QuantSpec query;  // bits 16 = full precision
    bool operator==(const AttentionQuant&) const = default;
  };
  void set_attention_quant(const AttentionQuant& a);
  const AttentionQuant& attention_quant() const { return attention_quant_; }

  // A cache for this model: quantized storage when set_kv_quant enabled it.
  // A cache for `capacity` positions. With a sliding window (Mistral) shorter than capacity it
  // fails: attention does not limit itself to the window yet, so positions past it would attend
  // to keys the model never saw together; up to the window the two are the same computation.
  KVCache make_cache(int capacity) const;

  // Runs `tokens` at positions cache.length() .. cache.length()+n-1, appends their keys/values to
  // the cache and returns logits: vocab values for the last token, or n x vocab.
  std::span<const float> forward(std::span<const int32_t> tokens, KVCache& cache,
                                 LogitsFor which = LogitsFor::kLastToken);

  // The forward pass in pieces, for layer-by-layer calibration (the same code forward() runs, so
  // the results are bit-identical): the embeddings of `tokens` into x ([n, dim]), and one decoder
  // layer applied in place to the residual stream x of n tokens at positions 0..n-1, with the
  // layer's keys and values in slot 0 of `cache` (see make_layer_cache). Observed like forward().
  void embed(std::span<const int32_t> tokens, std::span<float> x) const;
  void forward_layer(int layer, std::span<float> x, size_t n, KVCache& cache);
  // A cache with a single layer slot, for forward_layer.
  KVCache make_layer_cache(int capacity) const;

 private:
  void reserve_scratch(size_t n);
  void run_layer(int layer, float* x, size_t n, int pos0, KVCache& cache, int slot);
  void attention(int slot, size_t n, int pos0, KVCache& cache);
  void fused_attention(size_t n, int pos0, const float* keys, const float* values, size_t stride);
  void apply_rope(float* x, size_t n, int n_heads, int pos0) const;
  void observe(int layer, ActivationSite site, std::span<const float> x, size_t rows, size_t cols);

  LlamaWeights w_;
  ActivationObserver* observer_ = nullptr;  // not owned
  QuantSpec kv_quant_;
  AttentionQuant attention_quant_;
  std::vector<float> rope_cos_, rope_sin_;  // [max_seq_len, head_dim / 2]
  // Scratch buffers reused across calls (sized for the largest batch seen).
  std::vector<float> x_, xn_, q_, k_, v_, att_, gate_, up_, logits_;
  std::vector<float> keys_t_;  // one layer's keys transposed per KV head, for fused attention
};

// Attaches an observer to the model for one pass and detaches it however the pass ends.
class ObserverScope {
 public:
  ObserverScope(LlamaModel& model, ActivationObserver& observer) : model_(model) {
    model_.set_observer(&observer);
  }
  ~ObserverScope() { model_.set_observer(nullptr); }
  ObserverScope(const ObserverScope&) = delete;
  ObserverScope& operator=(const ObserverScope&) = delete;

 private:
  LlamaModel& model_;
};

}  // namespace lowbit
