#include "model/llama.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/attention.h"
#include "kernels/kv_attention.h"
#include "kernels/sgemm.h"
#include "kernels/vmath.h"
#include "layers/hadamard.h"
#include "model/rope.h"

namespace lowbit {
namespace {

void rms_norm(const float* x, const float* weight, float* out, size_t rows, size_t dim, float eps) {
  thread_pool().parallel_for(rows, 16, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      const float* xr = x + r * dim;
      float* outr = out + r * dim;
      // Eight partial sums in double: squares of floats are exact in double and the sum of a
      // row rounds to the same float scale in practice, but eight chains instead of one serial
      // dependency (the norms were ~5% of a quantized prefill).
      double part[8] = {};
      size_t i = 0;
      for (; i + 8 <= dim; i += 8)
        for (size_t j = 0; j < 8; ++j) part[j] += static_cast<double>(xr[i + j]) * xr[i + j];
      for (; i < dim; ++i) part[0] += static_cast<double>(xr[i]) * xr[i];
      const double ss =
          ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
      const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(dim) + eps));
      for (i = 0; i < dim; ++i) outr[i] = xr[i] * inv * weight[i];
    }
  });
}

void swiglu(float* gate, const float* up, size_t n) {
  thread_pool().parallel_for(n, 4096, [&](size_t i0, size_t i1) {
    kernels::swiglu(std::span(gate + i0, i1 - i0), std::span(up + i0, i1 - i0));
  });
}

void add_inplace(float* x, const float* y, size_t n) {
  thread_pool().parallel_for(n, 4096, [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; ++i) x[i] += y[i];
  });
}

template <class T>
void ensure_size(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
}

constexpr size_t kQueryBlock = 64;  // query rows per attention task
constexpr size_t kCodeRows = 4;     // stacked query rows up to which attention reads KV codes
// Stacked query rows up to which an fp32 cache's products also run on the KV kernels
// (kernels/kv_attention.h, 4 rows per pass over the keys) instead of a BLAS GEMV call per row:
// a decode step's handful of rows per KV head spent more time in those calls than in products.
constexpr size_t kDirectRows = 8;
// A decode step's attention products (all rows and heads of a layer) below which one thread does
// them: its tasks are a few microseconds each, and handing them to another core (the region, and
// the rows' queries and outputs crossing between the cores' caches) cost more than it saved. On
// ref-llama-s with 4 sequences and 2 threads: serial was faster at 16 and 64 cached tokens
// (52 K and 200 K multiply-adds per layer), parallel at 256 (790 K).
constexpr size_t kDecodeAttentionParallelMacs = size_t{1} << 18;

// Attention's tasks: on the pool, or on this thread when they add up to fewer than
// kDecodeAttentionParallelMacs multiply-adds.
void run_attention_tasks(size_t tasks, size_t macs, const std::function<void(size_t)>& task) {
  if (macs >= kDecodeAttentionParallelMacs) return thread_pool().run(tasks, task);
  for (size_t t = 0; t < tasks; ++t) task(t);
}

}  // namespace

const char* site_name(ActivationSite site) {
  switch (site) {
    case ActivationSite::kQkvInput:
      return "qkv_input";
    case ActivationSite::kOInput:
      return "o_input";
    case ActivationSite::kUpInput:
      return "up_input";
    case ActivationSite::kDownInput:
      return "down_input";
  }
  return "?";
}

LlamaModel::LlamaModel(LlamaWeights weights) : w_(std::move(weights)) {
  const auto& c = w_.config;
  c.validate("model");
  if (static_cast<int>(w_.layers.size()) != c.n_layers)
    fail("model: {} layers loaded, config says {}", w_.layers.size(), c.n_layers);
  // RoPE tables in double precision, then rounded: positions up to max_seq_len stay accurate.
  const size_t half = static_cast<size_t>(c.head_dim / 2);
  rope_cos_.resize(static_cast<size_t>(c.max_seq_len) * half);
  rope_sin_.resize(rope_cos_.size());
  const std::vector<double> inv_freq = rope_inv_freq(c);
  for (size_t p = 0; p < static_cast<size_t>(c.max_seq_len); ++p)
    for (size_t i = 0; i < half; ++i) {
      const double angle = static_cast<double>(p) * inv_freq[i];
      rope_cos_[p * half + i] = static_cast<float>(std::cos(angle));
      rope_sin_[p * half + i] = static_cast<float>(std::sin(angle));
    }
}

