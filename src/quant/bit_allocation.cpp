#include "quant/bit_allocation.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <sstream>

#include "core/error.h"
#include "core/progress.h"
#include "core/thread_pool.h"
#include "kernels/packed_weights.h"
#include "layers/fake_quant_linear.h"

namespace lowbit {
namespace {

// The full-precision model's next-token distributions over the windows: the probabilities p of
// every row and each row's sum of p * log p, so that the KL divergence of another model's logits
// z is  KL(p || q) = sum p log p - sum p z + logsumexp(z)  (sum p = 1): one exp pass per row.
struct Reference {
  std::vector<float> p;
  std::vector<double> p_log_p;
};

double log_sum_exp(const float* z, size_t n) {
  const float m = *std::max_element(z, z + n);
  double s = 0;
  for (size_t v = 0; v < n; ++v) s += std::exp(double{z[v]} - m);
  return m + std::log(s);
}

// The residual streams of the windows entering one layer; run_from() finishes the forward pass
// from there, so measuring a projection of layer l re-runs only layers l.. and the head.
struct Streams {
  std::vector<std::vector<float>> x;  // per window, [tokens, dim]
  std::vector<size_t> tokens;

  Streams(LlamaModel& model, const std::vector<std::vector<int32_t>>& windows) {
    const size_t dim = static_cast<size_t>(model.config().dim);
    for (const auto& w : windows) {
      x.emplace_back(w.size() * dim);
      model.embed(w, x.back());
      tokens.push_back(w.size());
    }
  }
  // Advances every stream through layer l.
  void advance(LlamaModel& model, int l, KVCache& cache) {
    for (size_t i = 0; i < x.size(); ++i) model.forward_layer(l, x[i], tokens[i], cache);
  }
  // Runs every window from layer l on and hands fn(first row, the window's logits), valid only
  // during the call: no copy of all windows' logits is kept.
  void run_from(LlamaModel& model, int l, KVCache& cache,
                const std::function<void(size_t, std::span<const float>)>& fn) const {
    std::vector<float> y;
    size_t row = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      y = x[i];
      for (int k = l; k < model.config().n_layers; ++k) model.forward_layer(k, y, tokens[i], cache);
      fn(row, model.logits_of(y, tokens[i]));
      row += tokens[i];
    }
  }
};

Reference reference(LlamaModel& model, const Streams& streams, KVCache& cache) {
  const size_t vocab = static_cast<size_t>(model.config().vocab_size);
  Reference r;
  streams.run_from(model, 0, cache, [&](size_t, std::span<const float> logits) {
    r.p.insert(r.p.end(), logits.begin(), logits.end());
  });
  const size_t rows = r.p.size() / vocab;
  r.p_log_p.assign(rows, 0.0);
  thread_pool().parallel_for(rows, 1, [&](size_t begin, size_t end) {
    for (size_t row = begin; row < end; ++row) {
      float* z = r.p.data() + row * vocab;
      const double lse = log_sum_exp(z, vocab);
      double plogp = 0;
      for (size_t v = 0; v < vocab; ++v) {
        const double lp = z[v] - lse;
        z[v] = static_cast<float>(std::exp(lp));
        plogp += z[v] * lp;
      }
      r.p_log_p[row] = plogp;
    }
  });
  return r;
}

// Mean over all rows of KL(P_ref || softmax(logits)), the model run from layer l on.
double mean_kl(const Reference& ref, LlamaModel& model, const Streams& streams, int l,
               KVCache& cache) {
  const size_t vocab = static_cast<size_t>(model.config().vocab_size);
  std::vector<double> kl(ref.p_log_p.size());
  streams.run_from(model, l, cache, [&](size_t first, std::span<const float> logits) {
    thread_pool().parallel_for(logits.size() / vocab, 1, [&](size_t begin, size_t end) {
      for (size_t r = begin; r < end; ++r) {
        const float* z = logits.data() + r * vocab;
        const float* p = ref.p.data() + (first + r) * vocab;
        double pz = 0;
        for (size_t v = 0; v < vocab; ++v) pz += double{p[v]} * z[v];
        kl[first + r] = ref.p_log_p[first + r] - pz + log_sum_exp(z, vocab);
      }
    });
  });
  double sum = 0;
  for (double k : kl) sum += k;
  return sum / static_cast<double>(kl.size());
}

}  // namespace

std::string BitCandidate::text() const {
  return group < 0 ? fmt::format("{}", bits) : fmt::format("{}g{}", bits, group);
}

