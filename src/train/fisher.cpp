#include "train/fisher.h"

#include "core/error.h"
#include "core/progress.h"
#include "train/distill_loss.h"
#include "train/student.h"
#include "train/train_model.h"

namespace lowbit::train {

FisherDiagonal fisher_diagonal(const LlamaModel& model,
                               const std::vector<std::vector<int32_t>>& windows, bool progress) {
  if (windows.empty()) fail("fisher: no calibration windows");
  const size_t seq = windows.front().size();
  TrainWeights<float> w = student_from_model(model);
  TrainWeights<float> grad = zeros_like(w);
  TrainModel<float> engine(w.config, 1, seq, /*recompute=*/true);
  const size_t vocab = static_cast<size_t>(w.config.vocab_size);
  // Only the projections' gradients are needed: norms, embeddings and head are frozen.
  const unsigned frozen = parse_freeze("norm,embed,head");

  FisherDiagonal f(w.layers.size());
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const auto& L = w.layers[l];
    const LinearParam<float>* p[7] = {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down};
    for (size_t i = 0; i < 7; ++i) f[l][i].assign(p[i]->w.size(), 0.0f);
  }
  std::vector<int32_t> targets(seq);
  Progress bar("fisher", windows.size(), progress);
  for (size_t n = 0; n < windows.size(); ++n) {
    const auto& ids = windows[n];
    if (ids.size() != seq) fail("fisher: windows of {} and {} tokens", seq, ids.size());
    for (size_t t = 0; t < seq; ++t) targets[t] = t + 1 < seq ? ids[t + 1] : -1;
    const auto logits = engine.forward(w, ids);
    distill_loss(logits.data(), nullptr, targets, vocab, LossOptions{1.0, 1.0});
    for (auto& t : tensors_of(grad)) std::fill(t.values->begin(), t.values->end(), 0.0f);
    engine.backward(w, grad, frozen);
    for (size_t l = 0; l < grad.layers.size(); ++l) {
      const auto& G = grad.layers[l];
      const LinearParam<float>* g[7] = {&G.q, &G.k, &G.v, &G.o, &G.gate, &G.up, &G.down};
      for (size_t i = 0; i < 7; ++i)
        for (size_t j = 0; j < g[i]->w.size(); ++j) f[l][i][j] += g[i]->w[j] * g[i]->w[j];
    }
    bar.update(n + 1);
  }
  bar.finish();
  return f;
}

}  // namespace lowbit::train