KVCache LlamaModel::make_cache(int capacity) const {
  return KVCache(w_.config, capacity, kv_quant_);
}

void LlamaModel::set_kv_quant(const QuantSpec& spec) {
  spec.validate("--kvbits", static_cast<size_t>(w_.config.kv_dim()));
  kv_quant_ = spec;
}

void LlamaModel::set_attention_quant(const AttentionQuant& a) {
  const size_t hd = static_cast<size_t>(w_.config.head_dim);
  a.query.validate("--qbits", hd);
  if (a.qk_hadamard) plan_hadamard(hd);
  attention_quant_ = a;
}

void LlamaModel::observe(int layer, ActivationSite site, std::span<const float> x, size_t rows,
                         size_t cols) {
  if (observer_ != nullptr) observer_->observe(layer, site, x.first(rows * cols), rows, cols);
}

// Hugging Face "rotate_half" RoPE: dimension i pairs with i + head_dim/2.
void LlamaModel::apply_rope(float* x, size_t n, int n_heads,
                            std::span<const int32_t> positions) const {
  const size_t hd = static_cast<size_t>(w_.config.head_dim), half = hd / 2;
  const size_t row = static_cast<size_t>(n_heads) * hd;
  thread_pool().parallel_for(n, 16, [&](size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; ++t) {
      const size_t pos = static_cast<size_t>(positions[t]);
      const float* cs = rope_cos_.data() + pos * half;
      const float* sn = rope_sin_.data() + pos * half;
      for (int h = 0; h < n_heads; ++h) {
        float* v = x + t * row + static_cast<size_t>(h) * hd;
        for (size_t i = 0; i < half; ++i) {
          const float a = v[i], b = v[i + half];
          v[i] = a * cs[i] - b * sn[i];
          v[i + half] = b * cs[i] + a * sn[i];
        }
      }
    }
  });
}

// Where attention of n new queries of one sequence reads its keys and values from.
LlamaModel::AttentionRows LlamaModel::attention_rows(int slot, size_t row0, size_t n, int entries0,
                                                     KVCache& cache) {
  const auto& c = w_.config;
  const size_t group = static_cast<size_t>(c.n_heads / c.n_kv_heads);
  // A decode step over a quantized cache reads the integer codes directly (a quarter or an
  // eighth of the bytes, nothing dequantized into memory) where a SIMD variant exists; longer
  // products, and CPUs with only the scalar reference, dequantize the layer once and run on
  // OpenBLAS.
  const bool from_codes = cache.spec().enabled() && n * group <= kCodeRows &&
                          kernels::kv_attention_isa() != kernels::Isa::kScalar;
  const size_t window = static_cast<size_t>(c.sliding_window);
  const size_t last = static_cast<size_t>(entries0) + n - 1;
  if (window > 0 && last >= window && cache.entries(slot) != cache.length() + static_cast<int>(n))
    fail("token pruning with sliding-window attention past the window is not supported");
  const auto kv = from_codes ? KVCache::Rows{} : cache.load(slot, entries0 + static_cast<int>(n));
  return {&cache, row0, n, entries0, kv, from_codes};
}

