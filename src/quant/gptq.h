#pragma once
// GPTQ (Frantar et al., 2022): quantizes a weight column by column, spreading each column's
// rounding error over the not-yet-quantized columns through the inverse Hessian of the layer's
// inputs, so the layer's output error ||X W^T - X Q^T|| is (approximately) minimised.
#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "layers/quantizer.h"

namespace lowbit {

struct QuantizeOptions;
class QuantPass;

struct GptqOptions {
  QuantSpec weight;        // bits, symmetric, group_size (0 = per output row), clip / mse_clip
  double damp = 0.01;      // added to the diagonal: damp * mean(diag(H))
  bool act_order = false;  // process columns by decreasing diag(H)
  int block_size = 128;    // lazy-batch width
};

// The part of GPTQ that depends only on the inputs: the upper Cholesky factor U of the damped
// inverse Hessian (H^-1 = U^T U), in processing order. Layers that share an input (q/k/v,
// gate/up) share one.
class GptqSolver {
 public:
  // H: [in, in], consumed (at 11008 inputs a copy would be another 0.97 GB).
  GptqSolver(std::vector<double> H, size_t in, const GptqOptions& options);
  // W: [out, in] row-major, replaced by its dequantized values; returns codes and parameters.
  QuantizedMatrix quantize(std::span<float> W, size_t out) const;
  // With another weight spec than the options' (--bits-map: per projection).
  QuantizedMatrix quantize(std::span<float> W, size_t out, const QuantSpec& spec) const;

 private:
  size_t in_;
  GptqOptions options_;
  std::vector<size_t> order_;  // processing order of the columns
  std::vector<bool> dead_;     // inputs that never fire: weight zeroed
  std::vector<double> U_;      // [in, in] upper triangular, in processing order
};

// W: [out, in] row-major; H: [in, in], the sum over calibration tokens of x^T x. Returns the
// quantized matrix; W is left holding its dequantized values. Group parameters are computed from
// the error-updated weights when a group's first column is reached (with act_order, groups are
// consecutive columns in the processing order, recorded so codes map back to original columns).
QuantizedMatrix gptq_quantize(std::span<float> W, size_t out, size_t in, std::span<const double> H,
                              const GptqOptions& options);

// The pass: layers that share an input (q/k/v, gate/up) share one solver; after a transform the
// Gram matrix of the untransformed inputs is mapped through the transform analytically.
std::unique_ptr<QuantPass> make_gptq_pass(const QuantizeOptions& options);

}  // namespace lowbit
