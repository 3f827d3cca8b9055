#pragma once
// Simulated ("fake") quantization of one linear layer: the weight is used quantize-dequantized
// (and transformed), and every input is transformed online and then quantize-dequantized per
// token before an fp32 GEMM. Numerically this is the low-bit layer; the real integer kernels must
// reproduce it. A quantized weight is kept as codes and scales and dequantized to fp32 on first
// use: `lowbit quantize` streams each layer to the file without ever running it (RTN, or any
// method without a calibration sequence), so the fp32 copy, four times the codes, is never built.
#include <memory>
#include <mutex>

#include "layers/activation_transform.h"
#include "layers/linear.h"
#include "layers/quantizer.h"
#include "layers/weight_extras.h"

namespace lowbit {

class FakeQuantLinear final : public Linear {
 public:
  // Quantized weight (codes and scales, kept so the model can be saved), with optional side
  // data (layers/weight_extras.h) that the effective weight includes.
  FakeQuantLinear(QuantizedMatrix weight, std::vector<float> bias, QuantSpec act_spec,
                  std::shared_ptr<const ActivationTransform> transform,
                  std::shared_ptr<const WeightExtras> extras = nullptr);
  // Full-precision weight (W16), with activation quantization and/or a transform only.
  FakeQuantLinear(int in_features, int out_features, std::vector<float> weight,
                  std::vector<float> bias, QuantSpec act_spec,
                  std::shared_ptr<const ActivationTransform> transform);

  void forward(std::span<const float> x, size_t rows, std::span<float> y) const override;
  size_t weight_bytes() const override;
  std::string format() const override;
  void weight_row(size_t row, std::span<float> out) const override;
  const ActivationTransform* input_transform() const override { return transform_.get(); }

  const QuantSpec& act_spec() const { return act_; }
  const QuantSpec& weight_spec() const { return wspec_; }
  const std::shared_ptr<const ActivationTransform>& transform() const { return transform_; }
  // The effective fp32 weight: the grid (dequantized now if it was not yet) plus the side data.
  std::span<const float> weight() const;
  const QuantizedMatrix* quantized_weight() const { return qweight_.rows ? &qweight_ : nullptr; }
  std::span<const float> bias() const { return bias_; }
  // Side data, or null.
  const std::shared_ptr<const WeightExtras>& extras() const { return extras_; }

 private:
  void check_shapes() const;

  QuantizedMatrix qweight_;  // empty (rows == 0) for a full-precision weight
  // [out, in], on the quantization grid: given, or dequantized from qweight_ once, on first use.
  mutable std::vector<float> weight_;
  mutable std::once_flag dequantized_;
  std::vector<float> bias_;
  QuantSpec wspec_;
  QuantSpec act_;
  std::shared_ptr<const ActivationTransform> transform_;  // may be null
  std::shared_ptr<const WeightExtras> extras_;            // may be null
};

}  // namespace lowbit