// Causal attention of n new queries (the layer's entries entries0..) against all cached keys
// (entries, model/kv_cache.h: without token pruning, entry i is position i). Query blocks
// (prefill) go to the fused kernel where it has a SIMD variant (fused_attention below); windowed
// rows do not (the fused kernel starts every row at key 0). Otherwise a task is one KV head and a
// block of 64 queries (attend_block); blocks run largest first so the pool's threads finish
// together.
void LlamaModel::attention(int slot, size_t row0, size_t n, int entries0, KVCache& cache,
                           bool importance) {
  const auto& c = w_.config;
  const size_t kv_heads = static_cast<size_t>(c.n_kv_heads);
  const size_t group = static_cast<size_t>(c.n_heads / c.n_kv_heads);
  const size_t window = static_cast<size_t>(c.sliding_window);
  const bool windowed = window > 0 && static_cast<size_t>(entries0) + n - 1 >= window;
  const AttentionRows a = attention_rows(slot, row0, n, entries0, cache);
  if (!a.from_codes && !windowed && n * group > kCodeRows &&
      kernels::causal_attention_isa() != kernels::Isa::kScalar)
    return fused_attention(row0, n, entries0, a.kv.keys, a.kv.values, a.kv.stride, importance);
  const size_t blocks = (n + kQueryBlock - 1) / kQueryBlock;
  const auto task = [&](size_t t) {
    const size_t b = blocks - 1 - t / kv_heads, kv_head = t % kv_heads;
    const size_t i0 = b * kQueryBlock;
    attend_block(slot, a, i0, std::min(n, i0 + kQueryBlock), kv_head, importance);
  };
  // As in decode_attention: a one-token step over a short cache stays on this thread.
  const size_t macs = 2 * n * (static_cast<size_t>(entries0) + n) * static_cast<size_t>(c.q_dim());
  run_attention_tasks(kv_heads * blocks, macs, task);
}

// Every row of the step, each KV head, in one region: a region per row (each a sliver of work
// for two or three threads) cost more in waking and waiting than its products took. Below
// kDecodeAttentionParallelMacs the step's products stay on the calling thread.
void LlamaModel::decode_attention(int slot, std::span<KVCache* const> caches,
                                  std::span<const int> entries0) {
  const auto& c = w_.config;
  const size_t kv_heads = static_cast<size_t>(c.n_kv_heads);
  attention_rows_.clear();
  size_t macs = 0;  // scores and weighted sums of every query head against its cached keys
  for (size_t r = 0; r < caches.size(); ++r) {
    attention_rows_.push_back(attention_rows(slot, r, 1, entries0[r], *caches[r]));
    macs += 2 * static_cast<size_t>(entries0[r] + 1) * static_cast<size_t>(c.q_dim());
  }
  const auto task = [&](size_t t) {
    attend_block(slot, attention_rows_[t / kv_heads], 0, 1, t % kv_heads, false);
  };
  run_attention_tasks(caches.size() * kv_heads, macs, task);
}

