#pragma once
// A linear operator y = x W^T + b over a batch of rows. The model holds every projection through
// this interface, so quantization passes can replace a dense fp32 layer with a fake-quantized or
// packed low-bit one without touching the forward pass.
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "layers/dense_matrix.h"

namespace lowbit {

class Linear;
class ActivationTransform;

// One member of a group of layers that read the same input (q/k/v, gate/up) and its output.
struct LinearOutput {
  const Linear* layer;
  std::span<float> y;  // rows x out_features
};

class Linear {
 public:
  Linear(int in_features, int out_features) : in_(in_features), out_(out_features) {}
  virtual ~Linear() = default;
  Linear(const Linear&) = delete;
  Linear& operator=(const Linear&) = delete;

  int in_features() const { return in_; }
  int out_features() const { return out_; }

  // x: rows x in_features, y: rows x out_features (row-major, contiguous).
  virtual void forward(std::span<const float> x, size_t rows, std::span<float> y) const = 0;
  // Runs every member of `group` (this layer first) on the same x. The default runs them in turn;
  // an operator that prepares its input (transform, quantization) may do that once for members
  // that prepare it alike. Results equal separate forward() calls.
  virtual void forward_group(std::span<const float> x, size_t rows,
                             std::span<const LinearOutput> group) const;
  // Bytes of weight storage this operator owns (for memory reports).
  virtual size_t weight_bytes() const = 0;
  // Short format name for reports, e.g. "f32".
  virtual std::string format() const = 0;
  // Row `row` of the effective fp32 weight (dequantized if stored low-bit). Tied models read
  // their embeddings through the output head's rows, so a quantized head is stored only once.
  // Called concurrently (one row per token across the pool): implementations must not write
  // shared state.
  virtual void weight_row(size_t row, std::span<float> out) const = 0;
  // The online transform applied to every input before it is quantized (smoothing, rotations,
  // permutation), or null. Analyses use it to see the activations as the quantizer sees them.
  virtual const ActivationTransform* input_transform() const { return nullptr; }

 protected:
  int in_;
  int out_;
};

// Runs a group of layers on one input through its first member's forward_group.
void forward_group(std::span<const float> x, size_t rows, std::span<const LinearOutput> group);

// Full-precision weights [out, in] as stored (layers/dense_matrix.h: fp32, or bf16 / f16 from
// the mapped checkpoint, widened a panel of rows at a time into the same fp32 GEMM). The storage
// is shared so tied embeddings and the output head can use one copy of the matrix.
class DenseLinear final : public Linear {
 public:
  DenseLinear(std::shared_ptr<const DenseMatrix> weight, std::vector<float> bias = {});
  // Owned fp32 weights, out_features x in_features values.
  DenseLinear(int in_features, int out_features, std::vector<float> weight,
              std::vector<float> bias = {});

  void forward(std::span<const float> x, size_t rows, std::span<float> y) const override;
  size_t weight_bytes() const override { return weight_->bytes(); }
  std::string format() const override { return weight_dtype_name(weight_->dtype()); }
  void weight_row(size_t row, std::span<float> out) const override;

  const DenseMatrix& weight() const { return *weight_; }
  const std::shared_ptr<const DenseMatrix>& shared_weight() const { return weight_; }
  std::span<const float> bias() const { return bias_; }

 private:
  std::shared_ptr<const DenseMatrix> weight_;
  std::vector<float> bias_;
};

}  // namespace lowbit
