#include "train/student.h"

#include "core/error.h"
#include "layers/fake_quant_linear.h"
#include "train/qk_rotation.h"

namespace lowbit::train {
namespace {

LinearParam<float> param_of(const Linear* l, const std::string& name) {
  if (l == nullptr) fail("training: {} is missing", name);
  LinearParam<float> p;
  p.in = static_cast<size_t>(l->in_features());
  p.out = static_cast<size_t>(l->out_features());
  if (const auto* f = dynamic_cast<const FakeQuantLinear*>(l)) {
    if (const auto* q = f->quantized_weight()) {
      p.grid = WeightGrid::of(*q);
      p.w = q->dequantize();
    } else {
      p.w = std::vector<float>(f->weight().begin(), f->weight().end());
    }
    p.b.assign(f->bias().begin(), f->bias().end());
    p.act = f->act_spec();
    p.transform = f->transform();
  } else if (const auto* d = dynamic_cast<const DenseLinear*>(l)) {
    p.w = d->weight().to_f32();
    p.b.assign(d->bias().begin(), d->bias().end());
    p.dense = true;
  } else {
    fail(
        "training: {} is stored as {}, which training cannot read (load the model with "
        "simulated execution)",
        name, l->format());
  }
  return p;
}

// A layer of the start's kind holding the trained values.
std::unique_ptr<Linear> make_linear(const LinearParam<float>& p) {
  if (p.dense)
    return std::make_unique<DenseLinear>(static_cast<int>(p.in), static_cast<int>(p.out), p.w, p.b);
  if (p.grid.enabled())
    return std::make_unique<FakeQuantLinear>(
        quantize_on_grid(p.grid, p.w.data(), p.out, p.in, p.clip()), p.b, p.act, p.transform);
  return std::make_unique<FakeQuantLinear>(static_cast<int>(p.in), static_cast<int>(p.out), p.w,
                                           p.b, p.act, p.transform);
}

}  // namespace

TrainWeights<float> student_from_model(const LlamaModel& model) {
  const auto& mw = model.weights();
  const auto& c = mw.config;
  const auto& aq = model.attention_quant();
  if (aq.qk_hadamard) check_qk_rotation(static_cast<size_t>(c.head_dim));
  TrainWeights<float> w;
  w.config = c;
  w.kv = model.kv_quant();
  w.qk_hadamard = aq.qk_hadamard;
  w.query = aq.query;
  for (size_t i = 0; i < mw.layers.size(); ++i) {
    const auto& L = mw.layers[i];
    const std::string p = "layer " + std::to_string(i) + " ";
    w.layers.push_back(
        {L.attn_norm, L.ffn_norm, param_of(L.wq.get(), p + "q_proj"),
         param_of(L.wk.get(), p + "k_proj"), param_of(L.wv.get(), p + "v_proj"),
         param_of(L.wo.get(), p + "o_proj"), param_of(L.w_gate.get(), p + "gate_proj"),
         param_of(L.w_up.get(), p + "up_proj"), param_of(L.w_down.get(), p + "down_proj")});
  }
  w.final_norm = mw.final_norm;
  w.head = param_of(mw.lm_head.get(), "lm_head");
  if (!c.tied_embeddings) {
    if (mw.embedding) {
      w.embedding = mw.embedding->to_f32();
    } else if (mw.quantized_embedding) {
      const auto p = param_of(mw.quantized_embedding.get(), "embed_tokens");
      w.embedding = p.w;
      w.embedding_grid = p.grid;
    } else {
      fail("training: untied model without an embedding table");
    }
  }
  return w;
}

void set_dynamic_grids(TrainWeights<float>& w, bool dynamic) {
  for (auto& l : w.layers)
    for (auto* p : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) p->grid.dynamic = dynamic;
  w.head.grid.dynamic = dynamic;
  w.embedding_grid.dynamic = dynamic;
}

void enable_learned_clipping(TrainWeights<float>& w) {
  const auto enable = [](LinearParam<float>& p) {
    if (!p.grid.enabled()) return;
    p.clip_hi.assign(p.grid.params.size(), static_cast<float>(kClipLogit0));
    if (!p.grid.spec.symmetric)
      p.clip_lo.assign(p.grid.params.size(), static_cast<float>(kClipLogit0));
  };
  for (auto& l : w.layers)
    for (auto* p : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) enable(*p);
  enable(w.head);
}

void release_weights(LlamaModel& model) {
  auto& mw = model.weights();
  for (auto& L : mw.layers)
    for (auto* p : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) p->reset();
  mw.lm_head.reset();
  mw.embedding.reset();
  mw.quantized_embedding.reset();
}

void install_student(const TrainWeights<float>& w, LlamaModel& model) {
  auto& mw = model.weights();
  if (w.layers.size() != mw.layers.size()) fail("install_student: layer count differs");
  for (size_t i = 0; i < mw.layers.size(); ++i) {
    auto& L = mw.layers[i];
    const auto& S = w.layers[i];
    L.attn_norm = S.attn_norm;
    L.ffn_norm = S.ffn_norm;
    L.wq = make_linear(S.q);
    L.wk = make_linear(S.k);
    L.wv = make_linear(S.v);
    L.wo = make_linear(S.o);
    L.w_gate = make_linear(S.gate);
    L.w_up = make_linear(S.up);
    L.w_down = make_linear(S.down);
  }
  mw.final_norm = w.final_norm;
  const size_t vocab = static_cast<size_t>(mw.config.vocab_size),
               dim = static_cast<size_t>(mw.config.dim);
  if (w.head.dense && mw.config.tied_embeddings) {
    auto table = std::make_shared<const DenseMatrix>(vocab, dim, w.head.w);
    mw.embedding = table;
    mw.lm_head = std::make_unique<DenseLinear>(table, w.head.b);
  } else {
    mw.lm_head = make_linear(w.head);
  }
  if (!mw.config.tied_embeddings) {
    if (w.embedding_grid.enabled()) {
      mw.quantized_embedding = std::make_unique<FakeQuantLinear>(
          quantize_on_grid(w.embedding_grid, w.embedding.data(), vocab, dim), std::vector<float>{},
          QuantSpec{}, nullptr);
    } else {
      mw.embedding = std::make_shared<const DenseMatrix>(vocab, dim, w.embedding);
    }
  }
}

}  // namespace lowbit::train
