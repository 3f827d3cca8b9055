// Speed of a KD-QAT training step on ref-llama-s (W3A16 RTN student, full-precision head, KL to
// the FP32 teacher, AdamW) against the FP32 forward of the same tokens, in one process so the
// ratio is measured on one machine state. Run: ./build/bench/lowbit_bench_train
// (LOWBIT_BENCH_MODEL=DIR for another checkpoint).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <vector>

#include "io/model_loader.h"
#include "quant/pipeline.h"
#include "train/adamw.h"
#include "train/distill_loss.h"
#include "train/student.h"
#include "train/train_model.h"

namespace lowbit {
namespace {

constexpr size_t kBatch = 4, kSeq = 256;

std::filesystem::path ref_model() {
  if (const char* p = std::getenv("LOWBIT_BENCH_MODEL")) return p;
  return std::filesystem::path(LOWBIT_SHARED_DIR) / "models/ref-llama-s";
}

LoadedModel& teacher() {
  static LoadedModel m = load_model(ref_model());
  return m;
}

std::vector<int32_t> tokens() {
  std::vector<int32_t> ids(kBatch * kSeq);
  std::mt19937 rng(0);
  for (auto& id : ids) id = static_cast<int32_t>(3 + rng() % 31000);
  return ids;
}

// The teacher's half of a step: kBatch windows through the FP32 inference forward, every
// position's logits.
void teacher_logits(std::span<const int32_t> ids, std::vector<float>& out) {
  auto& m = *teacher().model;
  const size_t vocab = static_cast<size_t>(m.config().vocab_size);
  out.resize(ids.size() * vocab);
  KVCache cache = m.make_cache(static_cast<int>(kSeq));
  for (size_t b = 0; b < kBatch; ++b) {
    cache.clear();
    const auto l = m.forward(ids.subspan(b * kSeq, kSeq), cache, LogitsFor::kAllTokens);
    std::copy(l.begin(), l.end(), out.begin() + static_cast<std::ptrdiff_t>(b * kSeq * vocab));
  }
}

void BM_Forward(benchmark::State& state) {
  const auto ids = tokens();
  std::vector<float> logits;
  for (auto _ : state) teacher_logits(ids, logits);
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(ids.size()), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_TrainStep(benchmark::State& state) {
  LoadedModel m = load_model(ref_model());
  QuantizeOptions o;
  o.weight = QuantSpec{.bits = 3, .symmetric = false};
  o.head_weight = o.head_act = QuantSpec{};
  o.calib.progress = false;
  quantize_model(*m.model, *m.tokenizer, o);
  train::TrainWeights<float> w = train::student_from_model(*m.model);
  train::TrainWeights<float> grad = train::zeros_like(w);
  train::AdamW opt(w, 0, {});
  train::TrainModel<float> model(w.config, kBatch, kSeq, state.range(0) != 0);
  const auto ids = tokens();
  std::vector<int32_t> targets(ids.size(), -1);
  std::vector<float> teacher;
  const size_t vocab = static_cast<size_t>(w.config.vocab_size);
  for (auto _ : state) {
    teacher_logits(ids, teacher);
    auto logits = model.forward(w, ids);
    train::distill_loss(logits.data(), teacher.data(), targets, vocab, {});
    for (auto& t : train::tensors_of(grad)) std::fill(t.values->begin(), t.values->end(), 0.0f);
    model.backward(w, grad, 0);
    opt.step(w, grad, 5e-5);
  }
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(ids.size()), benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_Forward)->Unit(benchmark::kMillisecond)->UseRealTime();
// Argument: activation recomputation off (0) or on (1).
BENCHMARK(BM_TrainStep)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace lowbit

BENCHMARK_MAIN();
