#include "train/qk_rotation.h"

#include <cmath>

#include "core/error.h"
#include "core/thread_pool.h"

namespace lowbit::train {

void check_qk_rotation(size_t head_dim) {
  if (head_dim == 0 || (head_dim & (head_dim - 1)) != 0)
    fail(
        "training: the q/k Hadamard rotation needs a power-of-two head size (Sylvester's "
        "matrix), got head_dim {}",
        head_dim);
}

template <class T>
void qk_rotate_rows(T* x, size_t rows, size_t n) {
  check_qk_rotation(n);
  const T norm = static_cast<T>(1 / std::sqrt(static_cast<double>(n)));
  thread_pool().parallel_for(rows, 64, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      T* v = x + r * n;
      for (size_t h = 1; h < n; h *= 2)
        for (size_t i = 0; i < n; i += 2 * h)
          for (size_t j = i; j < i + h; ++j) {
            const T a = v[j], b = v[j + h];
            v[j] = a + b;
            v[j + h] = a - b;
          }
      for (size_t j = 0; j < n; ++j) v[j] *= norm;
    }
  });
}

template void qk_rotate_rows<float>(float*, size_t, size_t);
template void qk_rotate_rows<double>(double*, size_t, size_t);

}  // namespace lowbit::train
