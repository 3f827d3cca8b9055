#pragma once
// SwiGLU, h = silu(g) * u with silu(g) = g * sigmoid(g), and its gradient:
//   du = dh * silu(g),   dg = dh * u * sigmoid(g) * (1 + g * (1 - sigmoid(g))).
#include <cstddef>

namespace lowbit::train {

template <class T>
void swiglu_forward(const T* g, const T* u, size_t n, T* h);

// dg and du are written (not accumulated).
template <class T>
void swiglu_backward(const T* g, const T* u, const T* dh, size_t n, T* dg, T* du);

}  // namespace lowbit::train