// The `group` query heads that share the KV head (GQA) are stacked into one
// [group * rows, head_dim] matrix, so each product reads the head's keys and values once for all
// of them. A block only scores the keys its last query may see. With a sliding window, Mistral's,
// position p sees keys p - window + 1 .. p (transformers' masking_utils.py
// sliding_window_overlay, kv_idx > q_idx - sliding_window); the cache keeps every position, keys
// before a row's window get probability 0.
void LlamaModel::attend_block(int slot, const AttentionRows& a, size_t i0, size_t i1,
                              size_t kv_head, bool importance) {
  const auto& c = w_.config;
  const size_t hd = static_cast<size_t>(c.head_dim);
  const size_t q_dim = static_cast<size_t>(c.q_dim());
  const size_t group = static_cast<size_t>(c.n_heads / c.n_kv_heads);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const size_t window = static_cast<size_t>(c.sliding_window);
  const auto first_key = [window](size_t p) {
    return window > 0 && p >= window ? p + 1 - window : 0;
  };
  const size_t rows = i1 - i0, stacked = group * rows;
  const size_t visible = static_cast<size_t>(a.entries0) + i1;  // keys seen by the last row
  thread_local std::vector<float> q, scores, out;
  ensure_size(q, stacked * hd);
  ensure_size(scores, stacked * visible);
  ensure_size(out, stacked * hd);

  // Row j * rows + r of the stack is query head kv_head * group + j at position i0 + r.
  for (size_t j = 0; j < group; ++j)
    for (size_t r = 0; r < rows; ++r) {
      const float* src = q_.data() + (a.row0 + i0 + r) * q_dim + (kv_head * group + j) * hd;
      std::copy_n(src, hd, q.data() + (j * rows + r) * hd);
    }
  // The fp32 rows as the KV kernels' 32-bit view (kernels/kv_attention.h).
  const auto fp32_view = [&](const float* first) {
    kernels::KvCodesView v;
    v.codes = reinterpret_cast<const uint8_t*>(first + kv_head * hd);
    v.row_bytes = a.kv.stride * sizeof(float);
    v.bits = 32;
    v.head_dim = hd;
    return v;
  };
  const bool direct = !a.from_codes && stacked <= kDirectRows &&
                      kernels::kv_attention_isa() != kernels::Isa::kScalar;
  if (a.from_codes)
    kernels::kv_scores(q.data(), stacked, hd, a.cache->head_codes(slot, kv_head, true), visible,
                       scores.data(), visible);
  else if (direct)
    kernels::kv_scores(q.data(), stacked, hd, fp32_view(a.kv.keys), visible, scores.data(),
                       visible);
  else
    kernels::sgemm_nt_serial(stacked, visible, hd, q.data(), hd, a.kv.keys + kv_head * hd,
                             a.kv.stride, scores.data(), visible);
  for (size_t j = 0; j < group; ++j)
    for (size_t r = 0; r < rows; ++r) {
      float* s = scores.data() + (j * rows + r) * visible;
      const size_t len = static_cast<size_t>(a.entries0) + i0 + r + 1;  // causal: keys 0..pos
      const size_t first = first_key(len - 1);
      kernels::softmax(std::span(s + first, len - first), scale);
      std::fill(s, s + first, 0.0f);
      std::fill(s + len, s + visible, 0.0f);
      if (importance) first_key_prob_[(kv_head * group + j) * a.n + i0 + r] = s[0];
    }
  if (a.from_codes)
    kernels::kv_weighted_sum(scores.data(), stacked, visible,
                             a.cache->head_codes(slot, kv_head, false), visible, out.data(), hd);
  else if (direct)
    kernels::kv_weighted_sum(scores.data(), stacked, visible, fp32_view(a.kv.values), visible,
                             out.data(), hd);
  else
    kernels::sgemm_nn_serial(stacked, hd, visible, scores.data(), visible,
                             a.kv.values + kv_head * hd, a.kv.stride, out.data(), hd);
  for (size_t j = 0; j < group; ++j)
    for (size_t r = 0; r < rows; ++r)
      std::copy_n(out.data() + (j * rows + r) * hd, hd,
                  att_.data() + (a.row0 + i0 + r) * q_dim + (kv_head * group + j) * hd);
}

// Causal attention of n new queries through the fused kernel (kernels/attention.h): the layer's
// keys are transposed once per KV head (the kernel reads 16 keys of one dimension per load), then
// a task is one query head and a block of 64 queries, reading its queries and writing its outputs
// in place. Blocks run largest first so the pool's threads finish together.
void LlamaModel::fused_attention(size_t row0, size_t n, int entries0, const float* keys,
                                 const float* values, size_t stride, bool importance) {
  const auto& c = w_.config;
  const size_t hd = static_cast<size_t>(c.head_dim), q_dim = static_cast<size_t>(c.q_dim());
  const size_t heads = static_cast<size_t>(c.n_heads), kv_heads = static_cast<size_t>(c.n_kv_heads);
  const size_t group = heads / kv_heads;
  const size_t total = static_cast<size_t>(entries0) + n;  // keys in the cache
  ensure_size(keys_t_, kv_heads * hd * total);
  constexpr size_t kSpan = 64;  // positions per transposition task
  const size_t spans = (total + kSpan - 1) / kSpan;
  thread_pool().run(kv_heads * spans, [&](size_t task) {
    const size_t h = task / spans, t0 = task % spans * kSpan, t1 = std::min(total, t0 + kSpan);
    float* dst = keys_t_.data() + h * hd * total;
    for (size_t t = t0; t < t1; ++t) {
      const float* src = keys + t * stride + h * hd;
      for (size_t d = 0; d < hd; ++d) dst[d * total + t] = src[d];
    }
  });

  const size_t blocks = (n + kQueryBlock - 1) / kQueryBlock;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  thread_pool().run(heads * blocks, [&](size_t task) {
    const size_t b = blocks - 1 - task / heads, head = task % heads, kv_head = head / group;
    const size_t i0 = b * kQueryBlock, rows = std::min(n, i0 + kQueryBlock) - i0;
    thread_local std::vector<uint32_t> lens;
    lens.resize(rows);
    for (size_t r = 0; r < rows; ++r) lens[r] = static_cast<uint32_t>(total - n + i0 + r + 1);
    kernels::CausalAttentionProblem p;
    p.q = q_.data() + (row0 + i0) * q_dim + head * hd;
    p.rows = rows;
    p.ldq = q_dim;
    p.lens = lens.data();
    p.kt = keys_t_.data() + kv_head * hd * total;
    p.ldkt = total;
    p.v = values + kv_head * hd;
    p.ldv = stride;
    p.n_keys = total;
    p.head_dim = hd;
    p.scale = scale;
    p.out = att_.data() + (row0 + i0) * q_dim + head * hd;
    p.ldo = q_dim;
    if (importance) p.first_key_prob = first_key_prob_.data() + head * n + i0;
    kernels::causal_attention(p);
  });
}

