#include "train/kd_qat.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <random>

#include "core/error.h"
#include "core/progress.h"
#include "model/sampler.h"
#include "train/train_checkpoint.h"
#include "train/train_model.h"

namespace lowbit::train {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Targets of a batch: the next token within each window, -1 at a window's last position.
std::vector<int32_t> next_tokens(std::span<const int32_t> ids, size_t seq) {
  std::vector<int32_t> t(ids.size(), -1);
  for (size_t i = 0; i + 1 < ids.size(); ++i)
    if ((i + 1) % seq != 0) t[i] = ids[i + 1];
  return t;
}

double sum_sq(const std::vector<float>& v) {
  double s = 0;
  for (const float x : v) s += static_cast<double>(x) * x;
  return s;
}

}  // namespace

std::vector<int32_t> training_batch(std::span<const int32_t> data, size_t batch, size_t seq,
                                    uint64_t seed, size_t step) {
  if (data.size() < seq)
    fail("training data: {} tokens, fewer than one window of {}", data.size(), seq);
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + step + 1);
  const uint64_t span = data.size() - seq + 1;
  std::vector<int32_t> ids;
  ids.reserve(batch * seq);
  for (size_t b = 0; b < batch; ++b) {
    const size_t start = static_cast<size_t>(rng() % span);
    ids.insert(ids.end(), data.begin() + static_cast<std::ptrdiff_t>(start),
               data.begin() + static_cast<std::ptrdiff_t>(start + seq));
  }
  return ids;
}

QatEvalLog heldout_perplexity(TrainWeights<float>& student, std::span<const int32_t> tokens,
                              size_t seq, size_t windows) {
  const size_t available = tokens.size() / seq;
  windows = std::min(windows, available);
  if (windows == 0)
    fail("held-out text: {} tokens, fewer than one window of {}", tokens.size(), seq);
  // Layer by layer (recompute: no backward follows), so an evaluation holds one layer's
  // activations rather than every layer's (0.8 GB on a 1B model).
  TrainModel<float> model(student.config, 1, seq, true);
  double nll = 0;
  size_t counted = 0;
  for (size_t w = 0; w < windows; ++w) {
    const auto ids = tokens.subspan(w * seq, seq);
    const auto logits = model.forward(student, ids);
    size_t c = 0;
    nll += sum_nll(logits.data(), next_tokens(ids, seq),
                   static_cast<size_t>(student.config.vocab_size), c);
    counted += c;
  }
  return {0, std::exp(nll / static_cast<double>(counted)), counted};
}

namespace {

struct TrainingState {
  TrainingState(TrainWeights<float>& student, const QatOptions& o)
      : opt(student, o.frozen, o.adam),
        model(student.config, o.batch, o.seq, o.recompute),
        grad(zeros_like(student)) {}
  AdamW opt;
  TrainModel<float> model;
  TrainWeights<float> grad;
  std::vector<float> teacher_logits;
};

}  // namespace

