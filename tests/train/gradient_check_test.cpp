// Every backward pass of the training engine against central finite differences in double
// precision (fake quantization off), on small random shapes with GQA, biases, a tied head and odd
// lengths; then the whole model on a tiny checkpoint. The loss is <R, output> for a fixed random R,
// so dL/doutput = R.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "io/model_loader.h"
#include "testing/fixtures.h"
#include "train/causal_attention.h"
#include "train/distill_loss.h"
#include "train/embedding.h"
#include "train/fake_quant.h"
#include "train/quant_linear.h"
#include "train/rms_norm.h"
#include "train/rope.h"
#include "train/student.h"
#include "train/swiglu.h"
#include "train/train_model.h"

namespace lowbit::train {
namespace {

using Vec = std::vector<double>;

Vec random_vec(size_t n, uint32_t seed, double scale = 1.0) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> d(0.0, scale);
  Vec v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Checks analytic[i] against the central difference of loss() in x[i], for every i (or `samples`
// spread indices).
void expect_gradient(const char* what, Vec& x, const Vec& analytic,
                     const std::function<double()>& loss, size_t samples = 0) {
  ASSERT_EQ(x.size(), analytic.size()) << what;
  const size_t n = x.size();
  const size_t count = samples == 0 ? n : std::min(samples, n);
  double max_abs = 0;
  for (const double g : analytic) max_abs = std::max(max_abs, std::abs(g));
  for (size_t s = 0; s < count; ++s) {
    const size_t i = samples == 0 ? s : (s * 7919 + 13) % n;
    const double saved = x[i], h = 1e-6 * std::max(1.0, std::abs(saved));
    x[i] = saved + h;
    const double up = loss();
    x[i] = saved - h;
    const double down = loss();
    x[i] = saved;
    const double numeric = (up - down) / (2 * h);
    // Relative error, with a floor of 1e-3 of the tensor's largest gradient for entries near 0.
    const double denom =
        std::max({std::abs(numeric), std::abs(analytic[i]), 1e-3 * max_abs, 1e-12});
    EXPECT_LE(std::abs(numeric - analytic[i]) / denom, 1e-4)
        << what << "[" << i << "]: analytic " << analytic[i] << ", numeric " << numeric;
  }
}

TEST(GradientCheck, RmsNorm) {
  const size_t rows = 3, dim = 7;
  Vec x = random_vec(rows * dim, 1), w = random_vec(dim, 2), r = random_vec(rows * dim, 3);
  Vec y(rows * dim), rstd(rows);
  const auto loss = [&] {
    rms_norm_forward(x.data(), w.data(), rows, dim, 1e-5, y.data(), rstd.data());
    return dot(y, r);
  };
  loss();
  Vec dx(rows * dim, 0.0), dw(dim, 0.0);
  rms_norm_backward(x.data(), w.data(), rstd.data(), r.data(), rows, dim, dx.data(), dw.data());
  expect_gradient("rms_norm dx", x, dx, loss);
  expect_gradient("rms_norm dw", w, dw, loss);
}

TEST(GradientCheck, Rope) {
  ModelConfig c;
  c.dim = 24, c.n_heads = 3, c.n_kv_heads = 3, c.head_dim = 8, c.max_seq_len = 16;
  const size_t rows = 10, seq = 5, heads = 3;  // two sequences of 5
  Rope<double> rope(c, seq);
  Vec x = random_vec(rows * 24, 4), r = random_vec(rows * 24, 5);
  const auto loss = [&] {
    Vec y = x;
    rope.forward(y.data(), rows, heads);
    return dot(y, r);
  };
  Vec dx = r;
  rope.backward(dx.data(), rows, heads);
  expect_gradient("rope dx", x, dx, loss);
}

TEST(GradientCheck, CausalAttentionWithGqa) {
  const AttentionShape s{2, 5, 4, 2, 6};  // batch 2, odd length 5, 4 query heads on 2 KV heads
  const size_t n = s.batch * s.seq;
  Vec q = random_vec(n * s.q_width(), 6), k = random_vec(n * s.kv_width(), 7),
      v = random_vec(n * s.kv_width(), 8), r = random_vec(n * s.q_width(), 9);
  Vec probs(s.probs_size()), out(n * s.q_width());
  const auto loss = [&] {
    causal_attention_forward(s, q.data(), k.data(), v.data(), probs.data(), out.data());
    return dot(out, r);
  };
  loss();
  Vec dq(q.size()), dk(k.size()), dv(v.size());
  causal_attention_backward(s, q.data(), k.data(), v.data(), probs.data(), r.data(), dq.data(),
                            dk.data(), dv.data());
  expect_gradient("attention dq", q, dq, loss);
  expect_gradient("attention dk", k, dk, loss);
  expect_gradient("attention dv", v, dv, loss);
  // Causality: the first position's output depends on the first key only.
  EXPECT_DOUBLE_EQ(probs[0], 1.0);
  EXPECT_DOUBLE_EQ(probs[1], 0.0);
}

TEST(GradientCheck, SwiGlu) {
  const size_t n = 13;
  Vec g = random_vec(n, 10, 2.0), u = random_vec(n, 11), r = random_vec(n, 12), h(n);
  const auto loss = [&] {
    swiglu_forward(g.data(), u.data(), n, h.data());
    return dot(h, r);
  };
  Vec dg(n), du(n);
  swiglu_backward(g.data(), u.data(), r.data(), n, dg.data(), du.data());
  expect_gradient("swiglu dg", g, dg, loss);
  expect_gradient("swiglu du", u, du, loss);
}

TEST(GradientCheck, LinearWithBias) {
  const size_t rows = 5, in = 7, out = 3;
  LinearParam<double> p{in, out, random_vec(out * in, 13), random_vec(out, 14), {}, {}, {}, {}, {}};
  Vec x = random_vec(rows * in, 15), r = random_vec(rows * out, 16), y(rows * out);
  LinearScratch<double> s;
  const auto loss = [&] {
    linear_forward(p, x.data(), rows, y.data(), s);
    return dot(y, r);
  };
  Vec dx(x.size(), 0.0);
  LinearParam<double> grad{in, out, Vec(out * in, 0.0), Vec(out, 0.0), {}, {}, {}, {}, {}};
  linear_backward(p, x.data(), rows, r.data(), dx.data(), &grad, s);
  expect_gradient("linear dx", x, dx, loss);
  expect_gradient("linear dw", p.w, grad.w, loss);
  expect_gradient("linear db", p.b, grad.b, loss);
}

TEST(GradientCheck, Embedding) {
  const size_t dim = 4, vocab = 6;
  const std::vector<int32_t> ids = {3, 1, 3, 5, 0};
  Vec table = random_vec(vocab * dim, 17), r = random_vec(ids.size() * dim, 18), out(r.size());
  const auto loss = [&] {
    embedding_forward(std::span<const int32_t>(ids), table.data(), dim, out.data());
    return dot(out, r);
  };
  Vec dtable(table.size(), 0.0);
  embedding_backward(std::span<const int32_t>(ids), r.data(), dim, dtable.data());
  expect_gradient("embedding dtable", table, dtable, loss);
}

TEST(GradientCheck, DistillLossKlAndCrossEntropyWithTemperature) {
  const size_t rows = 3, vocab = 9;
  Vec z = random_vec(rows * vocab, 19, 2.0);
  const Vec t = random_vec(rows * vocab, 20, 2.0);
  const std::vector<float> teacher(t.begin(), t.end());
  const std::vector<int32_t> targets = {4, -1, 8};
  for (const LossOptions o : {LossOptions{1.0, 0.0}, LossOptions{2.0, 0.0}, LossOptions{1.0, 1.0},
                              LossOptions{1.5, 0.3}}) {
    const auto loss = [&] {
      Vec copy = z;
      return distill_loss(copy.data(), teacher.data(), targets, vocab, o).loss;
    };
    Vec grad = z;
    distill_loss(grad.data(), teacher.data(), targets, vocab, o);
    expect_gradient("distill dlogits", z, grad, loss);
  }
  // KL of a distribution to itself is zero, and so is its gradient.
  Vec same(teacher.begin(), teacher.end());
  const LossValue v = distill_loss(same.data(), teacher.data(), targets, vocab, LossOptions{});
  EXPECT_NEAR(v.kl, 0.0, 1e-12);
  for (const double g : same) EXPECT_NEAR(g, 0.0, 1e-12);
}

// The float loss (vectorized softmax, KL without logarithms) agrees with the double reference.
TEST(DistillLoss, FloatPathMatchesDouble) {
  const size_t rows = 5, vocab = 301;
  const Vec z = random_vec(rows * vocab, 40, 3.0), t = random_vec(rows * vocab, 41, 3.0);
  const std::vector<float> teacher(t.begin(), t.end());
  const std::vector<int32_t> targets = {4, -1, 300, 0, 17};
  for (const LossOptions o : {LossOptions{1.0, 0.0}, LossOptions{2.0, 0.0}, LossOptions{1.0, 1.0},
                              LossOptions{1.5, 0.3}}) {
    std::vector<float> zf(z.begin(), z.end());
    Vec zd(zf.begin(), zf.end());
    const LossValue a = distill_loss(zf.data(), teacher.data(), targets, vocab, o);
    const LossValue b = distill_loss(zd.data(), teacher.data(), targets, vocab, o);
    EXPECT_NEAR(a.loss, b.loss, 1e-5 * (1 + b.loss));
    EXPECT_NEAR(a.kl, b.kl, 1e-5 * (1 + b.kl));
    EXPECT_NEAR(a.ce, b.ce, 1e-5 * (1 + b.ce));
    double worst = 0, scale = 0;
    for (size_t i = 0; i < zd.size(); ++i) {
      worst = std::max(worst, std::abs(zf[i] - zd[i]));
      scale = std::max(scale, std::abs(zd[i]));
    }
    EXPECT_LE(worst, 1e-5 * scale) << o.temperature << " " << o.ce_weight;
  }
}

// Learned clipping's gradient is the straight-through estimator's: round() in the codes and the
// zero point passed through as the identity. Its reference is the finite difference of a surrogate
// in which every round(x) is x plus its rounding offset frozen at the point of evaluation (and
// every clamp keeps the side it fell on), which is what the STE differentiates.
TEST(GradientCheck, LearnedClippingStraightThrough) {
  for (const bool symmetric : {true, false}) {
    const size_t rows = 3, cols = 8, group = 4, groups = rows * cols / group;
    Vec w = random_vec(rows * cols, 31);
    const std::vector<float> wf(w.begin(), w.end());
    const QuantSpec spec{.bits = 3, .symmetric = symmetric, .group_size = 4};
    WeightGrid grid = WeightGrid::of(quantize_rows(wf, rows, cols, spec));
    grid.dynamic = false;
    Vec hi = random_vec(groups, 32, 0.8), lo = random_vec(groups, 33, 0.8);
    for (auto& x : hi) x += kClipLogit0 - 1.0;  // mostly clipping in, some not
    for (auto& x : lo) x += kClipLogit0 - 1.0;
    const Vec r = random_vec(rows * cols, 34);
    const auto clip = [&] { return Clip<double>{hi.data(), symmetric ? nullptr : lo.data()}; };
    Vec dhi(groups, 0.0), dlo(groups, 0.0), dw(w.size(), 0.0);
    fake_quant_weight_backward(grid, w.data(), r.data(), rows, cols, dw.data(), clip(),
                               ClipGrad<double>{dhi.data(), symmetric ? nullptr : dlo.data()});
    // The surrogate around the current logits.
    const double qmax = spec.qmax(), qmin = spec.qmin(), sig0 = 1 / (1 + std::exp(-kClipLogit0));
    const auto sig = [](double x) { return 1 / (1 + std::exp(-x)); };
    struct Frozen {
      std::vector<double> k;  // round(w / s) - w / s per value
      double dz = 0;          // round(u) - u of the zero point
      std::vector<int> side;  // -1 / +1 clamped, 0 inside
    };
    std::vector<Frozen> frozen(groups);
    const auto loss = [&](bool freeze) {
      double total = 0;
      for (size_t g = 0; g < groups; ++g) {
        const QuantParams b = grid.params[g];
        double s, z = 0, u = 0;
        if (symmetric) {
          s = b.scale * sig(hi[g]) / sig0;
        } else {
          const double top = (qmax - b.zero) * b.scale,
                       bottom = -b.zero * static_cast<double>(b.scale);
          const double bp = sig(lo[g]) / sig0 * bottom;
          s = (sig(hi[g]) / sig0 * top - bp) / qmax;
          u = -bp / s;
        }
        auto& f = frozen[g];
        if (freeze) {
          f.k.assign(group, 0.0);
          f.side.assign(group, 0);
          f.dz = symmetric ? 0.0 : std::nearbyint(u) - u;
        }
        z = symmetric ? 0.0 : u + f.dz;
        for (size_t j = 0; j < group; ++j) {
          const size_t i = g * group + j;
          const double x = w[i] / s;
          if (freeze) {
            f.k[j] = std::nearbyint(x) - x;
            const double raw = std::nearbyint(x) + std::nearbyint(z);
            f.side[j] = raw < qmin ? -1 : raw > qmax ? 1 : 0;
          }
          const double q = f.side[j] < 0 ? qmin - z : f.side[j] > 0 ? qmax - z : x + f.k[j];
          total += r[i] * q * s;
        }
      }
      return total;
    };
    loss(true);
    expect_gradient("lwc dclip_hi", hi, dhi, [&] { return loss(false); });
    if (!symmetric) expect_gradient("lwc dclip_lo", lo, dlo, [&] { return loss(false); });
    // Weights: straight through inside the grid, nothing where clamped.
    for (size_t g = 0; g < groups; ++g)
      for (size_t j = 0; j < group; ++j)
        EXPECT_EQ(dw[g * group + j], frozen[g].side[j] == 0 ? r[g * group + j] : 0.0);
  }
}

// The whole model: a tiny Llama (GQA, q/k/v biases, tied head) loaded from a checkpoint, in double,
// distillation loss against random teacher logits, every tensor's gradient sampled; with
// `qk_hadamard`, q and k rotated after RoPE as a rotation method under a quantized cache runs.
void check_whole_model(bool qk_hadamard) {
  testing::TempDir dir;
  testing::TinyModelSpec spec;
  spec.dim = 16, spec.hidden = 24, spec.heads = 4, spec.kv_heads = 2,
  spec.vocab = 512;  // the tokenizer's
  spec.attention_bias = true;
  testing::write_tiny_checkpoint(dir.path(), spec);
  LoadedModel m = load_model(dir.path());
  TrainWeights<double> w = convert_weights<double>(student_from_model(*m.model));
  w.qk_hadamard = qk_hadamard;
  ASSERT_TRUE(w.embedding.empty());  // tied
  ASSERT_FALSE(w.layers[0].q.b.empty());
  const size_t batch = 2, seq = 5, vocab = 512;
  TrainModel<double> model(w.config, batch, seq, false);
  std::vector<int32_t> ids;
  for (size_t i = 0; i < batch * seq; ++i)
    ids.push_back(static_cast<int32_t>((i * 11 + 3) % vocab));
  std::vector<int32_t> targets(ids.begin() + 1, ids.end());
  targets.push_back(-1);
  const Vec t = random_vec(batch * seq * vocab, 21);
  const std::vector<float> teacher(t.begin(), t.end());
  const LossOptions lo{1.0, 0.25};
  const auto loss = [&] {
    auto logits = model.forward(w, ids);
    return distill_loss(logits.data(), teacher.data(), targets, vocab, lo).loss;
  };
  loss();
  TrainWeights<double> grad = zeros_like(w);
  model.backward(w, grad, 0);
  auto params = tensors_of(w);
  auto grads = tensors_of(grad);
  ASSERT_EQ(params.size(), grads.size());
  for (size_t i = 0; i < params.size(); ++i)
    expect_gradient(params[i].name.c_str(), *params[i].values, *grads[i].values, loss, 12);
  // The same gradient with activations recomputed layer by layer.
  TrainModel<double> recompute(w.config, batch, seq, true);
  auto logits = recompute.forward(w, ids);
  distill_loss(logits.data(), teacher.data(), targets, vocab, lo);
  TrainWeights<double> grad2 = zeros_like(w);
  recompute.backward(w, grad2, 0);
  auto grads2 = tensors_of(grad2);
  for (size_t i = 0; i < grads.size(); ++i)
    for (size_t j = 0; j < grads[i].values->size(); ++j)
      ASSERT_DOUBLE_EQ((*grads[i].values)[j], (*grads2[i].values)[j]) << grads[i].name;
}

TEST(GradientCheck, WholeModelOnTinyCheckpoint) {
  check_whole_model(false);
}

TEST(GradientCheck, WholeModelWithTheQkHadamard) {
  check_whole_model(true);
}

// One decoder layer on its own (the block-wise LWC pass): dL/dinput and the layer's parameters.
TEST(GradientCheck, OneLayerOnItsOwn) {
  testing::TempDir dir;
  testing::TinyModelSpec spec;
  spec.dim = 16, spec.hidden = 24, spec.heads = 4, spec.kv_heads = 2, spec.vocab = 512;
  testing::write_tiny_checkpoint(dir.path(), spec);
  LoadedModel m = load_model(dir.path());
  TrainWeights<double> w = convert_weights<double>(student_from_model(*m.model));
  const size_t layer = 1, seq = 7, n = seq * 16;
  TrainModel<double> model(w.config, 1, seq, false);
  Vec x = random_vec(n, 31), y(n);
  const Vec r = random_vec(n, 32);
  const auto loss = [&] {
    y = x;
    model.forward_layer(w, layer, y);
    return dot(r, y);
  };
  loss();
  TrainWeights<double> grad = zeros_like(w);
  Vec dx = r;
  model.backward_layer(w, layer, dx, grad, 0);
  expect_gradient("input", x, dx, loss);
  auto& L = w.layers[layer];
  auto& G = grad.layers[layer];
  expect_gradient("attn_norm", L.attn_norm, G.attn_norm, loss);
  expect_gradient("q.w", L.q.w, G.q.w, loss, 24);
  expect_gradient("down.w", L.down.w, G.down.w, loss, 24);
  for (const auto& t : tensors_of(grad)) {
    if (t.layer == static_cast<int>(layer)) continue;
    for (const double g : *t.values) ASSERT_EQ(g, 0.0) << t.name;
  }
}

}  // namespace
}  // namespace lowbit::train
