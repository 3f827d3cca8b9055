#pragma once
// Rotary position embedding on a batch of sequences ([batch * seq, heads * head_dim], each
// sequence starting at position 0), in Hugging Face's "rotate_half" pairing (dimension i with
// i + head_dim / 2), and its gradient: RoPE is a rotation, so the backward pass rotates the
// gradient by the opposite angle.
#include <cstddef>
#include <vector>

#include "model/config.h"

namespace lowbit::train {

template <class T>
class Rope {
 public:
  // Angles for positions 0 .. seq_len - 1 from the model's rope settings (model/rope.h).
  Rope(const ModelConfig& config, size_t seq_len);

  // x: rows of heads * head_dim; row t is at position t % seq_len. In place.
  void forward(T* x, size_t rows, size_t heads) const { rotate(x, rows, heads, T(1)); }
  // dx <- R^T dx, in place.
  void backward(T* dx, size_t rows, size_t heads) const { rotate(dx, rows, heads, T(-1)); }

 private:
  void rotate(T* x, size_t rows, size_t heads, T sign) const;

  size_t seq_len_, head_dim_;
  std::vector<T> cos_, sin_;  // [seq_len, head_dim / 2]
};

}  // namespace lowbit::train
