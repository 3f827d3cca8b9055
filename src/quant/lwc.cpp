#include "quant/lwc.h"

#include <fmt/format.h>

#include <cstdio>

#include "core/error.h"
#include "core/progress.h"
#include "quant/quant_pass.h"
#include "train/adamw.h"
#include "train/qk_rotation.h"
#include "train/train_model.h"

namespace lowbit {
namespace {

using train::LinearParam;
using train::TrainWeights;

struct LwcOptions {
  int epochs = 20;
  double lr = 1e-2;
  QuantSpec act, kv, query;
  bool qk_hadamard = false;
  bool progress = true;
};

// A projection of the working layer for the engine: its full-precision weights on the round-to-
// nearest grid it was given (fixed, with clipping logits at their start) or, for the target, in
// full precision.
LinearParam<float> param_of(const WorkLinear& l, const QuantSpec& act, bool quantized) {
  LinearParam<float> p;
  p.in = static_cast<size_t>(l.in);
  p.out = static_cast<size_t>(l.out);
  p.w = l.w;
  p.b = l.bias;
  p.transform = l.transform;
  if (!quantized) return p;
  p.act = act;
  p.grid = train::WeightGrid::of(*l.q);
  p.grid.dynamic = false;
  p.clip_hi.assign(p.grid.params.size(), static_cast<float>(train::kClipLogit0));
  if (!p.grid.spec.symmetric)
    p.clip_lo.assign(p.grid.params.size(), static_cast<float>(train::kClipLogit0));
  return p;
}

double mse(std::span<const float> y, std::span<const float> t) {
  double s = 0;
  for (size_t i = 0; i < y.size(); ++i) s += (static_cast<double>(y[i]) - t[i]) * (y[i] - t[i]);
  return s / static_cast<double>(y.size());
}

class LwcPass final : public QuantPass {
 public:
  explicit LwcPass(LwcOptions o) : o_(o) {}

  void begin_training(const LlamaModel& model,
                      const std::vector<std::vector<int32_t>>& windows) override {
    windows_ = windows.size();
    seq_ = windows.front().size();
    const size_t n = seq_ * static_cast<size_t>(model.config().dim);
    fp_.resize(windows_ * n);
    for (size_t i = 0; i < windows_; ++i) model.embed(windows[i], std::span(fp_).subspan(i * n, n));
    quantized_ = fp_;
  }