QuantSpec BitCandidate::spec(const QuantSpec& base) const {
  QuantSpec s = base;
  s.bits = bits;
  if (group >= 0) s.group_size = group;
  return s;
}

std::vector<BitCandidate> parse_bit_candidates(const std::string& text) {
  std::vector<BitCandidate> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    // The same value grammar as a --bits-map rule's.
    BitsRule r;
    try {
      r = BitsMap::parse("*=" + item).rules().front();
    } catch (const Error&) {
      fail("--bits-candidates '{}': '{}' is not BITS or BITSgGROUP (bits 2..8 or 16, e.g. 4g32)",
           text, item);
    }
    const BitCandidate c{r.bits, r.group};
    if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  }
  if (out.empty()) fail("--bits-candidates '{}': no candidates", text);
  return out;
}

std::vector<BitCandidate> default_bit_candidates() {
  // Every width but 7 has a container of its own, so stored and nominal counts differ only by the
  // headers and alignment, and both choose among the same widths.
  return parse_bit_candidates("2,3,4,5,6,8");
}

BitsCost parse_bits_cost(const std::string& text) {
  if (text == "stored") return BitsCost::kStored;
  if (text == "nominal") return BitsCost::kNominal;
  fail("--bits-cost '{}': 'stored' (what the file holds) or 'nominal'", text);
}

double nominal_bits_per_weight(const QuantSpec& w, size_t in) {
  if (!w.enabled()) return 16.0;
  const double group = w.group_size > 0 ? w.group_size : static_cast<double>(in);
  return w.bits + (w.symmetric ? 32.0 : 40.0) / group;
}

double stored_bits_per_weight(const QuantSpec& w, size_t out, size_t in) {
  if (!w.enabled()) return 32.0;  // full-precision projections are stored as fp32
  // The packed blob itself (kernels/packed_weights.h): header, codes in their container (their
  // own width, 7 bits in 8), fp32 scales and 8-bit zero points, each section 64-byte aligned;
  // what `lowbit inspect` adds up.
  kernels::PackedLayout l;
  l.bits = kernels::container_bits(w.bits);
  l.asymmetric = !w.symmetric;
  l.n = out;
  l.k = in;
  l.group_size = w.group_size > 0 ? static_cast<size_t>(w.group_size) : in;
  return 8.0 * static_cast<double>(l.total_bytes()) / static_cast<double>(out * in);
}

