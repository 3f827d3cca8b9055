#include "model/kv_cache.h"

#include <algorithm>
#include <cstddef>

#include "core/error.h"
#include "core/thread_pool.h"

namespace lowbit {

KVCache::KVCache(const ModelConfig& config, int capacity, const QuantSpec& spec)
    : capacity_(capacity),
      kv_dim_(static_cast<size_t>(config.kv_dim())),
      head_dim_(static_cast<size_t>(config.head_dim)),
      heads_(static_cast<size_t>(config.n_kv_heads)),
      spec_(spec) {
  if (capacity <= 0) fail("KV cache capacity must be positive, got {}", capacity);
  const size_t layers = static_cast<size_t>(config.n_layers);
  const size_t cap = static_cast<size_t>(capacity);
  positions_.resize(layers);
  for (auto& p : positions_) p.reserve(cap);
  if (!spec_.enabled()) {
    k_.assign(layers, std::vector<float>(cap * kv_dim_));
    v_.assign(layers, std::vector<float>(cap * kv_dim_));
    return;
  }
  // One (scale, zero) per token and head: the group is the head.
  spec_.group_size = static_cast<int>(head_dim_);
  spec_.validate("--kvbits", kv_dim_);
  code_bytes_per_row_ = spec_.bits <= 4 ? (kv_dim_ + 1) / 2 : kv_dim_;
  kq_.assign(layers, std::vector<uint8_t>(cap * code_bytes_per_row_));
  vq_.assign(layers, std::vector<uint8_t>(cap * code_bytes_per_row_));
  kp_.assign(layers, std::vector<QuantParams>(cap * heads_));
  vp_.assign(layers, std::vector<QuantParams>(cap * heads_));
}

void KVCache::clear() {
  length_ = 0;
  for (auto& p : positions_) p.clear();
}

void KVCache::truncate(int length) {
  if (length < 0 || length > length_) fail("KV cache: cannot truncate {} to {}", length_, length);
  length_ = length;
  for (auto& p : positions_)
    p.resize(static_cast<size_t>(std::lower_bound(p.begin(), p.end(), length) - p.begin()));
}

void KVCache::advance(int n) {
  if (n < 0 || length_ + n > capacity_)
    fail("context is full: {} + {} tokens exceed the KV cache capacity {}", length_, n, capacity_);
  length_ += n;
}

void KVCache::quantize_rows(std::span<const float> x, size_t n, uint8_t* codes,
                            QuantParams* params) const {
  const int qmin = spec_.qmin(), qmax = spec_.qmax();
  const bool packed = spec_.bits <= 4;
  thread_pool().parallel_for(n, 16, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      uint8_t* row = codes + r * code_bytes_per_row_;
      for (size_t h = 0; h < heads_; ++h) {
        const auto group = x.subspan(r * kv_dim_ + h * head_dim_, head_dim_);
        const QuantParams p = choose_params(group, spec_);
        params[r * heads_ + h] = p;
        for (size_t i = 0; i < head_dim_; ++i) {
          const auto code = static_cast<uint8_t>(quantize_value(group[i], p, qmin, qmax) - qmin);
          const size_t c = h * head_dim_ + i;
          if (!packed) {
            row[c] = code;
          } else if (c % 2 == 0) {
            row[c / 2] = code;  // low nibble first
          } else {
            row[c / 2] = static_cast<uint8_t>(row[c / 2] | (code << 4));
          }
        }
      }
    }
  });
}

// Branch-free per (row, head) loops with the parameters hoisted, so the compiler vectorizes them:
// decode dequantizes every cached row of a layer at every step, and the element-by-element
// version (a branch on the packing and a parameter lookup per value) made an int8 cache decode
// several times slower than an fp32 one at a thousand tokens. Same arithmetic as
// dequantize_value, so the values are identical.
void KVCache::dequantize_rows(const uint8_t* codes, const QuantParams* params, size_t n,
                              float* out) const {
  const float qmin = static_cast<float>(spec_.qmin());
  const bool packed = spec_.bits <= 4;
  const size_t hd = head_dim_;
  thread_pool().parallel_for(n, 64, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      const uint8_t* row = codes + r * code_bytes_per_row_;
      for (size_t h = 0; h < heads_; ++h) {
        const QuantParams p = params[r * heads_ + h];
        const float zero = p.zero, scale = p.scale;
        float* o = out + r * kv_dim_ + h * hd;
        if (!packed) {
          const uint8_t* c = row + h * hd;
          for (size_t i = 0; i < hd; ++i) o[i] = (static_cast<float>(c[i]) + qmin - zero) * scale;
        } else {
          // head_dim is even, so a head starts on a byte: low nibble first.
          const uint8_t* c = row + h * hd / 2;
          for (size_t i = 0; i < hd / 2; ++i) {
            o[2 * i] = (static_cast<float>(c[i] & 0x0f) + qmin - zero) * scale;
            o[2 * i + 1] = (static_cast<float>(c[i] >> 4) + qmin - zero) * scale;
          }
        }
      }
    }
  });
}