  void apply(LayerContext& ctx) override {
    if (windows_ == 0) fail("lwc: no calibration windows to train on");
    auto& L = ctx.work;
    WorkLinear* work[] = {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down};
    for (const WorkLinear* p : work)
      if (!p->q) fail("lwc: layer {} has a projection without quantized weights", ctx.index);

    // One-layer models for the engine: the student on the learned grids, the full-precision
    // layer for the target (the transforms are exact in full precision).
    TrainWeights<float> student, teacher;
    for (auto* m : {&student, &teacher}) {
      m->config = ctx.config;
      m->config.n_layers = 1;
      m->layers.push_back(
          {ctx.weights.attn_norm, ctx.weights.ffn_norm, {}, {}, {}, {}, {}, {}, {}});
    }
    auto& S = student.layers[0];
    auto& F = teacher.layers[0];
    LinearParam<float>* sp[] = {&S.q, &S.k, &S.v, &S.o, &S.gate, &S.up, &S.down};
    LinearParam<float>* fp[] = {&F.q, &F.k, &F.v, &F.o, &F.gate, &F.up, &F.down};
    for (size_t i = 0; i < 7; ++i) {
      *sp[i] = param_of(*work[i], o_.act, true);
      *fp[i] = param_of(*work[i], o_.act, false);
    }
    student.kv = o_.kv;
    student.kv.group_size = ctx.config.head_dim;  // per token and head, as the cache stores it
    student.query = o_.query;
    student.qk_hadamard = o_.qk_hadamard;

    train::TrainModel<float> engine(student.config, 1, seq_, false);
    const size_t n = seq_ * static_cast<size_t>(ctx.config.dim);
    const auto window = [n](std::vector<float>& s, size_t i) {
      return std::span(s).subspan(i * n, n);
    };

    // Targets: the full-precision layer on the full-precision stream, which advances with them.
    std::vector<float> x(n), dx(n);
    for (size_t i = 0; i < windows_; ++i) engine.forward_layer(teacher, 0, window(fp_, i));

    // Training: only the clipping logits move (norms frozen; weights fixed by the optimizer).
    TrainWeights<float> grad = train::zeros_like(student);
    const unsigned frozen = 1u << static_cast<int>(train::ParamKind::kNorm);
    train::AdamWOptions ao;
    ao.lr = ao.clip_lr = o_.lr;
    ao.weight_decay = 0;
    ao.clip_norm = 0;
    ao.min_lr_ratio = 1;
    ao.train_weights = false;
    train::AdamW optimizer(student, frozen, ao);
    const size_t total = static_cast<size_t>(o_.epochs) * windows_;
    Progress progress(fmt::format("lwc layer {}/{}", ctx.index + 1, ctx.config.n_layers), total,
                      o_.progress && total > 0);
    double first = 0, epoch_loss = 0;
    for (size_t step = 0; step < total; ++step) {
      const size_t i = step % windows_;
      const auto input = window(quantized_, i), target = window(fp_, i);
      std::copy(input.begin(), input.end(), x.begin());
      engine.forward_layer(student, 0, x);
      epoch_loss += mse(x, target);
      const float scale = 2.0f / static_cast<float>(n);
      for (size_t j = 0; j < n; ++j) dx[j] = scale * (x[j] - target[j]);
      for (auto& t : train::tensors_of(grad)) std::fill(t.values->begin(), t.values->end(), 0.0f);
      engine.backward_layer(student, 0, dx, grad, frozen);
      optimizer.step(student, grad, o_.lr);
      if (i + 1 == windows_) {
        const double mean = epoch_loss / static_cast<double>(windows_);
        if (step + 1 == windows_) first = mean;
        epoch_loss = 0;
        progress.update(step + 1, fmt::format("mse {:.4g}", mean));
      }
    }
    progress.finish();

    // The learned grids, then the quantized stream through the layer as it now is.
    for (size_t i = 0; i < 7; ++i)
      work[i]->q = train::quantize_on_grid(sp[i]->grid, sp[i]->w.data(), sp[i]->out, sp[i]->in,
                                           sp[i]->clip());
    double end_loss = 0;
    for (size_t i = 0; i < windows_; ++i) {
      engine.forward_layer(student, 0, window(quantized_, i));
      end_loss += mse(window(quantized_, i), window(fp_, i));
    }
    end_loss /= static_cast<double>(windows_);
    if (o_.progress && total > 0)
      fmt::print(stderr, "lwc: layer {}: block output mse {:.4g} (first epoch) -> {:.4g}\n",
                 ctx.index, first, end_loss);
  }

 private:
  LwcOptions o_;
  size_t windows_ = 0, seq_ = 0;
  // The calibration windows' hidden states entering the next layer: through the full-precision
  // model (the targets' inputs) and through the quantized one (the student's inputs).
  std::vector<float> fp_, quantized_;
};

}  // namespace

void validate_lwc(const QuantizeOptions& o, const ModelConfig& c) {
  const MethodInfo* q = o.method.pass_of_kind(MethodKind::kWeightQuantizer);
  if (q == nullptr || q->name != "rtn")
    fail(
        "--method '{}': lwc learns the clipping of round-to-nearest weights (OmniQuant); combine "
        "it with rtn, not {}",
        o.method.name(), q ? q->name : "no weight quantizer");
  if (!o.weight.enabled())
    fail("--method '{}': lwc needs quantized weights (--wbits < 16)", o.method.name());
  if (!o.bits_map.empty())
    fail(
        "--method '{}': lwc trains one weight grid for every projection; --bits-map is not "
        "supported with it",
        o.method.name());
  if (o.kv.enabled() && o.method.rotates_qk())
    train::check_qk_rotation(static_cast<size_t>(c.head_dim));
}

std::unique_ptr<QuantPass> make_lwc_pass(const QuantizeOptions& o) {
  LwcOptions l;
  l.epochs = static_cast<int>(o.params.integer("lwc-epochs"));
  l.lr = o.params.real("lwc-lr");
  l.act = o.act;
  l.kv = o.kv;
  l.query = o.query;
  l.qk_hadamard = o.kv.enabled() && o.method.rotates_qk();
  l.progress = o.calib.progress;
  return std::make_unique<LwcPass>(l);
}

}  // namespace lowbit
