#include "train/train_weights.h"

#include <algorithm>

#include "core/error.h"

namespace lowbit::train {
namespace {

constexpr const char* kKindNames[kNumParamKinds] = {"q",  "k",    "v",    "o",     "gate",
                                                    "up", "down", "norm", "embed", "head"};

template <class To, class From>
std::vector<To> convert(const std::vector<From>& v) {
  return std::vector<To>(v.begin(), v.end());
}

template <class To, class From>
LinearParam<To> convert(const LinearParam<From>& p) {
  return LinearParam<To>{
      p.in,  p.out,       convert<To>(p.w),       convert<To>(p.b),       p.grid,
      p.act, p.transform, convert<To>(p.clip_hi), convert<To>(p.clip_lo), p.dense};
}

}  // namespace

const char* param_kind_name(ParamKind kind) {
  return kKindNames[static_cast<int>(kind)];
}

unsigned parse_freeze(const std::string& list) {
  unsigned set = 0;
  size_t start = 0;
  while (start <= list.size() && !list.empty()) {
    const size_t end = std::min(list.find(',', start), list.size());
    const std::string name = list.substr(start, end - start);
    const auto* it = std::find_if(std::begin(kKindNames), std::end(kKindNames),
                                  [&](const char* k) { return name == k; });
    if (it == std::end(kKindNames))
      fail(
          "--freeze: unknown part \"{}\" (expected a comma-separated list of q, k, v, o, gate, "
          "up, down, norm, embed, head)",
          name);
    set |= 1u << (it - std::begin(kKindNames));
    start = end + 1;
  }
  return set;
}

template <class T>
size_t TrainWeights<T>::num_values() const {
  size_t n = embedding.size() + final_norm.size() + head.w.size() + head.b.size();
  for (const auto& l : layers) {
    n += l.attn_norm.size() + l.ffn_norm.size();
    for (const auto* p : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down})
      n += p->w.size() + p->b.size() + p->clip_hi.size() + p->clip_lo.size();
  }
  return n;
}

template <class T>
std::vector<TensorRef<T>> tensors_of(TrainWeights<T>& w) {
  std::vector<TensorRef<T>> out;
  const auto add = [&](std::string name, int layer, ParamKind kind, std::vector<T>& v,
                       bool clip = false) {
    if (!v.empty()) out.push_back({std::move(name), layer, kind, &v, clip});
  };
  add("embedding", -1, ParamKind::kEmbed, w.embedding);
  for (size_t i = 0; i < w.layers.size(); ++i) {
    auto& l = w.layers[i];
    const int li = static_cast<int>(i);
    const std::string p = "layers." + std::to_string(i) + ".";
    add(p + "attn_norm", li, ParamKind::kNorm, l.attn_norm);
    add(p + "ffn_norm", li, ParamKind::kNorm, l.ffn_norm);
    const std::pair<ParamKind, LinearParam<T>*> linears[] = {
        {ParamKind::kQ, &l.q},      {ParamKind::kK, &l.k},       {ParamKind::kV, &l.v},
        {ParamKind::kO, &l.o},      {ParamKind::kGate, &l.gate}, {ParamKind::kUp, &l.up},
        {ParamKind::kDown, &l.down}};
    for (const auto& [kind, lin] : linears) {
      add(p + param_kind_name(kind) + ".w", li, kind, lin->w);
      add(p + param_kind_name(kind) + ".b", li, kind, lin->b);
      add(p + param_kind_name(kind) + ".clip_hi", li, kind, lin->clip_hi, true);
      add(p + param_kind_name(kind) + ".clip_lo", li, kind, lin->clip_lo, true);
    }
  }
  add("final_norm", -1, ParamKind::kNorm, w.final_norm);
  add("head.w", -1, ParamKind::kHead, w.head.w);
  add("head.b", -1, ParamKind::kHead, w.head.b);
  add("head.clip_hi", -1, ParamKind::kHead, w.head.clip_hi, true);
  add("head.clip_lo", -1, ParamKind::kHead, w.head.clip_lo, true);
  return out;
}

template <class T>
TrainWeights<T> zeros_like(const TrainWeights<T>& w) {
  TrainWeights<T> z = w;
  for (auto& t : tensors_of(z)) std::fill(t.values->begin(), t.values->end(), T(0));
  return z;
}

template <class To, class From>
TrainWeights<To> convert_weights(const TrainWeights<From>& w) {
  TrainWeights<To> out;
  out.config = w.config;
  out.embedding = convert<To>(w.embedding);
  out.embedding_grid = w.embedding_grid;
  for (const auto& l : w.layers)
    out.layers.push_back({convert<To>(l.attn_norm), convert<To>(l.ffn_norm), convert<To>(l.q),
                          convert<To>(l.k), convert<To>(l.v), convert<To>(l.o), convert<To>(l.gate),
                          convert<To>(l.up), convert<To>(l.down)});
  out.final_norm = convert<To>(w.final_norm);
  out.head = convert<To>(w.head);
  out.kv = w.kv;
  out.qk_hadamard = w.qk_hadamard;
  out.query = w.query;
  return out;
}

template struct TrainWeights<float>;
template struct TrainWeights<double>;
template std::vector<TensorRef<float>> tensors_of(TrainWeights<float>&);
template std::vector<TensorRef<double>> tensors_of(TrainWeights<double>&);
template TrainWeights<float> zeros_like(const TrainWeights<float>&);
template TrainWeights<double> zeros_like(const TrainWeights<double>&);
template TrainWeights<double> convert_weights(const TrainWeights<float>&);
template TrainWeights<float> convert_weights(const TrainWeights<double>&);

}  // namespace lowbit::train
