// KD-QAT end to end on a tiny checkpoint: the loss falls, runs are deterministic, a resumed run
// equals the uninterrupted one, frozen projections stay on their starting codes, and a checkpoint
// from another setup is refused. Plus AdamW and its schedule against PyTorch's formulas.
#include <gtest/gtest.h>

#include <cmath>

#include "io/model_loader.h"
#include "quant/pipeline.h"
#include "testing/fixtures.h"
#include "train/adamw.h"
#include "train/kd_qat.h"
#include "train/student.h"

namespace lowbit::train {
namespace {

TEST(AdamW, OneStepMatchesTorchFormula) {
  TrainWeights<float> w;
  w.final_norm = {1.0f, -2.0f};
  TrainWeights<float> g = zeros_like(w);
  g.final_norm = {0.5f, 3.0f};
  AdamWOptions o;
  o.lr = 0.1, o.weight_decay = 0.01, o.clip_norm = 0;
  AdamW opt(w, 0, o);
  const double norm = opt.step(w, g, o.lr);
  EXPECT_NEAR(norm, std::sqrt(0.25 + 9.0), 1e-6);
  // Step 1: m_hat = g, v_hat = g^2, so the update is lr * g / (|g| + eps) after the decay.
  EXPECT_NEAR(w.final_norm[0], 1.0 * (1 - 0.1 * 0.01) - 0.1, 1e-6);
  EXPECT_NEAR(w.final_norm[1], -2.0 * (1 - 0.1 * 0.01) - 0.1, 1e-6);
  // Step 2 by hand.
  g.final_norm = {-1.0f, 3.0f};
  opt.step(w, g, o.lr);
  const double m = 0.9 * 0.1 * 0.5 + 0.1 * -1.0, v = 0.999 * 0.001 * 0.25 + 0.001 * 1.0;
  const double mh = m / (1 - 0.81), vh = v / (1 - 0.999 * 0.999);
  const double p1 = 1.0 * (1 - 0.001) - 0.1;
  EXPECT_NEAR(w.final_norm[0], p1 * (1 - 0.001) - 0.1 * mh / (std::sqrt(vh) + 1e-8), 1e-5);
}

TEST(AdamW, ClipsTheGlobalNormAndSchedulesWarmupThenCosine) {
  TrainWeights<float> w;
  w.final_norm = {0.0f, 0.0f};
  TrainWeights<float> g = zeros_like(w);
  g.final_norm = {30.0f, 40.0f};  // norm 50
  AdamWOptions o;
  o.clip_norm = 1.0, o.weight_decay = 0;
  AdamW opt(w, 0, o);
  EXPECT_NEAR(opt.step(w, g, 1e-3), 50.0, 1e-4);
  // Adam's first step is scale-free, so clipping shows in the moments: m = 0.1 * g / 50.
  EXPECT_NEAR(opt.first_moments()[0][0], 0.1 * 30.0 / 50.0, 1e-5);
  o.lr = 1.0, o.warmup = 4, o.min_lr_ratio = 0.1;
  EXPECT_DOUBLE_EQ(scheduled_lr(o, 0, 14), 0.25);
  EXPECT_DOUBLE_EQ(scheduled_lr(o, 3, 14), 1.0);
  EXPECT_DOUBLE_EQ(scheduled_lr(o, 4, 14), 1.0);
  EXPECT_NEAR(scheduled_lr(o, 13, 14), 0.1, 1e-12);
  EXPECT_NEAR(scheduled_lr(o, 8, 14), 0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * 4.0 / 9.0)), 1e-12);
}

class TinyQat : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::TinyModelSpec spec;
    spec.dim = 32, spec.hidden = 48, spec.heads = 4, spec.kv_heads = 2;
    testing::write_tiny_checkpoint(dir_.path(), spec);
    teacher_ = load_model(dir_.path());
    for (int i = 0; i < 3000; ++i) data_.push_back(static_cast<int32_t>((i * 37 + i / 7) % 512));
    for (int i = 0; i < 600; ++i) heldout_.push_back(static_cast<int32_t>((i * 53 + 11) % 512));
    options_.steps = 6, options_.batch = 2, options_.seq = 16;
    options_.adam.lr = 1e-3, options_.adam.min_lr_ratio = 1.0;  // constant: resumable by pieces
    options_.eval_windows = 4;
    options_.progress = false;
  }

  TrainWeights<float> student() {
    LoadedModel m = load_model(dir_.path());
    QuantizeOptions o;
    o.weight = QuantSpec{.bits = 3, .symmetric = false};
    o.head_weight = o.head_act = QuantSpec{};
    o.calib.progress = false;
    quantize_model(*m.model, *m.tokenizer, o);
    return student_from_model(*m.model);
  }

  QatReport train(TrainWeights<float>& w, const QatOptions& o) {
    return run_kd_qat(*teacher_.model, w, data_, heldout_, o);
  }

  testing::TempDir dir_;
  LoadedModel teacher_;
  std::vector<int32_t> data_, heldout_;
  QatOptions options_;
};

