#pragma once
// Key/value cache of one sequence: for every layer, keys (already rotated by RoPE) and values of
// [capacity, n_kv_heads * head_dim].
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
  void clear() { length_ = 0; }
  // Rewinds to `length` tokens (e.g. to reuse a shared prefix).
  void truncate(int length);
  void advance(int n);

  // Writes n rows of keys and values ([n, kv_dim] each) at positions pos..pos+n-1.
  void store(int layer, int pos, size_t n, std::span<const float> keys,
             std::span<const float> values);
  struct Rows {
    const float* keys;
    const float* values;
    size_t stride;  // floats between consecutive positions
  };
  // fp32 keys and values of positions 0..count-1. For quantized storage the rows are dequantized
  // into buffers owned by the cache, valid until the next load.
  Rows load(int layer, int count);

  // Quantized storage only: one KV head's keys (or values) of a layer as integer codes, for
  // attention products that read them directly (kernels/kv_attention.h); positions from 0.
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
  size_t kv_dim_, head_dim_, heads_;
  QuantSpec spec_;
  size_t code_bytes_per_row_ = 0;  // quantized storage only
  std::vector<std::vector<float>> k_, v_;
  std::vector<std::vector<uint8_t>> kq_, vq_;
  std::vector<std::vector<QuantParams>> kp_, vp_;
  std::vector<float> k_scratch_, v_scratch_;
};

}  // namespace lowbit