void KVCache::append(int layer, std::span<const int32_t> positions, std::span<const float> keys,
                     std::span<const float> values) {
  if (layer < 0 || static_cast<size_t>(layer) >= positions_.size())
    fail("KV cache: no layer {} of {}", layer, positions_.size());
  const size_t l = static_cast<size_t>(layer), n = positions.size();
  auto& held = positions_[l];
  const size_t p = held.size();  // the first new entry
  if (keys.size() < n * kv_dim_ || values.size() < n * kv_dim_)
    fail("KV cache: {} rows need {} keys and values, got {} and {}", n, n * kv_dim_, keys.size(),
         values.size());
  for (size_t i = 0; i < n; ++i) {
    const int32_t pos = positions[i];
    const int32_t prev = i > 0 ? positions[i - 1] : (held.empty() ? -1 : held.back());
    if (pos < length_ || pos <= prev || pos >= capacity_)
      fail("KV cache: position {} out of order or outside [{}, {}) in layer {}", pos, length_,
           capacity_, layer);
  }
  held.insert(held.end(), positions.begin(), positions.end());
  if (!spec_.enabled()) {
    float* k = k_[l].data() + p * kv_dim_;
    float* v = v_[l].data() + p * kv_dim_;
    thread_pool().parallel_for(n, 64, [&](size_t r0, size_t r1) {
      std::copy(keys.begin() + static_cast<ptrdiff_t>(r0 * kv_dim_),
                keys.begin() + static_cast<ptrdiff_t>(r1 * kv_dim_), k + r0 * kv_dim_);
      std::copy(values.begin() + static_cast<ptrdiff_t>(r0 * kv_dim_),
                values.begin() + static_cast<ptrdiff_t>(r1 * kv_dim_), v + r0 * kv_dim_);
    });
    return;
  }
  quantize_rows(keys, n, kq_[l].data() + p * code_bytes_per_row_, kp_[l].data() + p * heads_);
  quantize_rows(values, n, vq_[l].data() + p * code_bytes_per_row_, vp_[l].data() + p * heads_);
}

KVCache::Rows KVCache::load(int layer, int count) {
  const size_t l = static_cast<size_t>(layer), n = static_cast<size_t>(count);
  if (count < 0 || count > entries(layer))
    fail("KV cache: layer {} holds {} entries, {} asked", layer, entries(layer), count);
  if (!spec_.enabled()) return {k_[l].data(), v_[l].data(), kv_dim_};
  if (k_scratch_.size() < n * kv_dim_) {
    k_scratch_.resize(static_cast<size_t>(capacity_) * kv_dim_);
    v_scratch_.resize(static_cast<size_t>(capacity_) * kv_dim_);
  }
  dequantize_rows(kq_[l].data(), kp_[l].data(), n, k_scratch_.data());
  dequantize_rows(vq_[l].data(), vp_[l].data(), n, v_scratch_.data());
  return {k_scratch_.data(), v_scratch_.data(), kv_dim_};
}

kernels::KvCodesView KVCache::head_codes(int layer, size_t head, bool keys) const {
  // The kernels read QuantParams as two floats: scale, then zero.
  static_assert(sizeof(QuantParams) == 2 * sizeof(float) && offsetof(QuantParams, scale) == 0 &&
                offsetof(QuantParams, zero) == sizeof(float));
  if (!spec_.enabled()) fail("KV cache: head_codes on fp32 storage");
  if (layer < 0 || static_cast<size_t>(layer) >= kq_.size() || head >= heads_)
    fail("KV cache: no layer {} head {}", layer, head);
  const size_t l = static_cast<size_t>(layer);
  const bool packed = spec_.bits <= 4;
  kernels::KvCodesView v;
  v.codes = (keys ? kq_[l] : vq_[l]).data() + (packed ? head * head_dim_ / 2 : head * head_dim_);
  v.row_bytes = code_bytes_per_row_;
  v.params = reinterpret_cast<const float*>((keys ? kp_[l] : vp_[l]).data() + head);
  v.param_stride = 2 * heads_;
  v.bits = packed ? 4 : 8;
  v.qmin = spec_.qmin();
  v.head_dim = head_dim_;
  return v;
}

size_t KVCache::bytes() const {
  size_t total = 0;
  for (size_t l = 0; l < k_.size(); ++l) total += (k_[l].size() + v_[l].size()) * sizeof(float);
  for (size_t l = 0; l < kq_.size(); ++l)
    total += kq_[l].size() + vq_[l].size() + (kp_[l].size() + vp_[l].size()) * sizeof(QuantParams);
  return total;
}

}  // namespace lowbit
