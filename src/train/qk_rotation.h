#pragma once
// The q/k Hadamard of a rotation method (QuaRot, DuQuant) for training: under a quantized K cache
// the inference model multiplies every query and key head by the orthonormal Hadamard matrix H
// after RoPE (LlamaModel::AttentionQuant), so the keys' outliers are spread before quantization
// while (qH)(kH)^T = q k^T. The training engine does the same; the gradient goes back through
// H^T, and Sylvester's H_n (a power-of-two head size, every Llama, Qwen and Mistral model) is
// symmetric and orthonormal, so it is its own transpose and inverse: one function serves both
// passes. Other head sizes use a Paley factor in inference (layers/hadamard.h), which is not
// symmetric; training refuses them rather than model a different rotation.
#include <cstddef>

namespace lowbit::train {

// Throws lowbit::Error unless head_dim is a power of two.
void check_qk_rotation(size_t head_dim);

// In place, each of the `rows` rows of x (length n, a power of two): x <- x H_n / sqrt(n), the
// same values as layers/hadamard.h's hadamard_transform_rows (fast Walsh-Hadamard transform).
template <class T>
void qk_rotate_rows(T* x, size_t rows, size_t n);

}  // namespace lowbit::train
