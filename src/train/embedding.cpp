#include "train/embedding.h"

#include <algorithm>

#include "core/thread_pool.h"

namespace lowbit::train {

template <class T>
void embedding_forward(std::span<const int32_t> ids, const T* table, size_t dim, T* out) {
  thread_pool().parallel_for(ids.size(), 16, [&](size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; ++t)
      std::copy_n(table + static_cast<size_t>(ids[t]) * dim, dim, out + t * dim);
  });
}

template <class T>
void embedding_backward(std::span<const int32_t> ids, const T* dout, size_t dim, T* dtable) {
  thread_pool().parallel_for(dim, 16, [&](size_t d0, size_t d1) {
    for (size_t t = 0; t < ids.size(); ++t) {
      T* row = dtable + static_cast<size_t>(ids[t]) * dim;
      const T* g = dout + t * dim;
      for (size_t d = d0; d < d1; ++d) row[d] += g[d];
    }
  });
}

template void embedding_forward<float>(std::span<const int32_t>, const float*, size_t, float*);
template void embedding_forward<double>(std::span<const int32_t>, const double*, size_t, double*);
template void embedding_backward<float>(std::span<const int32_t>, const float*, size_t, float*);
template void embedding_backward<double>(std::span<const int32_t>, const double*, size_t, double*);

}  // namespace lowbit::train
