#include "quant/hadamard_rotation.h"

#include <cblas.h>

#include <algorithm>

#include "core/error.h"
#include "kernels/sgemm.h"
#include "layers/hadamard.h"
#include "quant/quant_pass.h"

namespace lowbit {
namespace {

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

class HadamardRotationPass final : public QuantPass {
 public:
  explicit HadamardRotationPass(uint64_t seed) : seed_(seed) {}

  // The model-wide part: the final norm folded into the head, then the residual rotation Q
  // applied to the embedding table and the head.
  void begin(LlamaModel& model) override {
    auto& wts = model.weights();
    auto& c = wts.config;
    d_ = static_cast<size_t>(c.dim);
    const auto* head = dynamic_cast<const DenseLinear*>(wts.lm_head.get());
    if (head == nullptr) fail("output head is already quantized");
    WorkLinear lm;
    lm.in = c.dim;
    lm.out = c.vocab_size;
    lm.w = head->weight().to_f32();
    scale_columns(lm, wts.final_norm);
    std::fill(wts.final_norm.begin(), wts.final_norm.end(), 1.0f);

    // Embeddings and readers of the stream get W Q, writers get Q^T W.
    q_ = random_hadamard_matrix(d_, seed_ == 0 ? 0x5eed : seed_);
    std::vector<float> emb = wts.embedding->to_f32();
    multiply_right(emb, static_cast<size_t>(c.vocab_size), d_, q_);
    multiply_right(lm.w, static_cast<size_t>(c.vocab_size), d_, q_);
    wts.embedding = make_f32_matrix(static_cast<size_t>(c.vocab_size), d_, std::move(emb));
    wts.lm_head = std::make_unique<DenseLinear>(c.dim, c.vocab_size, std::move(lm.w));
    c.tied_embeddings = false;  // the head now carries the folded final norm
  }

  void apply(LayerContext& ctx) override {
    LayerWeights& W = ctx.weights;
    WorkLayer& L = ctx.work;
    // 1. Fold the RMSNorm weights into the layers they feed, so the norms become scale-free and
    //    commute with an orthogonal rotation (||xQ|| = ||x||).
    for (WorkLinear* p : L.at(ActivationSite::kQkvInput)) scale_columns(*p, W.attn_norm);
    for (WorkLinear* p : L.at(ActivationSite::kUpInput)) scale_columns(*p, W.ffn_norm);
    std::fill(W.attn_norm.begin(), W.attn_norm.end(), 1.0f);
    std::fill(W.ffn_norm.begin(), W.ffn_norm.end(), 1.0f);
    // 2. The residual rotation.
    for (WorkLinear* p : {&L.q, &L.k, &L.v, &L.gate, &L.up})
      multiply_right(p->w, static_cast<size_t>(p->out), d_, q_);
    multiply_left_transposed(L.o, q_);
    multiply_left_transposed(L.down, q_);
    // 3. Online Hadamard on the inputs of o_proj and down_proj, which no residual rotation
    //    reaches.
    for (WorkLinear* p : {&L.o, &L.down}) {
      auto t = std::make_shared<ActivationTransform>(static_cast<size_t>(p->in));
      t->add_hadamard();
      t->apply_to_weight(p->w, static_cast<size_t>(p->out));
      p->transform = std::move(t);
    }
  }

 private:
  uint64_t seed_;
  size_t d_ = 0;
  std::vector<float> q_;  // the residual rotation, d x d
};

}  // namespace

void validate_hadamard_rotation(const QuantizeOptions& /*options*/, const ModelConfig& c) {
  plan_hadamard(static_cast<size_t>(c.dim));
  plan_hadamard(static_cast<size_t>(c.q_dim()));
  plan_hadamard(static_cast<size_t>(c.hidden_dim));
}

std::unique_ptr<QuantPass> make_hadamard_rotation_pass(const QuantizeOptions& o) {
  return std::make_unique<HadamardRotationPass>(o.seed);
}

}  // namespace lowbit
