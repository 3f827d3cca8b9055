#pragma once
// Key/value cache of one sequence: for every layer, [capacity, n_kv_heads * head_dim] keys and
// values (keys already rotated by RoPE).
#include <cstddef>
#include <vector>

#include "model/config.h"

namespace lowbit {

class KVCache {
 public:
  KVCache(const ModelConfig& config, int capacity);

  int length() const { return length_; }
  int capacity() const { return capacity_; }
  void clear() { length_ = 0; }
  // Rewinds to `length` tokens (e.g. to reuse a shared prefix).
  void truncate(int length);
  void advance(int n);

  float* keys(int layer, int pos) { return k_[layer].data() + static_cast<size_t>(pos) * kv_dim_; }
  float* values(int layer, int pos) {
    return v_[layer].data() + static_cast<size_t>(pos) * kv_dim_;
  }
  size_t row_stride() const { return kv_dim_; }

 private:
  int capacity_;
  int length_ = 0;
  size_t kv_dim_;
  std::vector<std::vector<float>> k_, v_;
};

}  // namespace lowbit