QatReport run_kd_qat(LlamaModel& teacher, TrainWeights<float>& student,
                     std::span<const int32_t> data, std::span<const int32_t> heldout,
                     const QatOptions& o) {
  const auto& c = student.config;
  if (o.steps == 0) fail("--steps must be at least 1");
  if (o.batch == 0) fail("--batch must be at least 1");
  if (o.seq < 2) fail("--seq must be at least 2");
  if (static_cast<int>(o.seq) > c.max_seq_len)
    fail("--seq {} exceeds the model's context of {} tokens", o.seq, c.max_seq_len);
  if (data.size() < o.seq + 1)
    fail("training data: {} tokens, too short for one window of --seq {}", data.size(), o.seq);
  if (heldout.size() < o.seq)
    fail("held-out text: {} tokens, too short for one window of --seq {}", heldout.size(), o.seq);
  if (o.loss.temperature <= 0) fail("--temperature must be positive, got {}", o.loss.temperature);
  if (o.loss.ce_weight < 0 || o.loss.ce_weight > 1)
    fail("--ce-weight must be in [0, 1], got {}", o.loss.ce_weight);

  QatReport report;
  // The training state (moments, gradients, the engine's activations) lives in `training` and is
  // released before the final evaluation: on a 1B model it is 12 GB of the peak.
  auto training = std::make_unique<TrainingState>(student, o);
  AdamW& opt = training->opt;
  const std::string fingerprint = training_fingerprint(student, o.frozen);
  if (o.resume) {
    if (o.checkpoint.empty() || !std::filesystem::exists(o.checkpoint))
      fail("--resume: no checkpoint at {}", o.checkpoint.string());
    report.start_step = load_train_checkpoint(o.checkpoint, student, opt, fingerprint);
    if (report.start_step > o.steps)
      fail("--resume: the checkpoint is at step {}, past --steps {}", report.start_step, o.steps);
  }

  const size_t vocab = static_cast<size_t>(c.vocab_size), rows = o.batch * o.seq;
  TrainModel<float>& model = training->model;
  TrainWeights<float>& grad = training->grad;
  std::vector<float>& teacher_logits = training->teacher_logits;
  teacher_logits.resize(o.loss.ce_weight < 1 ? rows * vocab : 0);
  KVCache cache = teacher.make_cache(static_cast<int>(o.seq));
  const auto evaluate = [&](size_t step) {
    QatEvalLog e = heldout_perplexity(student, heldout, o.seq, o.eval_windows);
    e.step = step;
    report.evals.push_back(e);
    if (o.progress)
      fmt::print(stderr, "\nstep {}: held-out perplexity {:.3f} ({} tokens)\n", step, e.perplexity,
                 e.tokens);
  };
  evaluate(report.start_step);

  Progress bar("kd-qat", o.steps, o.progress);
  const auto start = Clock::now();
  for (size_t step = report.start_step; step < o.steps; ++step) {
    const std::vector<int32_t> ids = training_batch(data, o.batch, o.seq, o.seed, step);
    // The teacher's logits, one window at a time through the inference forward pass.
    const auto t0 = Clock::now();
    if (!teacher_logits.empty())
      for (size_t b = 0; b < o.batch; ++b) {
        cache.clear();
        const auto window = std::span(ids).subspan(b * o.seq, o.seq);
        const auto logits = teacher.forward(window, cache, LogitsFor::kAllTokens);
        std::copy(logits.begin(), logits.end(),
                  teacher_logits.begin() + static_cast<std::ptrdiff_t>(b * o.seq * vocab));
      }
    report.teacher_seconds += seconds_since(t0);

    const auto logits = model.forward(student, ids);
    const LossValue lv =
        distill_loss(logits.data(), teacher_logits.empty() ? nullptr : teacher_logits.data(),
                     next_tokens(ids, o.seq), vocab, o.loss);
    for (auto& t : tensors_of(grad)) std::fill(t.values->begin(), t.values->end(), 0.0f);
    model.backward(student, grad, o.frozen);

    std::vector<double> norms;
    for (const auto& l : grad.layers) {
      const LinearParam<float>* p[kProjections] = {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down};
      for (size_t k = 0; k < kProjections; ++k)
        norms.push_back(frozen(o.frozen, static_cast<ParamKind>(k)) ? -1.0 : sum_sq(p[k]->w));
    }
    report.grad_sq.push_back(std::move(norms));

    const double lr = scheduled_lr(o.adam, step, o.steps);
    const double gnorm = opt.step(student, grad, lr);
    if (!std::isfinite(lv.loss) || !std::isfinite(gnorm))
      fail("training diverged at step {}: loss {}, gradient norm {} (lower --lr?)", step + 1,
           lv.loss, gnorm);
    report.steps.push_back({step + 1, lr, lv.loss, lv.kl, lv.ce, gnorm});
    report.tokens += rows;
    const double elapsed = seconds_since(start);
    bar.update(step + 1,
               fmt::format("loss {:.4f} kl {:.4f} ce {:.3f} |g| {:.3f} {:.0f} tok/s", lv.loss,
                           lv.kl, lv.ce, gnorm, static_cast<double>(report.tokens) / elapsed));
    const bool last = step + 1 == o.steps;
    if (!o.checkpoint.empty() && o.checkpoint_every > 0 &&
        ((step + 1) % o.checkpoint_every == 0 || last))
      save_train_checkpoint(o.checkpoint, student, opt, step + 1, fingerprint);
    if (o.eval_every > 0 && (step + 1) % o.eval_every == 0 && !last) evaluate(step + 1);
  }
  bar.finish();
  report.seconds = seconds_since(start);
  training.reset();
  evaluate(o.steps);
  return report;
}

std::vector<int32_t> generate_teacher_data(LlamaModel& teacher, size_t count, size_t seq,
                                           uint64_t seed, bool progress) {
  const auto& c = teacher.config();
  std::vector<int32_t> out;
  out.reserve(count * seq);
  Sampler sampler(SamplerOptions{1.0f, 1.0f, seed});
  std::mt19937_64 rng(seed + 17);
  KVCache cache = teacher.make_cache(static_cast<int>(seq));
  Progress bar("generating data", count, progress);
  for (size_t s = 0; s < count; ++s) {
    cache.clear();
    int32_t token = static_cast<int32_t>(rng() % static_cast<uint64_t>(c.vocab_size));
    out.push_back(token);
    for (size_t t = 1; t < seq; ++t) {
      const auto logits = teacher.forward(std::span(&token, 1), cache);
      token = sampler.sample(logits);
      out.push_back(token);
    }
    bar.update(s + 1);
  }
  bar.finish();
  return out;
}

}  // namespace lowbit::train
