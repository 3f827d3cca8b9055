#include "quant/pipeline.h"

#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>
#include <sstream>

#include "core/error.h"
#include "core/progress.h"
#include "core/thread_pool.h"
#include "kernels/sgemm.h"
#include "quant/duquant.h"
#include "layers/fake_quant_linear.h"
#include "quant/gptq.h"
#include "layers/hadamard.h"

namespace lowbit {
namespace {

constexpr ActivationSite kSites[] = {ActivationSite::kQkvInput, ActivationSite::kOInput,
                                     ActivationSite::kUpInput, ActivationSite::kDownInput};

// A projection being quantized: a mutable fp32 weight and the online transform of its input.
struct WorkLinear {
  int in = 0, out = 0;
  std::vector<float> w;  // [out, in]
  std::vector<float> bias;
  std::shared_ptr<ActivationTransform> transform;
  std::optional<QuantizedMatrix> q;  // set by the weight quantizer
};

struct WorkLayer {
  WorkLinear q, k, v, o, gate, up, down;
  std::vector<WorkLinear*> at(ActivationSite site) {
    switch (site) {
      case ActivationSite::kQkvInput:
        return {&q, &k, &v};
      case ActivationSite::kOInput:
        return {&o};
      case ActivationSite::kUpInput:
        return {&gate, &up};
      case ActivationSite::kDownInput:
        return {&down};
    }
    return {};
  }
};

// A layer's projections in WorkLayer order, with their names.
constexpr const char* kProjectionNames[] = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                            "gate_proj", "up_proj", "down_proj"};
std::array<const Linear*, 7> projections(const LayerWeights& W) {
  return {W.wq.get(),     W.wk.get(),   W.wv.get(),    W.wo.get(),
          W.w_gate.get(), W.w_up.get(), W.w_down.get()};
}

// The fp32 projection, or an error naming it: a quantized model is not quantized again.
const DenseLinear& dense_projection(const LayerWeights& W, size_t layer, size_t i) {
  const auto* dense = dynamic_cast<const DenseLinear*>(projections(W)[i]);
  if (dense == nullptr)
    fail("layer {} {}: the model is already quantized; quantize a full-precision model", layer,
         kProjectionNames[i]);
  return *dense;
}

WorkLinear take(const DenseLinear& dense) {
  WorkLinear w;
  w.in = dense.in_features();
  w.out = dense.out_features();
  w.w.assign(dense.weight().begin(), dense.weight().end());
  w.bias.assign(dense.bias().begin(), dense.bias().end());
  return w;
}

// A mutable fp32 copy of one layer's projections.
WorkLayer take_layer(const LayerWeights& W, size_t layer) {
  auto at = [&](size_t i) { return take(dense_projection(W, layer, i)); };
  return {at(0), at(1), at(2), at(3), at(4), at(5), at(6)};
}

std::vector<float> column_absmax(const std::vector<WorkLinear*>& layers) {
  std::vector<float> m(static_cast<size_t>(layers.front()->in), 0.0f);
  for (const WorkLinear* l : layers)
    for (size_t r = 0; r < static_cast<size_t>(l->out); ++r)
      for (size_t j = 0; j < m.size(); ++j)
        m[j] = std::max(m[j], std::fabs(l->w[r * m.size() + j]));
  return m;
}

void scale_columns(WorkLinear& l, std::span<const float> s) {
  for (size_t r = 0; r < static_cast<size_t>(l.out); ++r)
    for (size_t j = 0; j < s.size(); ++j) l.w[r * s.size() + j] *= s[j];
}

void divide_rows(WorkLinear& l, std::span<const float> s) {
  const size_t in = static_cast<size_t>(l.in);
  for (size_t r = 0; r < s.size(); ++r) {
    for (size_t j = 0; j < in; ++j) l.w[r * in + j] /= s[r];
    if (!l.bias.empty()) l.bias[r] /= s[r];
  }
}

// ---- SmoothQuant: migrate activation range into weights, folded into the preceding op. ----
void smoothquant_layer(const ModelConfig& c, LayerWeights& W, WorkLayer& L, const LayerStats& st,
                       float alpha) {
  auto at = [&](ActivationSite site) -> const SiteStats& { return st[static_cast<size_t>(site)]; };
  // Inputs of q/k/v and gate/up: fold 1/s into the RMSNorm weight.
  for (auto [site, norm] : {std::pair{ActivationSite::kQkvInput, &W.attn_norm},
                            std::pair{ActivationSite::kUpInput, &W.ffn_norm}}) {
    const auto s = smoothing_scales(at(site).absmax, column_absmax(L.at(site)), alpha);
    for (size_t j = 0; j < s.size(); ++j) (*norm)[j] /= s[j];
    for (WorkLinear* p : L.at(site)) scale_columns(*p, s);
  }
  // down_proj input = silu(gate) * up: fold 1/s into up_proj's rows.
  {
    const auto s =
        smoothing_scales(at(ActivationSite::kDownInput).absmax, column_absmax({&L.down}), alpha);
    divide_rows(L.up, s);
    scale_columns(L.down, s);
  }
  // o_proj input = attention-weighted v: fold into v_proj's rows. With grouped-query attention a
  // v channel feeds every query head of its group, so the scale is shared across the group.
  {
    const size_t hd = static_cast<size_t>(c.head_dim),
                 group = static_cast<size_t>(c.n_heads / c.n_kv_heads);
    const auto& act = at(ActivationSite::kOInput).absmax;
    const auto wmax = column_absmax({&L.o});
    std::vector<float> a_kv(static_cast<size_t>(c.kv_dim()), 0.0f), w_kv(a_kv.size(), 0.0f);
    for (size_t ch = 0; ch < act.size(); ++ch) {
      const size_t kv = (ch / hd) / group * hd + ch % hd;
      a_kv[kv] = std::max(a_kv[kv], act[ch]);
      w_kv[kv] = std::max(w_kv[kv], wmax[ch]);
    }
    const auto s_kv = smoothing_scales(a_kv, w_kv, alpha);
    std::vector<float> s(act.size());
    for (size_t ch = 0; ch < act.size(); ++ch) s[ch] = s_kv[(ch / hd) / group * hd + ch % hd];
    divide_rows(L.v, s_kv);
    scale_columns(L.o, s);
  }
}

// ---- Hadamard rotation (QuaRot): rotate the residual stream, folded into the weights. ----
void multiply_right(std::vector<float>& w, size_t rows, size_t n, const std::vector<float>& q) {
  std::vector<float> out(w.size());
  kernels::sgemm_nn_serial(rows, n, n, w.data(), n, q.data(), n, out.data(), n);
  w.swap(out);
}

void multiply_left_transposed(WorkLinear& l, const std::vector<float>& q) {
  // W' = Q^T W for a layer that writes the residual stream (W is [dim, in]).
  const int d = l.out, in = l.in;
  std::vector<float> out(l.w.size());
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, in, d, 1.0f, q.data(), d, l.w.data(), in,
              0.0f, out.data(), in);
  l.w.swap(out);
  if (!l.bias.empty()) multiply_right(l.bias, 1, static_cast<size_t>(d), q);
}

