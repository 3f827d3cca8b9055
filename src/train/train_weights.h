#pragma once
// The trainable parameters of a Llama-family model: fp32 master copies (double in the gradient
// checks) of every norm, embedding and projection, each projection with its fixed quantization
// grid and activation format. The same structure holds gradients and AdamW's moments.
#include <functional>
#include <string>
#include <vector>

#include "model/config.h"
#include "train/quant_linear.h"

namespace lowbit::train {

// What `--freeze` names: a projection kind, the norms, the embeddings or the output head.
enum class ParamKind { kQ, kK, kV, kO, kGate, kUp, kDown, kNorm, kEmbed, kHead };
inline constexpr int kNumParamKinds = 10;
const char* param_kind_name(ParamKind kind);  // "q", "k", ..., "norm", "embed", "head"
// Parses "o,v" into a set (a bit per kind); throws naming the unknown entry and the valid names.
unsigned parse_freeze(const std::string& list);
inline bool frozen(unsigned set, ParamKind kind) {
  return (set >> static_cast<int>(kind)) & 1u;
}

template <class T>
struct TrainLayer {
  std::vector<T> attn_norm, ffn_norm;  // [dim]
  LinearParam<T> q, k, v, o, gate, up, down;
};

template <class T>
struct TrainWeights {
  ModelConfig config;
  // [vocab, dim]; empty for a tied model, whose embeddings are the rows of Q(head.w).
  std::vector<T> embedding;
  WeightGrid embedding_grid;  // an untied table stored low-bit
  std::vector<TrainLayer<T>> layers;
  std::vector<T> final_norm;  // [dim]
  LinearParam<T> head;        // [vocab, dim]
  QuantSpec kv;               // keys (after RoPE) and values quantized per token and head
  // Attention as the inference model runs it (LlamaModel::AttentionQuant): q and k rotated by a
  // Hadamard after RoPE (train/qk_rotation.h), then the query quantized per token and head.
  bool qk_hadamard = false;
  QuantSpec query{.bits = 16};

  size_t num_values() const;
};

// One tensor of the model: where it is, what kind, its values.
template <class T>
struct TensorRef {
  std::string name;  // e.g. "layers.3.o.w"
  int layer;         // -1 outside the decoder layers
  ParamKind kind;
  std::vector<T>* values;
  bool clip = false;  // learned clipping logits (their own learning rate, no weight decay)
};

// Every non-empty tensor in a fixed order (names are stable: checkpoints use them).
template <class T>
std::vector<TensorRef<T>> tensors_of(TrainWeights<T>& w);

// A structure of the same shapes with every value zero (gradients, moments).
template <class T>
TrainWeights<T> zeros_like(const TrainWeights<T>& w);

// Converts between precisions (gradient checks run the model in double).
template <class To, class From>
TrainWeights<To> convert_weights(const TrainWeights<From>& w);

}  // namespace lowbit::train
