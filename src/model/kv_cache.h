#pragma once
// Key/value cache of one sequence: for every layer, keys (already rotated by RoPE) and values of
// [capacity, n_kv_heads * head_dim].
//
// length() counts the positions the sequence has run; each layer holds one entry per position
// that reached it, in position order. Without token pruning every layer holds every position;
// with it (model/token_pruning.h) a token dropped before layer l keeps its entries in layers
// 0..l-1 and has none from l on, so a layer's entry count can be below length() and its entry i
// is the position entry_positions(layer)[i]. Attention works on entries: a query sees every entry
// of its layer stored before it, which is the causal mask because entries are stored in order.
//
// Storage is fp32, or — when the model's KV spec quantizes — integer codes with one scale and zero
// point per (token, kv head): one byte per value at 5..8 bits, two values per byte at 2..4 bits.
// Attention reads the cache through `load`, which returns fp32 rows (a view of the fp32 storage,
// or codes dequantized into a scratch buffer), or, for a quantized cache, through `head_codes`.
// Quantization uses src/layers/quantizer.h, so dequantized values equal what fake quantization
// would have produced, bit for bit.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/kv_attention.h"
#include "layers/quantizer.h"
#include "model/config.h"

namespace lowbit {

class KVCache {
 public:
  KVCache(const ModelConfig& config, int capacity, const QuantSpec& spec = {});

  int length() const { return length_; }
  int capacity() const { return capacity_; }
  void clear();
  // Rewinds to `length` positions (e.g. to reuse a shared prefix): each layer keeps its entries
  // of positions below `length`.
  void truncate(int length);
  void advance(int n);

  // Entries held by a layer, and their positions.
  int entries(int layer) const {
    return static_cast<int>(positions_[static_cast<size_t>(layer)].size());
  }
  std::span<const int32_t> entry_positions(int layer) const {
    return positions_[static_cast<size_t>(layer)];
  }

  // Appends n rows of keys and values ([n, kv_dim] each) to a layer's entries, for the positions
  // given (increasing, at or past length(), below capacity).
  void append(int layer, std::span<const int32_t> positions, std::span<const float> keys,
              std::span<const float> values);
  struct Rows {
    const float* keys;
    const float* values;
    size_t stride;  // floats between consecutive positions
  };
  // fp32 keys and values of a layer's entries 0..count-1. For quantized storage the rows are
  // dequantized into buffers owned by the cache, valid until the next load.
  Rows load(int layer, int count);

  // Quantized storage only: one KV head's keys (or values) of a layer as integer codes, for
  // attention products that read them directly (kernels/kv_attention.h); entries from 0.
  kernels::KvCodesView head_codes(int layer, size_t head, bool keys) const;

  size_t row_stride() const { return kv_dim_; }
  const QuantSpec& spec() const { return spec_; }
  // Bytes held for keys and values (codes and parameters, or fp32).
  size_t bytes() const;

 private:
  void quantize_rows(std::span<const float> x, size_t n, uint8_t* codes, QuantParams* params) const;
  void dequantize_rows(const uint8_t* codes, const QuantParams* params, size_t n, float* out) const;

  int capacity_;
  int length_ = 0;
  std::vector<std::vector<int32_t>> positions_;  // per layer: the position of each entry
  size_t kv_dim_, head_dim_, heads_;
  QuantSpec spec_;
  size_t code_bytes_per_row_ = 0;  // quantized storage only
  std::vector<std::vector<float>> k_, v_;
  std::vector<std::vector<uint8_t>> kq_, vq_;
  std::vector<std::vector<QuantParams>> kp_, vp_;
  std::vector<float> k_scratch_, v_scratch_;
};

}  // namespace lowbit
