// PackedLinear groups: layers reading one input (q/k/v, gate/up) share one transformed, quantized
// copy of it, and the outputs are bit-identical to running each layer on its own.
#include "layers/packed_linear.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>

#include "core/error.h"
#include "kernels/qgemm.h"
#include "kernels/quantize_activations.h"
#include "quant/nf4.h"

namespace lowbit {
namespace {

std::vector<float> random_floats(std::mt19937& rng, size_t n) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

std::unique_ptr<PackedLinear> make_layer(std::mt19937& rng, int in, int out, int wbits,
                                         const QuantSpec& act,
                                         std::shared_ptr<const ActivationTransform> transform) {
  QuantSpec w;
  w.bits = wbits;
  const auto weight = random_floats(rng, static_cast<size_t>(in * out));
  auto packed = std::make_shared<kernels::PackedWeights>(
      pack_quantized(quantize_rows(weight, static_cast<size_t>(out), static_cast<size_t>(in), w)));
  const kernels::PackedWeightsView view = packed->view();
  return std::make_unique<PackedLinear>(view, std::move(packed), w,
                                        random_floats(rng, static_cast<size_t>(out)), act,
                                        std::move(transform));
}

TEST(PackedLinearGroup, SharedInputEqualsSeparateCalls) {
  std::mt19937 rng(3);
  const int in = 64;
  const size_t rows = 37;
  auto hadamard = std::make_shared<ActivationTransform>(static_cast<size_t>(in));
  hadamard->add_hadamard();
  // Symmetric, asymmetric (8-bit: codes with row offsets and cached weight sums) and clipped.
  const int kBits[] = {4, 8, 16, 4, 8, 8};
  const bool kSym[] = {true, true, true, false, false, true};
  const float kClip[] = {1.0f, 1.0f, 1.0f, 0.9f, 0.9f, 0.8f};
  for (int s = 0; s < 6; ++s)
    for (bool with_transform : {false, true}) {
      const int abits = kBits[s];
      QuantSpec act;
      act.bits = abits;
      act.symmetric = kSym[s];
      act.clip = kClip[s];
      const std::shared_ptr<const ActivationTransform> t =
          with_transform ? hadamard : std::shared_ptr<const ActivationTransform>{};
      std::vector<std::unique_ptr<PackedLinear>> layers;
      for (int out : {48, 16, 16}) layers.push_back(make_layer(rng, in, out, 4, act, t));
      const auto x = random_floats(rng, rows * in);
      std::vector<std::vector<float>> separate, grouped;
      std::vector<LinearOutput> group;
      for (const auto& l : layers) {
        separate.emplace_back(rows * static_cast<size_t>(l->out_features()));
        l->forward(x, rows, separate.back());
        grouped.emplace_back(separate.back().size(), -1.0f);
      }
      for (size_t i = 0; i < layers.size(); ++i) group.push_back({layers[i].get(), grouped[i]});
      forward_group(x, rows, group);
      for (size_t i = 0; i < layers.size(); ++i)
        EXPECT_EQ(grouped[i], separate[i]) << "abits " << abits << " transform " << with_transform;
    }
}

// Per-token specs of every kind are taken; per-group or MSE-clipped activations fail with the
// spec and the ISA named (never a silent fall-back).
TEST(PackedLinear, ActivationSpecs) {
  QuantSpec a;
  a.bits = 4;
  a.symmetric = false;
  a.clip = 0.9f;
  EXPECT_TRUE(PackedLinear::supports_activations(a));
  a.symmetric = true;
  EXPECT_TRUE(PackedLinear::supports_activations(a));
  QuantSpec g = a;
  g.group_size = 32;
  EXPECT_FALSE(PackedLinear::supports_activations(g));
  QuantSpec mse = a;
  mse.mse_clip = true;
  EXPECT_FALSE(PackedLinear::supports_activations(mse));
  std::mt19937 rng(8);
  try {
    make_layer(rng, 64, 16, 4, g, nullptr);
    ADD_FAILURE() << "per-group activations accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(g.describe()), std::string::npos) << msg;
    EXPECT_NE(msg.find(kernels::isa_name(kernels::qgemm_isa())), std::string::npos) << msg;
  }
}

TEST(PackedLinearGroup, MembersPreparedDifferentlyRunOnTheirOwn) {
  std::mt19937 rng(5);
  const int in = 32;
  const size_t rows = 9;
  QuantSpec a8, a4;
  a8.bits = 8;
  a4.bits = 4;
  auto smooth = std::make_shared<ActivationTransform>(static_cast<size_t>(in));
  smooth->set_smooth(std::vector<float>(in, 2.0f));
  std::vector<std::unique_ptr<PackedLinear>> layers;
  layers.push_back(make_layer(rng, in, 16, 4, a8, nullptr));
  layers.push_back(make_layer(rng, in, 16, 8, a4, nullptr));  // other activation bits
  layers.push_back(make_layer(rng, in, 16, 4, a8, smooth));   // other transform
  const auto x = random_floats(rng, rows * in);
  std::vector<std::vector<float>> separate(3), grouped(3);
  std::vector<LinearOutput> group;
  for (size_t i = 0; i < 3; ++i) {
    separate[i].resize(rows * 16);
    grouped[i].resize(rows * 16);
    layers[i]->forward(x, rows, separate[i]);
    group.push_back({layers[i].get(), grouped[i]});
  }
  forward_group(x, rows, group);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(grouped[i], separate[i]) << i;
  // Different input widths cannot share an input.
  layers.push_back(make_layer(rng, 2 * in, 16, 4, a8, nullptr));
  std::vector<float> y(rows * 16);
  group.push_back({layers.back().get(), y});
  EXPECT_THROW(forward_group(x, rows, group), Error);
}

// NF4 weights with 8-bit activations run on the int8 look-up (kernels::qgemm_lut8): against the
// exact product of the quantized activations and the fp32-table weights, the only error is the
// table's rounding to int8, at most half a step (max |table| / 254) of each weight's block scale.
TEST(PackedLinear, Nf4WithInt8ActivationsStaysWithinTheTableRounding) {
  std::mt19937 rng(12);
  const size_t in = 256, out = 40, rows = 3;
  const auto weight = random_floats(rng, in * out);
  const QuantizedMatrix q = nf4_quantize(weight, out, in, 64, false);
  auto packed = std::make_shared<kernels::PackedWeights>(pack_quantized(q));
  const kernels::PackedWeightsView view = packed->view();
  QuantSpec act;
  act.bits = 8;
  const PackedLinear layer(view, std::move(packed), q.spec, {}, act, nullptr);
  EXPECT_NE(layer.format().find("int8 table"), std::string::npos) << layer.format();
  EXPECT_EQ(layer.kernel_isa(), kernels::qgemm_isa());
  const auto x = random_floats(rng, rows * in);
  std::vector<float> y(rows * out);
  layer.forward(x, rows, y);

  kernels::QuantizedActivations qa;
  qa.quantize(x, rows, in, kernels::ActivationFormat{8, true, 1.0f});
  const std::vector<float> wf = q.dequantize();
  const float half_step = 1.0f / 254.0f;  // NF4's table spans [-1, 1]
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < out; ++j) {
      double exact = 0, bound = 0;
      for (size_t k = 0; k < in; ++k) {
        const double a = double(qa.row(r)[k]) * qa.scale(r);
        exact += a * wf[j * in + k];
        bound += std::fabs(a) * q.params[j * 4 + k / 64].scale * half_step;
      }
      EXPECT_NEAR(y[r * out + j], exact, bound * 1.01 + 1e-4) << r << " " << j;
    }
}

TEST(PackedLinear, PerRowTablesRefuseInt8Activations) {
  std::mt19937 rng(13);
  const size_t in = 64, out = 16;
  std::vector<uint8_t> codes(in * out, 3);
  const std::vector<float> scales(out, 1.0f), tables = random_floats(rng, out * 16);
  auto packed = std::make_shared<kernels::PackedWeights>(
      kernels::pack_codebook_weights(codes, out, in, 0, scales, tables, out));
  const kernels::PackedWeightsView view = packed->view();
  QuantSpec w;
  w.bits = 4;
  w.codebook = Codebook::kPerRow;
  QuantSpec act;
  act.bits = 8;
  try {
    PackedLinear layer(view, std::move(packed), w, {}, act, nullptr);
    ADD_FAILURE() << "per-row tables accepted with 8-bit activations";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a table per row"), std::string::npos) << e.what();
  }
}

// Per-row tables with 16-bit activations run on the row-layout kernel (kernels::qgemm_lut_rows):
// the layer gives that kernel's bits, agrees with the packed-layout product up to summation order,
// and reports the blob's codes as re-laid (a loader may drop them); a shared table does not.
TEST(PackedLinear, PerRowTablesRunOnTheRowLayout) {
  std::mt19937 rng(14);
  const size_t in = 200, out = 37, rows = 5;
  std::vector<uint8_t> codes(in * out);
  for (auto& c : codes) c = static_cast<uint8_t>(rng() % 16);
  const std::vector<float> scales(out, 0.5f), tables = random_floats(rng, out * 16);
  auto packed = std::make_shared<kernels::PackedWeights>(
      kernels::pack_codebook_weights(codes, out, in, 0, scales, tables, out));
  const kernels::PackedWeightsView view = packed->view();
  QuantSpec w;
  w.bits = 4;
  w.codebook = Codebook::kPerRow;
  const std::vector<float> bias = random_floats(rng, out);
  const PackedLinear layer(view, packed, w, bias, QuantSpec{}, nullptr);
  EXPECT_EQ(layer.kernel_isa(), kernels::qgemm_lut_rows_isa());
  const auto relaid = layer.relaid_codes();
  EXPECT_EQ(relaid.data(), view.blob().data() + view.layout().codes_offset());
  EXPECT_EQ(relaid.size(), view.layout().blocks() * view.layout().block_bytes());

  const auto x = random_floats(rng, rows * in);
  std::vector<float> y(rows * out), want(rows * out), packed_y(rows * out);
  layer.forward(x, rows, y);
  kernels::qgemm_lut_rows(x, rows, in, kernels::LutRowsWeights::from_packed(view), bias, want, out);
  EXPECT_EQ(y, want);
  kernels::qgemm_f32(x, rows, in, view, bias, packed_y, out);
  for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], packed_y[i], 1e-4f) << i;

  // One shared table: the packed layout's own kernel, nothing re-laid.
  auto shared = std::make_shared<kernels::PackedWeights>(
      kernels::pack_codebook_weights(codes, out, in, 0, scales, std::span(tables).first(16), 1));
  QuantSpec nf;
  nf.bits = 4;
  nf.codebook = Codebook::kNf4;
  const PackedLinear shared_layer(shared->view(), shared, nf, {}, QuantSpec{}, nullptr);
  EXPECT_TRUE(shared_layer.relaid_codes().empty());
  EXPECT_EQ(shared_layer.kernel_isa(), kernels::qgemm_lut_isa());
}

}  // namespace
}  // namespace lowbit