// The model-wide part: the final norm folded into the head, then the residual rotation Q applied
// to the embedding table and the head. Returns Q for hadamard_layer.
std::vector<float> hadamard_rotate_ends(LlamaModel& model, uint64_t seed) {
  auto& wts = model.weights();
  auto& c = wts.config;
  const size_t d = static_cast<size_t>(c.dim);
  const auto* head = dynamic_cast<const DenseLinear*>(wts.lm_head.get());
  if (head == nullptr) fail("output head is already quantized");
  WorkLinear lm;
  lm.in = c.dim;
  lm.out = c.vocab_size;
  lm.w.assign(head->weight().begin(), head->weight().end());
  scale_columns(lm, wts.final_norm);
  std::fill(wts.final_norm.begin(), wts.final_norm.end(), 1.0f);

  // Embeddings and readers of the stream get W Q, writers get Q^T W.
  auto q = random_hadamard_matrix(d, seed == 0 ? 0x5eed : seed);
  std::vector<float> emb(wts.embedding->begin(), wts.embedding->end());
  multiply_right(emb, static_cast<size_t>(c.vocab_size), d, q);
  multiply_right(lm.w, static_cast<size_t>(c.vocab_size), d, q);
  wts.embedding = std::make_shared<const std::vector<float>>(std::move(emb));
  wts.lm_head = std::make_unique<DenseLinear>(
      c.dim, c.vocab_size, std::make_shared<const std::vector<float>>(std::move(lm.w)));
  c.tied_embeddings = false;  // the head now carries the folded final norm
  return q;
}