void LlamaModel::reserve_scratch(size_t n) {
  const auto& c = w_.config;
  const size_t dim = static_cast<size_t>(c.dim), hidden = static_cast<size_t>(c.hidden_dim);
  const size_t q_dim = static_cast<size_t>(c.q_dim()), kv_dim = static_cast<size_t>(c.kv_dim());
  ensure_size(x_, n * dim);
  ensure_size(xn_, n * dim);
  ensure_size(q_, n * q_dim);
  ensure_size(k_, n * kv_dim);
  ensure_size(v_, n * kv_dim);
  ensure_size(att_, n * std::max(q_dim, dim));
  ensure_size(gate_, n * hidden);
  ensure_size(up_, n * hidden);
  ensure_size(first_key_prob_, n * static_cast<size_t>(c.n_heads));
  ensure_size(importance_, n);
}

void LlamaModel::embed(std::span<const int32_t> tokens, std::span<float> x) const {
  const auto& c = w_.config;
  const size_t dim = static_cast<size_t>(c.dim);
  if (x.size() < tokens.size() * dim)
    fail("embed: {} floats cannot hold {} tokens of width {}", x.size(), tokens.size(), dim);
  for (const int32_t id : tokens)
    if (id < 0 || id >= c.vocab_size) fail("token id {} out of range [0, {})", id, c.vocab_size);
  thread_pool().parallel_for(tokens.size(), 16, [&](size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; ++t) {
      const size_t id = static_cast<size_t>(tokens[t]);
      const auto row = x.subspan(t * dim, dim);
      if (w_.embedding) {
        w_.embedding->widen_rows(id, 1, row);
      } else if (w_.quantized_embedding) {
        w_.quantized_embedding->weight_row(id, row);
      } else {
        w_.lm_head->weight_row(id, row);
      }
    }
  });
}

KVCache LlamaModel::make_layer_cache(int capacity) const {
  ModelConfig one = w_.config;
  one.n_layers = 1;
  return KVCache(one, capacity, kv_quant_);
}

void LlamaModel::forward_layer(int layer, std::span<float> x, size_t n, KVCache& cache) {
  const auto& c = w_.config;
  if (layer < 0 || layer >= c.n_layers) fail("forward_layer: layer {} of {}", layer, c.n_layers);
  if (n == 0 || x.size() < n * static_cast<size_t>(c.dim))
    fail("forward_layer: {} floats for {} tokens of width {}", x.size(), n, c.dim);
  if (static_cast<int>(n) > std::min(cache.capacity(), c.max_seq_len))
    fail("forward_layer: {} tokens exceed the cache capacity {}", n, cache.capacity());
  reserve_scratch(n);
  positions_.resize(n);
  std::iota(positions_.begin(), positions_.end(), 0);
  cache.clear();  // positions from 0: whatever the cache held goes
  KVCache* const one[] = {&cache};
  run_layer(layer, x.data(), n, positions_, one, 0);
}