BitAllocation allocate_bits(LlamaModel& model, const std::vector<std::vector<int32_t>>& windows,
                            const QuantSpec& base, std::span<const BitCandidate> candidates,
                            double budget, BitsCost cost, bool progress) {
  if (candidates.empty()) fail("--bits-candidates: no candidates");
  const auto& c = model.config();
  size_t longest = 0;
  for (const auto& w : windows) longest = std::max(longest, w.size());
  KVCache cache = model.make_layer_cache(static_cast<int>(longest));
  Streams streams(model, windows);
  const Reference ref = reference(model, streams, cache);
  const auto bits_per_weight = [cost](const QuantSpec& spec, size_t out, size_t in) {
    return cost == BitsCost::kStored ? stored_bits_per_weight(spec, out, in)
                                     : nominal_bits_per_weight(spec, in);
  };

  struct Unit {
    size_t layer, proj, params, in;
    std::vector<double> kl;        // per candidate (infinite where the candidate does not fit)
    std::vector<double> bits;      // per candidate, bits x params
    std::vector<size_t> frontier;  // candidates no other beats on both, by ascending cost
    size_t at = 0;                 // the choice: frontier[at]
    size_t choice() const { return frontier[at]; }
  };
  std::vector<Unit> units;
  Progress bar("sensitivity",
               static_cast<size_t>(c.n_layers) * LayerWeights::kProjections * candidates.size(),
               progress);
  size_t done = 0;
  for (size_t l = 0; l < model.weights().layers.size(); ++l) {
    for (size_t i = 0; i < LayerWeights::kProjections; ++i) {
      auto& s = model.weights().layers[l].projection(i);
      const auto* dense = dynamic_cast<const DenseLinear*>(s.get());
      if (dense == nullptr)
        fail(
            "--bits-budget: layers.{}.{} is not full precision (allocate on the checkpoint, not "
            "a quantized model)",
            l, kLayerProjections[i]);
      const std::vector<float> w = dense->weight().to_f32();
      const size_t out = static_cast<size_t>(s->out_features()),
                   in = static_cast<size_t>(s->in_features());
      Unit u{l, i, out * in, in, {}, {}, {}, 0};
      std::unique_ptr<Linear> original = std::move(s);
      for (const BitCandidate& cand : candidates) {
        const QuantSpec spec = cand.spec(base);
        const bool fits = !spec.enabled() || spec.group_size == 0 ||
                          in % static_cast<size_t>(spec.group_size) == 0;
        u.bits.push_back(bits_per_weight(spec, out, in) * static_cast<double>(u.params));
        if (!fits) {
          u.kl.push_back(std::numeric_limits<double>::infinity());
        } else if (spec.enabled()) {
          spec.validate("--bits-candidates", in);
          s = std::make_unique<FakeQuantLinear>(quantize_rows(w, out, in, spec),
                                                std::vector<float>{}, QuantSpec{}, nullptr);
          u.kl.push_back(std::max(0.0, mean_kl(ref, model, streams, static_cast<int>(l), cache)));
        } else {
          u.kl.push_back(0.0);
        }
        bar.update(++done);
      }
      s = std::move(original);
      // The frontier: a candidate stays unless another costs no more and loses no more (ties go
      // to the one listed first); what is left, by cost, has strictly falling KL.
      for (size_t k = 0; k < candidates.size(); ++k) {
        if (!std::isfinite(u.kl[k])) continue;
        bool beaten = false;
        for (size_t j = 0; j < candidates.size() && !beaten; ++j) {
          if (j == k || !std::isfinite(u.kl[j])) continue;
          const bool no_worse = u.bits[j] <= u.bits[k] && u.kl[j] <= u.kl[k];
          const bool better = u.bits[j] < u.bits[k] || u.kl[j] < u.kl[k] || j < k;
          beaten = no_worse && better;
        }
        if (!beaten) u.frontier.push_back(k);
      }
      if (u.frontier.empty())
        fail("--bits-candidates: none fits layers.{}.{} ({} inputs)", l, kLayerProjections[i], in);
      std::sort(u.frontier.begin(), u.frontier.end(),
                [&](size_t a, size_t b) { return u.bits[a] < u.bits[b]; });
      units.push_back(std::move(u));
    }
    streams.advance(model, static_cast<int>(l), cache);  // the full-precision layer
  }
  bar.finish();

  // The greedy: every projection at its cheapest candidate, then the best KL reduction per extra
  // bit while the budget holds.
  double total_params = 0, total_bits = 0;
  for (const Unit& u : units) {
    total_params += static_cast<double>(u.params);
    total_bits += u.bits[u.choice()];
  }
  if (total_bits / total_params > budget + 1e-9)
    fail("--bits-budget {}: even the cheapest candidates need {:.3f} bits per weight ({})", budget,
         total_bits / total_params, cost == BitsCost::kStored ? "stored" : "nominal");
  for (;;) {
    double best_gain = 0;
    Unit* best = nullptr;
    size_t best_at = 0;
    for (Unit& u : units)
      for (size_t a = u.at + 1; a < u.frontier.size(); ++a) {
        const double extra = u.bits[u.frontier[a]] - u.bits[u.choice()];
        if ((total_bits + extra) / total_params > budget + 1e-9) continue;
        const double gain = (u.kl[u.choice()] - u.kl[u.frontier[a]]) / extra;
        if (gain > best_gain) {
          best_gain = gain;
          best = &u;
          best_at = a;
        }
      }
    if (best == nullptr) break;
    total_bits += best->bits[best->frontier[best_at]] - best->bits[best->choice()];
    best->at = best_at;
  }

  BitAllocation a;
  a.average_bits = total_bits / total_params;
  std::string rules;
  a.table = "| projection |";
  for (const BitCandidate& cand : candidates) a.table += fmt::format(" KL at {} |", cand.text());
  a.table += " chosen | bits per weight |\n| --- |";
  for (size_t k = 0; k < candidates.size(); ++k) a.table += " ---: |";
  a.table += " ---: | ---: |\n";
  for (const Unit& u : units) {
    const std::string name = fmt::format("layers.{}.{}", u.layer, kLayerProjections[u.proj]);
    const BitCandidate& chosen = candidates[u.choice()];
    rules += fmt::format("{}{}={}", rules.empty() ? "" : ",", name, chosen.text());
    a.table += "| " + name + " |";
    for (double kl : u.kl)
      a.table += std::isfinite(kl) ? fmt::format(" {:.5f} |", kl) : std::string(" - |");
    a.table += fmt::format(" {} | {:.3f} |\n", chosen.text(),
                           u.bits[u.choice()] / static_cast<double>(u.params));
  }
  a.map = BitsMap::parse(rules);
  return a;
}

}  // namespace lowbit