// One layer's part of the rotation.
void hadamard_layer(LayerWeights& W, WorkLayer& L, const std::vector<float>& q, size_t d) {
  // 1. Fold the RMSNorm weights into the layers they feed, so the norms become scale-free and
  //    commute with an orthogonal rotation (||xQ|| = ||x||).
  for (WorkLinear* p : L.at(ActivationSite::kQkvInput)) scale_columns(*p, W.attn_norm);
  for (WorkLinear* p : L.at(ActivationSite::kUpInput)) scale_columns(*p, W.ffn_norm);
  std::fill(W.attn_norm.begin(), W.attn_norm.end(), 1.0f);
  std::fill(W.ffn_norm.begin(), W.ffn_norm.end(), 1.0f);
  // 2. The residual rotation.
  for (WorkLinear* p : {&L.q, &L.k, &L.v, &L.gate, &L.up})
    multiply_right(p->w, static_cast<size_t>(p->out), d, q);
  multiply_left_transposed(L.o, q);
  multiply_left_transposed(L.down, q);
  // 3. Online Hadamard on the inputs of o_proj and down_proj, which no residual rotation reaches.
  for (WorkLinear* p : {&L.o, &L.down}) {
    auto t = std::make_shared<ActivationTransform>(static_cast<size_t>(p->in));
    t->add_hadamard();
    t->apply_to_weight(p->w, static_cast<size_t>(p->out));
    p->transform = std::move(t);
  }
}

// ---- DuQuant: smoothing + rotation + zigzag permutation + rotation per site, online. ----
void duquant_layer(WorkLayer& L, const LayerStats& st, const QuantizeOptions& o) {
  DuQuantOptions d{o.duquant_block, o.duquant_steps, o.duquant_row_rule, o.smooth_alpha};
  for (ActivationSite site : kSites) {
    const auto& s = st[static_cast<size_t>(site)];
    auto consumers = L.at(site);
    auto t = std::make_shared<ActivationTransform>(build_duquant_transform(
        s.rows, s.num_rows(), s.dim, s.absmax, column_absmax(consumers), d));
    for (WorkLinear* p : consumers) {
      t->apply_to_weight(p->w, static_cast<size_t>(p->out));
      p->transform = t;
    }
  }
}

// ---- AWQ: per-channel weight scales s = mean|x|^r, r searched on a grid by output error. ----
void awq_layer(WorkLayer& L, const LayerStats& stats, const QuantSpec& wspec) {
  for (ActivationSite site : kSites) {
    const auto& st = stats[static_cast<size_t>(site)];
    auto consumers = L.at(site);
    const size_t n = st.num_rows(), dim = st.dim;
    std::vector<float> mean(dim, 0.0f);
    for (size_t r = 0; r < n; ++r)
      for (size_t j = 0; j < dim; ++j)
        mean[j] += std::fabs(st.rows[r * dim + j]) / static_cast<float>(n);
    // Reference outputs X W^T of every consumer.
    std::vector<std::vector<float>> ref;
    for (WorkLinear* p : consumers) {
      ref.emplace_back(n * static_cast<size_t>(p->out));
      kernels::sgemm_nt(n, static_cast<size_t>(p->out), dim, st.rows.data(), dim, p->w.data(), dim,
                        ref.back().data(), static_cast<size_t>(p->out));
    }
    double best_err = -1.0;
    std::vector<float> best_s(dim, 1.0f);
    for (int g = 0; g <= 20; ++g) {
      const float ratio = static_cast<float>(g) / 20.0f;
      std::vector<float> s(dim);
      float mx = 0.0f, mn = 1e30f;
      for (size_t j = 0; j < dim; ++j) {
        s[j] = std::pow(std::max(mean[j], 1e-4f), ratio);
        mx = std::max(mx, s[j]);
        mn = std::min(mn, s[j]);
      }
      const float norm = std::sqrt(mx * mn);
      for (float& v : s) v /= norm;
      double err = 0.0;
      for (size_t i = 0; i < consumers.size(); ++i) {
        WorkLinear trial = *consumers[i];
        scale_columns(trial, s);
        fake_quantize_rows(trial.w, static_cast<size_t>(trial.out), dim, wspec);
        std::vector<float> xs(st.rows);
        for (size_t r = 0; r < n; ++r)
          for (size_t j = 0; j < dim; ++j) xs[r * dim + j] /= s[j];
        std::vector<float> y(ref[i].size());
        kernels::sgemm_nt(n, static_cast<size_t>(trial.out), dim, xs.data(), dim, trial.w.data(),
                          dim, y.data(), static_cast<size_t>(trial.out));
        for (size_t k = 0; k < y.size(); ++k) err += double(y[k] - ref[i][k]) * (y[k] - ref[i][k]);
      }
      if (best_err < 0 || err < best_err) {
        best_err = err;
        best_s = s;
      }
    }
    // Weight-only: the input is divided by s online (exact in full precision).
    auto t = std::make_shared<ActivationTransform>(dim);
    t->set_smooth(best_s);
    for (WorkLinear* p : consumers) {
      scale_columns(*p, best_s);
      p->transform = t;
    }
  }
}

