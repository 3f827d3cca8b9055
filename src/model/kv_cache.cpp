#include "model/kv_cache.h"

#include "core/error.h"

namespace lowbit {

KVCache::KVCache(const ModelConfig& config, int capacity)
    : capacity_(capacity), kv_dim_(static_cast<size_t>(config.kv_dim())) {
  if (capacity <= 0) fail("KV cache capacity must be positive, got {}", capacity);
  const size_t n = static_cast<size_t>(capacity) * kv_dim_;
  k_.assign(static_cast<size_t>(config.n_layers), std::vector<float>(n));
  v_.assign(static_cast<size_t>(config.n_layers), std::vector<float>(n));
}

void KVCache::truncate(int length) {
  if (length < 0 || length > length_) fail("KV cache: cannot truncate {} to {}", length_, length);
  length_ = length;
}

void KVCache::advance(int n) {
  if (length_ + n > capacity_)
    fail("context is full: {} + {} tokens exceed the KV cache capacity {}", length_, n, capacity_);
  length_ += n;
}

}  // namespace lowbit