bool same_weights(TrainWeights<float>& a, TrainWeights<float>& b) {
  auto ta = tensors_of(a), tb = tensors_of(b);
  for (size_t i = 0; i < ta.size(); ++i)
    if (*ta[i].values != *tb[i].values) return false;
  return true;
}

// The optimizer at work: a full-precision student whose every weight is off by up to 20% learns
// its way back towards the teacher.
TEST_F(TinyQat, DistillationLowersTheLossDeterministically) {
  LoadedModel m = load_model(dir_.path());
  TrainWeights<float> a = student_from_model(*m.model);
  for (auto& t : tensors_of(a))
    for (size_t i = 0; i < t.values->size(); ++i)
      (*t.values)[i] *= 1.0f + 0.2f * std::sin(static_cast<float>(i));
  TrainWeights<float> b = a;
  options_.steps = 60;
  const QatReport ra = train(a, options_);
  train(b, options_);
  ASSERT_EQ(ra.steps.size(), 60u);
  double first = 0, last = 0;
  for (size_t i = 0; i < 10; ++i) first += ra.steps[i].kl, last += ra.steps[50 + i].kl;
  EXPECT_LT(last, 0.75 * first);
  EXPECT_LT(ra.evals.back().perplexity, ra.evals.front().perplexity);
  EXPECT_TRUE(same_weights(a, b));
}

TEST_F(TinyQat, ResumedRunEqualsTheUninterruptedOne) {
  TrainWeights<float> whole = student(), pieces = student();
  train(whole, options_);
  QatOptions first = options_;
  first.steps = 3;
  first.checkpoint = dir_ / "run.ckpt";
  first.checkpoint_every = 3;
  train(pieces, first);
  TrainWeights<float> resumed = student();  // fresh weights: everything comes from the checkpoint
  QatOptions second = options_;
  second.checkpoint = first.checkpoint;
  second.resume = true;
  const QatReport r = train(resumed, second);
  EXPECT_EQ(r.start_step, 3u);
  EXPECT_EQ(r.steps.size(), 3u);
  EXPECT_TRUE(same_weights(whole, resumed));
  EXPECT_FALSE(same_weights(whole, pieces));

  // A checkpoint from another setup (here: another frozen set) is refused, naming the field.
  QatOptions other = second;
  other.frozen = parse_freeze("o,v");
  TrainWeights<float> w = student();
  const std::string e = testing::error_of([&] { train(w, other); });
  EXPECT_NE(e.find("another model or format"), std::string::npos) << e;
  EXPECT_NE(e.find("frozen"), std::string::npos) << e;
}

TEST_F(TinyQat, FrozenProjectionsKeepTheirQuantizedStart) {
  const TrainWeights<float> start = student();
  TrainWeights<float> w = start;
  options_.frozen = parse_freeze("o,v");
  const QatReport r = train(w, options_);
  for (size_t l = 0; l < w.layers.size(); ++l) {
    EXPECT_EQ(w.layers[l].o.w, start.layers[l].o.w);
    EXPECT_EQ(w.layers[l].v.w, start.layers[l].v.w);
    EXPECT_NE(w.layers[l].q.w, start.layers[l].q.w);
    EXPECT_NE(w.layers[l].down.w, start.layers[l].down.w);
    EXPECT_EQ(r.grad_sq[0][l * kProjections + 3], -1.0);  // o: frozen, no gradient computed
    EXPECT_GT(r.grad_sq[0][l * kProjections + 0], 0.0);
  }
}

// LLM-QAT's data-free variant: sequences sampled from the teacher, reproducible by seed, and
// usable as training data.
TEST_F(TinyQat, TeacherGeneratedDataTrains) {
  const auto a = generate_teacher_data(*teacher_.model, 3, 16, 7, false);
  const auto b = generate_teacher_data(*teacher_.model, 3, 16, 7, false);
  const auto c = generate_teacher_data(*teacher_.model, 3, 16, 8, false);
  ASSERT_EQ(a.size(), 48u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  for (const int32_t t : a) EXPECT_TRUE(t >= 0 && t < 512) << t;
  TrainWeights<float> w = student();
  options_.steps = 2;
  const QatReport r = run_kd_qat(*teacher_.model, w, a, heldout_, options_);
  EXPECT_EQ(r.steps.size(), 2u);
}

TEST(TrainFreeze, ParsesKnownPartsAndNamesUnknownOnes) {
  EXPECT_EQ(parse_freeze(""), 0u);
  EXPECT_TRUE(frozen(parse_freeze("o,v"), ParamKind::kO));
  EXPECT_TRUE(frozen(parse_freeze("o,v"), ParamKind::kV));
  EXPECT_FALSE(frozen(parse_freeze("o,v"), ParamKind::kQ));
  EXPECT_TRUE(frozen(parse_freeze("norm,embed,head"), ParamKind::kEmbed));
  const std::string e = testing::error_of([] { parse_freeze("o,vproj"); });
  EXPECT_NE(e.find("\"vproj\""), std::string::npos) << e;
  EXPECT_NE(testing::error_of([] { parse_freeze("o,,v"); }).find("unknown part"),
            std::string::npos);
}

}  // namespace
}  // namespace lowbit::train
