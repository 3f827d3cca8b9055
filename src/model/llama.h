#pragma once
// The Llama-family forward pass (RMSNorm, RoPE, causal grouped-query attention, SwiGLU MLP) in
// fp32, for a batch of consecutive tokens of one sequence: a whole prompt or window at once
// (prefill, matrix-matrix products) or a single token (decode).
#include <cstdint>
#include <span>
#include <vector>

#include "core/op_profile.h"
#include "layers/quantizer.h"
#include "model/kv_cache.h"
#include "model/llama_weights.h"
#include "model/token_pruning.h"

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
  // the cache and returns logits: vocab values for the last token, or one row per token that
  // reached the head (all n without token pruning; see logit_rows).
  // allow_pruning = false runs every token through every layer even when pruning is set (task
  // scoring's continuations, whose every row is scored).
  std::span<const float> forward(std::span<const int32_t> tokens, KVCache& cache,
                                 LogitsFor which = LogitsFor::kLastToken,
                                 bool allow_pruning = true);
  // One decode step of several sequences at once (continuous batching): tokens[i] is the next
  // token of the sequence whose cache is caches[i] (distinct caches), run at position
  // caches[i]->length(). The rows share every projection (one [n, dim] product through the same
  // kernels, so the weights are read once for all of them); attention runs per sequence on its
  // own cache. Returns n rows of vocab logits, row i bit-identical to what forward() of that
  // token alone on its cache gives. Never prunes.
  std::span<const float> forward_batch(std::span<const int32_t> tokens,
                                       std::span<KVCache* const> caches);
  // The rows of the last forward's logits: offsets into its tokens (for kLastToken, n - 1).
  std::span<const int32_t> logit_rows() const { return logit_rows_; }

  // Agile-Quant token pruning of prefills (model/token_pruning.h); ratio 0 turns it off. An
  // enabled setting needs calibrated thresholds unless a calibration is attached.
  void set_token_pruning(const TokenPruning& p);
  const TokenPruning& token_pruning() const { return pruning_; }
  // While set, prefills prune by the exact schedule and record importances (calibration).
  void set_pruning_calibration(PruningCalibration* c) { calibration_ = c; }
  // Token-layers run by prefills (forward passes of more than one token) since the last reset,
  // and what they would have been without pruning.
  struct PruningCounts {
    int64_t token_layers = 0, full_token_layers = 0;
    double removed_fraction() const {
      return full_token_layers > 0
                 ? 1.0 - static_cast<double>(token_layers) / static_cast<double>(full_token_layers)
                 : 0.0;
    }
  };
  const PruningCounts& pruning_counts() const { return pruning_counts_; }
  // While set, forward() adds each operator's wall-clock time to the profile.
  void set_profile(ForwardProfile* p) { profile_ = p; }
  void reset_pruning_counts() { pruning_counts_ = {}; }

  // The forward pass in pieces, for layer-by-layer calibration (the same code forward() runs, so
  // the results are bit-identical): the embeddings of `tokens` into x ([n, dim]), and one decoder
  // layer applied in place to the residual stream x of n tokens at positions 0..n-1, with the
  // layer's keys and values in slot 0 of `cache` (see make_layer_cache; cleared first). Observed
  // like forward().
  void embed(std::span<const int32_t> tokens, std::span<float> x) const;
  void forward_layer(int layer, std::span<float> x, size_t n, KVCache& cache);
  // The final norm and output head of a residual stream x of n tokens: n rows of vocab logits
  // (valid until the next call), as forward() with LogitsFor::kAllTokens ends.
  std::span<const float> logits_of(std::span<const float> x, size_t n);
  // A cache with a single layer slot, for forward_layer.
  KVCache make_layer_cache(int capacity) const;

 private:
  void reserve_scratch(size_t n);
  // importance: also compute each row's token importance (importance_) for pruning.
  // caches: one cache for all n rows (consecutive tokens of one sequence), or one per row.
  void run_layer(int layer, float* x, size_t n, std::span<const int32_t> positions,
                 std::span<KVCache* const> caches, int slot, bool importance = false);
  // n new queries of one sequence (rows row0.. of q_) whose cache layer held entries0 entries
  // before them, and where attention reads that layer's keys and values from.
  struct AttentionRows {
    KVCache* cache;
    size_t row0, n;
    int entries0;
    KVCache::Rows kv;  // fp32 keys and values (unused when reading codes)
    bool from_codes;   // read a quantized cache's integer codes directly
  };
  AttentionRows attention_rows(int slot, size_t row0, size_t n, int entries0, KVCache& cache);
  // Attention of rows row0 .. row0+n-1 of q_ into the same rows of att_.
  void attention(int slot, size_t row0, size_t n, int entries0, KVCache& cache, bool importance);
  // A batched decode step's attention: row r of q_ attends to caches[r], whose layer held
  // entries0[r] entries before it; one parallel region for all rows.
  void decode_attention(int slot, std::span<KVCache* const> caches, std::span<const int> entries0);
  // One task: queries i0 .. i1-1 of `a` (relative to a.row0) through one KV head.
  void attend_block(int slot, const AttentionRows& a, size_t i0, size_t i1, size_t kv_head,
                    bool importance);
  void fused_attention(size_t row0, size_t n, int entries0, const float* keys, const float* values,
                       size_t stride, bool importance);
  // Final norm and output head of rows first .. first+rows-1 of x_.
  std::span<const float> head(size_t first, size_t rows);
  void apply_rope(float* x, size_t n, int n_heads, std::span<const int32_t> positions) const;
  // Drops the rows select_kept_rows rejects before `layer`; returns the rows left.
  size_t prune_rows(int layer, size_t n, size_t original_rows);
  void observe(int layer, ActivationSite site, std::span<const float> x, size_t rows, size_t cols);

  LlamaWeights w_;
  ActivationObserver* observer_ = nullptr;  // not owned
  QuantSpec kv_quant_;
  AttentionQuant attention_quant_;
  std::vector<float> rope_cos_, rope_sin_;  // [max_seq_len, head_dim / 2]
  // Scratch buffers reused across calls (sized for the largest batch seen).
  std::vector<float> x_, xn_, q_, k_, v_, att_, gate_, up_, logits_;
  std::vector<float> keys_t_;  // one layer's keys transposed per KV head, for fused attention
  // Token pruning.
  TokenPruning pruning_;
  PruningCalibration* calibration_ = nullptr;  // not owned
  PruningCounts pruning_counts_;
  ForwardProfile* profile_ = nullptr;  // not owned
  std::vector<int32_t> positions_;     // position of each current row
  std::vector<int32_t> logit_rows_;    // offset into the forward's tokens of each current row
  std::vector<float> first_key_prob_, importance_;  // [heads, n] and [n]
  std::vector<uint32_t> kept_;
  std::vector<int> entries0_;                  // per row of a batched decode step
  std::vector<AttentionRows> attention_rows_;  // per row of a batched decode step
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
