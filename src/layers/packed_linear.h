#pragma once
// The real low-bit linear layer: packed int4/int8 weights (used in place, e.g. from a memory-mapped
// .lowbit file) multiplied by the integer kernels of src/kernels. Per call the input gets the
// layer's online transform (DuQuant / Hadamard / smoothing), then is quantized per token to int8
// codes on the fly (symmetric or asymmetric, with the spec's clip ratio) and multiplied with int32
// accumulation (W4A4, W4A8, W8A8), or multiplied in fp32 against weights dequantized in registers
// (W4A16, W8A16).
//
// Codebook weights (NF4, SqueezeLLM) run the look-up-table kernels (kernels/qgemm.h); those with a
// table and one scale per row (SqueezeLLM) are re-laid once, at construction, for the row-layout
// kernel (kernels/qgemm_lut_rows.h), whose look-up is a register permute instead of a gather. Side
// data (layers/weight_extras.h: LLM.int8() outlier columns, a sparse part, low-rank factors) adds
// its small products; fractional zero points (HQQ) are split into the integer zero the kernels
// use and a per-group fraction f, whose term -f s sum_g(x) is added from the input's group sums.
//
// It reproduces FakeQuantLinear up to float summation order: the same codes, scales and
// activation quantizer (tests/kernels/fake_quant_equivalence_test.cpp checks both paths agree).
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/packed_weights.h"
#include "kernels/qgemm.h"
#include "kernels/qgemm_lut_rows.h"
#include "layers/activation_transform.h"
#include "layers/linear.h"
#include "layers/quantizer.h"
#include "layers/weight_extras.h"

namespace lowbit {

class PackedLinear final : public Linear {
 public:
  // `storage` keeps the bytes behind `weights` alive (a file mapping or a PackedWeights).
  PackedLinear(kernels::PackedWeightsView weights, std::shared_ptr<const void> storage,
               QuantSpec weight_spec, std::vector<float> bias, QuantSpec act_spec,
               std::shared_ptr<const ActivationTransform> transform,
               std::shared_ptr<const WeightExtras> extras = nullptr,
               std::vector<float> zero_fractions = {});

  void forward(std::span<const float> x, size_t rows, std::span<float> y) const override;
  // Members that are PackedLinear with this layer's transform (the same object), activation
  // format and outlier columns share one transformed, quantized copy of x (q/k/v: one
  // quantization instead of three).
  void forward_group(std::span<const float> x, size_t rows,
                     std::span<const LinearOutput> group) const override;
  size_t weight_bytes() const override;
  std::string format() const override;
  void weight_row(size_t row, std::span<float> out) const override;
  const ActivationTransform* input_transform() const override { return transform_.get(); }

  // Whether the integer kernels take this activation spec: per token (group_size 0), symmetric
  // or asymmetric, any clip ratio in (0, 1], no MSE clip search. The constructor fails, naming the
  // spec and the kernels' ISA, on any other enabled spec.
  static bool supports_activations(const QuantSpec& act);
  // The ISA of the kernel this layer runs (integer GEMM, or the fp32-activation one for A16).
  kernels::Isa kernel_isa() const;
  const std::shared_ptr<const WeightExtras>& extras() const { return extras_; }
  // Per (row, group): z - (the integer zero point in the packed weights); empty when integral.
  std::span<const float> zero_fractions() const { return zero_fractions_; }
  // The packed blob's codes section when the products run on a re-laid copy of the codes (per-row
  // tables), else empty: nothing but weight_row() reads it then, so a loader that mapped the file
  // may drop its pages (release_mapped_pages) instead of keeping the codes resident twice.
  std::span<const std::byte> relaid_codes() const;

 private:
  // The input of one call as the products see it: what the main product multiplies (in fp32,
  // dequantized when activations are quantized; outlier columns zeroed), the same with the
  // outlier columns restored (the side products), and the outlier columns themselves.
  struct SideInput {
    std::span<const float> main, full, outliers;
  };
  // y += the products of the side data and of the zero-point fractions.
  void add_side_products(const SideInput& in, size_t rows, std::span<float> y) const;
  bool has_side_products() const { return extras_ != nullptr || !zero_correction_.empty(); }
  // x transformed by this layer's online transform (x itself when there is none).
  std::span<const float> transformed_input(std::span<const float> x, size_t rows) const;
  // y = fp32 input times the packed weights (W4A16 / W8A16).
  void multiply(std::span<const float> input, size_t rows, std::span<float> y) const;
  // Per-group weight sums for 8-bit asymmetric activations (computed on first use), else empty.
  std::span<const int32_t> weight_sums() const;

  kernels::PackedWeightsView weights_;
  std::shared_ptr<const void> storage_;
  QuantSpec wspec_;
  std::vector<float> bias_;
  QuantSpec act_;
  std::shared_ptr<const ActivationTransform> transform_;
  std::shared_ptr<const WeightExtras> extras_;  // null when there is no side data
  std::vector<float> zero_fractions_;           // [n, groups] or empty
  std::vector<float> zero_correction_;          // -fraction * scale, [n, groups] or empty
  // Codebook weights with 8-bit activations: the table rounded to int8 (kernels::qgemm_lut8).
  std::optional<kernels::Lut8Table> lut8_;
  // Codebook weights with a table per row and 16-bit activations: the codes in the row layout.
  std::optional<kernels::LutRowsWeights> lut_rows_;
  mutable std::once_flag wsums_once_;
  mutable std::vector<int32_t> wsums_;
};

// Packs a quantized matrix into the kernels' layout (the codes' own width: kernels::container_bits;
// codebooks in the int4 container with their tables). Fractional zero points are rounded (and
// clamped to the code range) into the packed integer zero; zero_fractions gives the remainders.
kernels::PackedWeights pack_quantized(const QuantizedMatrix& q);
// Per (row, group), z minus the integer zero pack_quantized stores; empty when every zero point is
// an integer in the code range (all but HQQ's).
std::vector<float> zero_fractions(const QuantizedMatrix& q);
// The inverse: codes and parameters of a packed blob, with the spec they were made with (and the
// fractions of its zero points, if any).
QuantizedMatrix unpack_quantized(const kernels::PackedWeightsView& w, const QuantSpec& spec,
                                 std::span<const float> zero_fractions = {});

}  // namespace lowbit
