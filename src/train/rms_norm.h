#pragma once
// RMSNorm, y = x / rms(x) * w with rms(x) = sqrt(mean(x^2) + eps), and its gradient:
// with r = 1 / rms(x) and g = dy * w,
//   dx = r g - r^3 / D * x * sum_j(g_j x_j),   dw += sum over rows of dy * x * r.
#include <cstddef>

namespace lowbit::train {

// rstd: one value per row (r above), kept for the backward pass.
template <class T>
void rms_norm_forward(const T* x, const T* w, size_t rows, size_t dim, double eps, T* y, T* rstd);

// dx is accumulated (+=), as is dw.
template <class T>
void rms_norm_backward(const T* x, const T* w, const T* rstd, const T* dy, size_t rows, size_t dim,
                       T* dx, T* dw);

}  // namespace lowbit::train