// Installs a working layer into the model as fake-quantized operators (full-precision weights
// where the weight quantizer has not run yet).
void install_layer(LayerWeights& W, const WorkLayer& L, const QuantSpec& act) {
  auto make = [&](const WorkLinear& p) -> std::unique_ptr<Linear> {
    if (p.q) return std::make_unique<FakeQuantLinear>(*p.q, p.bias, act, p.transform);
    return std::make_unique<FakeQuantLinear>(p.in, p.out, p.w, p.bias, act, p.transform);
  };
  W.wq = make(L.q);
  W.wk = make(L.k);
  W.wv = make(L.v);
  W.wo = make(L.o);
  W.w_gate = make(L.gate);
  W.w_up = make(L.up);
  W.w_down = make(L.down);
}

void rtn_layer(WorkLayer& L, const QuantSpec& wspec) {
  for (ActivationSite site : kSites)
    for (WorkLinear* p : L.at(site))
      p->q = quantize_rows(p->w, static_cast<size_t>(p->out), static_cast<size_t>(p->in), wspec);
}

void gptq_layer(WorkLayer& L, const LayerStats& stats, const GptqOptions& g) {
  for (ActivationSite site : kSites) {
    const auto& st = stats[static_cast<size_t>(site)];
    // Layers of one site share the input and its transform, so they share the solver.
    auto consumers = L.at(site);
    std::vector<double> h = st.gram;
    if (consumers.front()->transform) consumers.front()->transform->transform_gram(h);
    const GptqSolver solver(h, st.dim, g);
    for (WorkLinear* p : consumers) p->q = solver.quantize(p->w, static_cast<size_t>(p->out));
  }
}