std::span<const float> LlamaModel::logits_of(std::span<const float> x, size_t n) {
  const size_t dim = static_cast<size_t>(w_.config.dim);
  if (n == 0 || x.size() < n * dim)
    fail("logits_of: {} floats for {} tokens of width {}", x.size(), n, dim);
  reserve_scratch(n);
  std::copy_n(x.begin(), n * dim, x_.begin());
  return head(0, n);
}

// One decoder layer on the residual stream x ([n, dim], updated in place); keys and values go to
// the cache's layer `slot`.
void LlamaModel::run_layer(int l, float* x, size_t n, std::span<const int32_t> positions,
                           std::span<KVCache* const> caches, int slot, bool importance) {
  const auto& c = w_.config;
  const size_t dim = static_cast<size_t>(c.dim), hidden = static_cast<size_t>(c.hidden_dim);
  const size_t q_dim = static_cast<size_t>(c.q_dim()), kv_dim = static_cast<size_t>(c.kv_dim());
  const auto& L = w_.layers[static_cast<size_t>(l)];
  // Each stage, timed when a profile is attached (core/op_profile.h).
  const auto timed = [this](ForwardOp op, auto&& stage) {
    OpTimer t(profile_, op);
    stage();
  };
  // Attention block.
  timed(ForwardOp::kNorm, [&] { rms_norm(x, L.attn_norm.data(), xn_.data(), n, dim, c.norm_eps); });
  observe(l, ActivationSite::kQkvInput, xn_, n, dim);
  const LinearOutput qkv[] = {{L.wq.get(), std::span(q_).first(n * q_dim)},
                              {L.wk.get(), std::span(k_).first(n * kv_dim)},
                              {L.wv.get(), std::span(v_).first(n * kv_dim)}};
  timed(ForwardOp::kQkvProj, [&] { forward_group(std::span(xn_).first(n * dim), n, qkv); });
  timed(ForwardOp::kRope, [&] {
    apply_rope(q_.data(), n, c.n_heads, positions);
    apply_rope(k_.data(), n, c.n_kv_heads, positions);
    if (attention_quant_.qk_hadamard) {
      const size_t hd = static_cast<size_t>(c.head_dim);
      hadamard_transform_rows(std::span(q_).first(n * q_dim), n * static_cast<size_t>(c.n_heads),
                              hd);
      hadamard_transform_rows(std::span(k_).first(n * kv_dim),
                              n * static_cast<size_t>(c.n_kv_heads), hd);
    }
    if (attention_quant_.query.enabled())
      fake_quantize_rows(std::span(q_).first(n * q_dim), n * static_cast<size_t>(c.n_heads),
                         static_cast<size_t>(c.head_dim), attention_quant_.query);
  });
  // A quantized cache stores integer codes; attention reads them back dequantized. With one cache
  // the n rows are consecutive tokens of one sequence; with one cache per row (a batched decode
  // step) each row is the next token of its own sequence and attends to its own cache only.
  if (caches.size() == 1) {
    KVCache& cache = *caches[0];
    const int entries0 = cache.entries(slot);
    timed(ForwardOp::kKvStore, [&] {
      cache.append(slot, positions.first(n), std::span(k_).first(n * kv_dim),
                   std::span(v_).first(n * kv_dim));
    });
    timed(ForwardOp::kAttention, [&] { attention(slot, 0, n, entries0, cache, importance); });
  } else {
    entries0_.resize(n);
    timed(ForwardOp::kKvStore, [&] {
      for (size_t r = 0; r < n; ++r) {
        KVCache& cache = *caches[r];
        entries0_[r] = cache.entries(slot);
        cache.append(slot, positions.subspan(r, 1), std::span(k_).subspan(r * kv_dim, kv_dim),
                     std::span(v_).subspan(r * kv_dim, kv_dim));
      }
    });
    timed(ForwardOp::kAttention, [&] { decode_attention(slot, caches, entries0_); });
  }
  if (importance)
    timed(ForwardOp::kPrune, [&] {
      // A row's importance: its probability to the first token, averaged over the heads.
      const size_t heads = static_cast<size_t>(c.n_heads);
      for (size_t r = 0; r < n; ++r) {
        float sum = 0.0f;
        for (size_t h = 0; h < heads; ++h) sum += first_key_prob_[h * n + r];
        importance_[r] = sum / static_cast<float>(heads);
      }
    });
  observe(l, ActivationSite::kOInput, att_, n, q_dim);
  timed(ForwardOp::kOProj,
        [&] { L.wo->forward(std::span(att_).first(n * q_dim), n, std::span(xn_).first(n * dim)); });
  timed(ForwardOp::kResidual, [&] { add_inplace(x, xn_.data(), n * dim); });

  // MLP block (SwiGLU).
  timed(ForwardOp::kNorm, [&] { rms_norm(x, L.ffn_norm.data(), xn_.data(), n, dim, c.norm_eps); });
  observe(l, ActivationSite::kUpInput, xn_, n, dim);
  const LinearOutput gate_up[] = {{L.w_gate.get(), std::span(gate_).first(n * hidden)},
                                  {L.w_up.get(), std::span(up_).first(n * hidden)}};
  timed(ForwardOp::kGateUpProj, [&] { forward_group(std::span(xn_).first(n * dim), n, gate_up); });
  timed(ForwardOp::kSwiglu, [&] { swiglu(gate_.data(), up_.data(), n * hidden); });
  observe(l, ActivationSite::kDownInput, gate_, n, hidden);
  timed(ForwardOp::kDownProj, [&] {
    L.w_down->forward(std::span(gate_).first(n * hidden), n, std::span(xn_).first(n * dim));
  });
  timed(ForwardOp::kResidual, [&] { add_inplace(x, xn_.data(), n * dim); });
}

