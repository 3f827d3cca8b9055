#include "train/rope.h"

#include <cmath>

#include "core/thread_pool.h"
#include "model/rope.h"

namespace lowbit::train {

template <class T>
Rope<T>::Rope(const ModelConfig& config, size_t seq_len)
    : seq_len_(seq_len), head_dim_(static_cast<size_t>(config.head_dim)) {
  const size_t half = head_dim_ / 2;
  const std::vector<double> inv_freq = rope_inv_freq(config);
  cos_.resize(seq_len * half);
  sin_.resize(seq_len * half);
  // The same double-precision angles, rounded once, as the inference forward's tables.
  for (size_t p = 0; p < seq_len; ++p)
    for (size_t i = 0; i < half; ++i) {
      const double angle = static_cast<double>(p) * inv_freq[i];
      cos_[p * half + i] = static_cast<T>(static_cast<float>(std::cos(angle)));
      sin_[p * half + i] = static_cast<T>(static_cast<float>(std::sin(angle)));
    }
}

template <class T>
void Rope<T>::rotate(T* x, size_t rows, size_t heads, T sign) const {
  const size_t half = head_dim_ / 2, width = heads * head_dim_;
  thread_pool().parallel_for(rows, 16, [&](size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; ++t) {
      const T* cs = cos_.data() + (t % seq_len_) * half;
      const T* sn = sin_.data() + (t % seq_len_) * half;
      for (size_t h = 0; h < heads; ++h) {
        T* v = x + t * width + h * head_dim_;
        for (size_t i = 0; i < half; ++i) {
          const T a = v[i], b = v[i + half], s = sign * sn[i];
          v[i] = a * cs[i] - b * s;
          v[i + half] = b * cs[i] + a * s;
        }
      }
    }
  });
}

template class Rope<float>;
template class Rope<double>;

}  // namespace lowbit::train