// The output head in low precision (RTN: it has no activation outliers worth a transform). A tied
// model drops its fp32 embedding table and reads embeddings from the quantized head's rows; an
// untied one (a rotation folded the final norm into the head) stores its table with the head's
// weight spec, so both kinds of model hold their embeddings at the same precision.
void quantize_head(LlamaModel& model, const QuantSpec& wspec, const QuantSpec& act) {
  if (!wspec.enabled() && !act.enabled()) return;
  auto& wts = model.weights();
  const auto* head = dynamic_cast<const DenseLinear*>(wts.lm_head.get());
  if (head == nullptr) fail("output head: already quantized");
  const int in = head->in_features(), out = head->out_features();
  std::vector<float> bias(head->bias().begin(), head->bias().end());
  if (wspec.enabled()) {
    wts.lm_head = std::make_unique<FakeQuantLinear>(
        quantize_rows(head->weight(), static_cast<size_t>(out), static_cast<size_t>(in), wspec),
        std::move(bias), act, nullptr);
  } else {
    std::vector<float> w(head->weight().begin(), head->weight().end());
    wts.lm_head =
        std::make_unique<FakeQuantLinear>(in, out, std::move(w), std::move(bias), act, nullptr);
  }
  if (wts.config.tied_embeddings) {
    wts.embedding.reset();
  } else if (wspec.enabled() && wts.embedding) {
    wts.quantized_embedding = std::make_unique<FakeQuantLinear>(
        quantize_rows(*wts.embedding, static_cast<size_t>(out), static_cast<size_t>(in), wspec),
        std::vector<float>{}, QuantSpec{}, nullptr);
    wts.embedding.reset();
  }
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

MethodSpec MethodSpec::parse(const std::string& text) {
  MethodSpec m;
  bool have_transform = false, have_weight = false;
  std::stringstream ss(text);
  std::string part;
  if (text.empty()) fail("--method is empty");
  while (std::getline(ss, part, '+')) {
    auto set_transform = [&](TransformMethod t) {
      if (have_transform)
        fail("--method '{}': combine at most one of smoothquant, hadamard, duquant", text);
      have_transform = true;
      m.transform = t;
    };
    auto set_weight = [&](WeightMethod w) {
      if (have_weight) fail("--method '{}': combine at most one of rtn, gptq, awq", text);
      have_weight = true;
      m.weight = w;
    };
    if (part == "rtn")
      set_weight(WeightMethod::kRtn);
    else if (part == "gptq")
      set_weight(WeightMethod::kGptq);
    else if (part == "awq")
      set_weight(WeightMethod::kAwq);
    else if (part == "smoothquant")
      set_transform(TransformMethod::kSmoothQuant);
    else if (part == "hadamard")
      set_transform(TransformMethod::kHadamard);
    else if (part == "duquant")
      set_transform(TransformMethod::kDuQuant);
    else
      fail(
          "--method '{}': unknown method '{}' (known: rtn, smoothquant, hadamard, duquant, gptq, "
          "awq)",
          text, part);
  }
  if (m.weight == WeightMethod::kAwq && m.transform != TransformMethod::kNone)
    fail("--method '{}': awq is a weight-only method and is not combined with a transform", text);
  return m;
}

std::string MethodSpec::name() const {
  std::string t;
  switch (transform) {
    case TransformMethod::kNone:
      break;
    case TransformMethod::kSmoothQuant:
      t = "smoothquant+";
      break;
    case TransformMethod::kHadamard:
      t = "hadamard+";
      break;
    case TransformMethod::kDuQuant:
      t = "duquant+";
      break;
  }
  switch (weight) {
    case WeightMethod::kRtn:
      return t + "rtn";
    case WeightMethod::kGptq:
      return t + "gptq";
    case WeightMethod::kAwq:
      return t + "awq";
  }
  return t;
}

bool QuantizeOptions::needs_calibration() const {
  return method.transform == TransformMethod::kSmoothQuant ||
         method.transform == TransformMethod::kDuQuant || method.weight != WeightMethod::kRtn;
}

void QuantizeOptions::validate(const ModelConfig& c) const {
  weight.validate("--wbits");
  act.validate("--abits");
  kv.validate("--kvbits");
  head_weight.validate("--head-bits/--head-group", static_cast<size_t>(c.dim));
  head_act.validate("--head-abits", static_cast<size_t>(c.dim));
  for (int in : {c.dim, c.q_dim(), c.hidden_dim}) {
    weight.validate("--wbits/--group", static_cast<size_t>(in));
    act.validate("--abits/--act-group", static_cast<size_t>(in));
  }
  if (!(smooth_alpha >= 0.0f && smooth_alpha <= 1.0f))
    fail("--alpha must be in [0, 1], got {}", smooth_alpha);
  if (method.transform == TransformMethod::kDuQuant) {
    for (int in : {c.dim, c.q_dim(), c.hidden_dim})
      if (duquant_block == 0 || static_cast<size_t>(in) % duquant_block != 0)
        fail("--duquant-block {} does not divide the layer width {}", duquant_block, in);
    if (duquant_steps < 0) fail("--duquant-steps must be >= 0, got {}", duquant_steps);
  }
  if (method.transform == TransformMethod::kHadamard) {
    plan_hadamard(static_cast<size_t>(c.dim));
    plan_hadamard(static_cast<size_t>(c.q_dim()));
    plan_hadamard(static_cast<size_t>(c.hidden_dim));
  }
  if (needs_calibration() && calib.file.empty())
    fail("--method {} needs --calib FILE", method.name());
}

// Layer by layer: calibrate layer l on the calibration stream, transform it, quantize its weights,
// install it, then move to l + 1. Statistics are always taken with full-precision propagation, as
// the whole-model passes did: stream A runs the original layers (the transforms' statistics),
// stream B the transformed full-precision layers (GPTQ's Gram matrices after a transform). Memory
// beyond the model is one layer's working copy and statistics plus the one or two streams.
QuantizeReport quantize_model(LlamaModel& model, const Tokenizer& tokenizer,
                              const QuantizeOptions& o) {
  const auto& c = model.config();
  o.validate(c);
  QuantizeReport report;
  const auto t0 = std::chrono::steady_clock::now();
  double calibration = 0.0;

  // Before any work: every projection must be fp32.
  for (size_t l = 0; l < model.weights().layers.size(); ++l)
    for (size_t i = 0; i < std::size(kProjectionNames); ++i)
      dense_projection(model.weights().layers[l], l, i);

  std::vector<std::vector<int32_t>> windows;
  if (o.needs_calibration()) {
    windows = sample_calibration_windows(tokenizer, o.calib);
    report.calibration_tokens = windows.size() * windows.front().size();
  }
  calibration += seconds_since(t0);  // reading and tokenizing the calibration text
  const bool gptq = o.method.weight == WeightMethod::kGptq && o.weight.enabled();
  // Hadamard rotation needs no statistics; GPTQ after a transform needs the transformed inputs.
  const bool use_a = o.needs_calibration() && o.method.transform != TransformMethod::kHadamard;
  const bool use_b = gptq && o.method.transform != TransformMethod::kNone;
  CalibrationOptions opts_a = o.calib;
  opts_a.gram = gptq && o.method.transform == TransformMethod::kNone;
  CalibrationOptions opts_b = o.calib;
  opts_b.gram = true;

  std::vector<float> rotation;
  if (o.method.transform == TransformMethod::kHadamard)
    rotation = hadamard_rotate_ends(model, o.seed);

  std::optional<CalibrationStream> stream_a, stream_b;
  const auto t_embed = std::chrono::steady_clock::now();
  if (use_a) stream_a.emplace(model, windows);
  if (use_b) stream_b.emplace(model, windows);  // after the rotation of the embeddings, if any
  calibration += seconds_since(t_embed);
  const size_t passes = (use_a ? 1 : 0) + (use_b ? 1 : 0);
  Progress progress("calibration", passes * windows.size() * static_cast<size_t>(c.n_layers),
                    o.calib.progress && passes > 0);
  size_t done = 0;
  const auto tick = [&] { progress.update(++done); };
  auto calibrate = [&](CalibrationStream& stream, int l, const CalibrationOptions& co) {
    const auto t = std::chrono::steady_clock::now();
    LayerStats st = stream.run_layer(model, l, co, tick);
    calibration += seconds_since(t);
    return st;
  };

  GptqOptions g;
  g.weight = o.weight;
  g.damp = o.gptq_damp;
  g.act_order = o.gptq_act_order;
  for (int l = 0; l < c.n_layers; ++l) {
    auto& W = model.weights().layers[static_cast<size_t>(l)];
    WorkLayer L = take_layer(W, static_cast<size_t>(l));
    LayerStats stats;
    if (use_a) stats = calibrate(*stream_a, l, opts_a);

    switch (o.method.transform) {
      case TransformMethod::kNone:
        break;
      case TransformMethod::kSmoothQuant:
        smoothquant_layer(c, W, L, stats, o.smooth_alpha);
        break;
      case TransformMethod::kHadamard:
        hadamard_layer(W, L, rotation, static_cast<size_t>(c.dim));
        break;
      case TransformMethod::kDuQuant:
        duquant_layer(L, stats, o);
        break;
    }

    if (o.method.weight == WeightMethod::kAwq) awq_layer(L, stats, o.weight);
    if (gptq) {
      if (use_b) {
        // The transformed layer in full precision, run on the transformed stream; its online
        // transform is applied to the Gram matrix analytically by gptq_layer.
        install_layer(W, L, QuantSpec{});
        stats = calibrate(*stream_b, l, opts_b);
      }
      gptq_layer(L, stats, g);
    } else if (o.weight.enabled()) {
      rtn_layer(L, o.weight);
    }
    install_layer(W, L, o.act);
  }
  progress.finish();
  stream_a.reset();
  stream_b.reset();

  quantize_head(model, o.head_weight, o.head_act);
  QuantSpec kv = o.kv;
  kv.group_size = c.head_dim;
  model.set_kv_quant(kv);
  report.calibration_seconds = calibration;
  report.quantize_seconds = seconds_since(t0) - calibration;
  return report;
}

}  // namespace lowbit