void LlamaModel::set_token_pruning(const TokenPruning& p) {
  p.validate(w_.config.n_layers, "token pruning");
  pruning_ = p;
}

size_t LlamaModel::prune_rows(int layer, size_t n, size_t original_rows) {
  select_kept_rows(pruning_, layer, w_.config.n_layers, original_rows,
                   std::span<const float>(importance_).first(n),
                   std::span<const int32_t>(positions_).first(n), calibration_, kept_);
  const size_t dim = static_cast<size_t>(w_.config.dim);
  // kept_ is increasing, so moving row kept_[i] down to row i never overwrites a row still needed.
  for (size_t i = 0; i < kept_.size(); ++i) {
    const size_t from = kept_[i];
    if (from == i) continue;
    std::copy_n(x_.data() + from * dim, dim, x_.data() + i * dim);
    positions_[i] = positions_[from];
    logit_rows_[i] = logit_rows_[from];
  }
  return kept_.size();
}

std::span<const float> LlamaModel::forward(std::span<const int32_t> tokens, KVCache& cache,
                                           LogitsFor which, bool allow_pruning) {
  const auto& c = w_.config;
  const size_t n = tokens.size();
  if (n == 0) fail("forward: no tokens");
  const int pos0 = cache.length();
  if (pos0 + static_cast<int>(n) > c.max_seq_len)
    fail("sequence of {} tokens exceeds the model's max_position_embeddings {}",
         pos0 + static_cast<int>(n), c.max_seq_len);
  if (pos0 + static_cast<int>(n) > cache.capacity())
    fail("context is full: {} + {} tokens exceed the KV cache capacity {}", pos0, n,
         cache.capacity());

  const size_t dim = static_cast<size_t>(c.dim);
  reserve_scratch(n);
  const ActiveProfileScope profiling(profile_);  // the projections time their parts into it
  {
    OpTimer t(profile_, ForwardOp::kEmbed);
    embed(tokens, std::span(x_).first(n * dim));
  }
  positions_.resize(n);
  std::iota(positions_.begin(), positions_.end(), pos0);
  logit_rows_.resize(n);
  std::iota(logit_rows_.begin(), logit_rows_.end(), 0);
  const bool prune = allow_pruning && n > 1 && pruning_.enabled();
  if (prune && !pruning_.calibrated() && calibration_ == nullptr)
    fail("token pruning: --prune-ratio {} has no calibrated thresholds", pruning_.ratio);
  size_t m = n;  // rows still running
  for (int l = 0; l < c.n_layers; ++l) {
    if (prune && l >= pruning_.start_layer) {
      OpTimer t(profile_, ForwardOp::kPrune);
      m = prune_rows(l, m, n);
    }
    // Importance is needed at the output of the layer before each pruning point.
    const bool importance = prune && l + 1 >= pruning_.start_layer && l + 1 < c.n_layers;
    KVCache* const one[] = {&cache};
    run_layer(l, x_.data(), m, positions_, one, l, importance);
    if (n > 1) pruning_counts_.token_layers += static_cast<int64_t>(m);
  }
  if (n > 1) pruning_counts_.full_token_layers += static_cast<int64_t>(n) * c.n_layers;
  cache.advance(static_cast<int>(n));
  logit_rows_.resize(m);

  const size_t first = which == LogitsFor::kLastToken ? m - 1 : 0;
  if (which == LogitsFor::kLastToken) logit_rows_.assign(1, static_cast<int32_t>(n - 1));
  return head(first, m - first);
}

std::span<const float> LlamaModel::head(size_t first, size_t rows) {
  const auto& c = w_.config;
  const size_t dim = static_cast<size_t>(c.dim), vocab = static_cast<size_t>(c.vocab_size);
  {
    OpTimer t(profile_, ForwardOp::kNorm);
    rms_norm(x_.data() + first * dim, w_.final_norm.data(), xn_.data(), rows, dim, c.norm_eps);
  }
  ensure_size(logits_, rows * vocab);
  {
    OpTimer t(profile_, ForwardOp::kHead);
    w_.lm_head->forward(std::span(xn_).first(rows * dim), rows,
                        std::span(logits_).first(rows * vocab));
  }
  return std::span<const float>(logits_).first(rows * vocab);
}

std::span<const float> LlamaModel::forward_batch(std::span<const int32_t> tokens,
                                                 std::span<KVCache* const> caches) {
  const auto& c = w_.config;
  const size_t n = tokens.size();
  if (n == 0) fail("forward_batch: no tokens");
  if (caches.size() != n) fail("forward_batch: {} tokens for {} caches", n, caches.size());
  for (size_t r = 0; r < n; ++r) {
    const KVCache* cache = caches[r];
    if (cache == nullptr) fail("forward_batch: no cache for row {}", r);
    if (std::find(caches.begin(), caches.begin() + static_cast<std::ptrdiff_t>(r), cache) !=
        caches.begin() + static_cast<std::ptrdiff_t>(r))
      fail("forward_batch: row {} shares its cache with an earlier row", r);
    if (cache->length() + 1 > c.max_seq_len)
      fail("sequence of {} tokens exceeds the model's max_position_embeddings {}",
           cache->length() + 1, c.max_seq_len);
    if (cache->length() + 1 > cache->capacity())
      fail("context is full: {} + 1 tokens exceed the KV cache capacity {}", cache->length(),
           cache->capacity());
  }
  const size_t dim = static_cast<size_t>(c.dim);
  reserve_scratch(n);
  const ActiveProfileScope profiling(profile_);
  {
    OpTimer t(profile_, ForwardOp::kEmbed);
    embed(tokens, std::span(x_).first(n * dim));
  }
  positions_.resize(n);
  for (size_t r = 0; r < n; ++r) positions_[r] = caches[r]->length();
  logit_rows_.resize(n);
  std::iota(logit_rows_.begin(), logit_rows_.end(), 0);
  for (int l = 0; l < c.n_layers; ++l) run_layer(l, x_.data(), n, positions_, caches, l);
  for (KVCache* cache : caches) cache->advance(1);
  return head(0, n);
}

}  // namespace lowbit
