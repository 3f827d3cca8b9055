#include "io/gguf_model.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/limits.h"
#include "core/mapped_file.h"
#include "core/memory_budget.h"
#include "io/gguf_blocks.h"
#include "io/gguf_reader.h"
#include "io/gguf_tokenizer.h"
#include "layers/fake_quant_linear.h"
#include "layers/packed_linear.h"

namespace lowbit {
namespace fs = std::filesystem;
using gguf::TensorType;

namespace {

bool is_dense(uint32_t type) {
  return type == static_cast<uint32_t>(TensorType::kF32) ||
         type == static_cast<uint32_t>(TensorType::kF16) ||
         type == static_cast<uint32_t>(TensorType::kBF16);
}

// The lowbit weight format of a quantized GGUF type, and whether it holds the same values.
struct Target {
  QuantSpec spec;
  bool exact;
};

Target target_of(uint32_t type) {
  switch (static_cast<TensorType>(type)) {
    case TensorType::kQ4_0:
      return {{4, true, 32}, true};
    case TensorType::kQ8_0:
      return {{8, true, 32}, true};
    // q * d + m with a float minimum: asymmetric int4 per 32 (an integer zero point).
    case TensorType::kQ4_1:
      return {{4, false, 32}, false};
    // Sub-blocks of 32 with 6-bit scales and float minimums: asymmetric int4 per 32.
    case TensorType::kQ4_K:
      return {{4, false, 32}, false};
    // Symmetric 6-bit codes with an int8 scale per 16 under an fp16 super-scale: int6 per 16.
    case TensorType::kQ6_K:
      return {{6, true, 16}, false};
    default:
      break;
  }
  fail("GGUF: tensor type {} has no lowbit weight format", type);
}

// llama.cpp's convert_hf_to_gguf.py permutes the rows of q and k within each head:
//   reshape(n_head, 2, head_dim / 2, in).swapaxes(1, 2)
// so its row 2j + i of a head is Hugging Face's row i * head_dim / 2 + j. Lowbit's row r of a
// head comes from the GGUF row below.
size_t gguf_row_of(size_t r, size_t head_dim) {
  const size_t h = r / head_dim, t = r % head_dim, half = head_dim / 2;
  return h * head_dim + 2 * (t % half) + t / half;
}

class Loader {
 public:
  Loader(std::shared_ptr<const GgufFile> file, bool simulate)
      : f_(std::move(file)), where_(f_->path().string()), simulate_(simulate) {}

  ModelConfig config() const {
    const GgufFile& f = *f_;
    const auto arch = f.string("general.architecture");
    if (!arch) fail("{}: no general.architecture", where_);
    if (*arch != "llama")
      fail("{}: general.architecture \"{}\" is not supported (supported: llama)", where_, *arch);
    using namespace limits;
    const auto required = [&](const std::string& key, int64_t max) {
      const auto v = f.integer(key, 1, max);
      if (!v) fail("{}: missing metadata {}", where_, key);
      return static_cast<int>(*v);
    };
    ModelConfig c;
    c.architecture = "llama";
    c.dim = required("llama.embedding_length", kMaxModelWidth);
    c.hidden_dim = required("llama.feed_forward_length", kMaxModelWidth);
    c.n_layers = required("llama.block_count", kMaxLayers);
    c.n_heads = required("llama.attention.head_count", kMaxModelWidth);
    c.n_kv_heads = static_cast<int>(
        f.integer("llama.attention.head_count_kv", 1, kMaxModelWidth).value_or(c.n_heads));
    c.head_dim = static_cast<int>(
        f.integer("llama.attention.key_length", 1, kMaxModelWidth).value_or(c.dim / c.n_heads));
    if (const auto v = f.integer("llama.attention.value_length", 1, kMaxModelWidth);
        v && *v != c.head_dim)
      fail("{}: llama.attention.value_length {} differs from the key length {}", where_, *v,
           c.head_dim);
    if (const auto r = f.integer("llama.rope.dimension_count", 1, kMaxModelWidth);
        r && *r != c.head_dim)
      fail(
          "{}: llama.rope.dimension_count {} is not the head size {} (partial RoPE is not "
          "supported)",
          where_, *r, c.head_dim);
    c.max_seq_len = static_cast<int>(std::min<int64_t>(
        f.integer("llama.context_length", 1, INT64_MAX).value_or(2048), kMaxPositions));
    c.norm_eps =
        static_cast<float>(f.real("llama.attention.layer_norm_rms_epsilon").value_or(1e-5));
    c.rope_theta = f.real("llama.rope.freq_base").value_or(10000.0);
    if (const auto s = f.string("llama.rope.scaling.type"); s && *s != "none")
      fail("{}: llama.rope.scaling.type \"{}\" is not supported", where_, *s);
    if (f.find_tensor("rope_freqs.weight"))
      fail("{}: rope_freqs.weight (Llama-3.1 RoPE scaling) is not supported", where_);
    const GgufTensor& emb = f.tensor("token_embd.weight");
    if (emb.dims.size() != 2)
      fail("{}: token_embd.weight has {} dimensions, expected 2", where_, emb.dims.size());
    c.vocab_size = static_cast<int>(f.integer("llama.vocab_size", 1, kMaxVocab)
                                        .value_or(std::min<int64_t>(emb.dims[1], kMaxVocab)));
    c.tied_embeddings = f.find_tensor("output.weight") == nullptr;
    c.bos_id = static_cast<int32_t>(
        f.integer("tokenizer.ggml.bos_token_id", 0, kMaxVocab - 1).value_or(1));
    c.eos_id = static_cast<int32_t>(
        f.integer("tokenizer.ggml.eos_token_id", 0, kMaxVocab - 1).value_or(2));
    c.eos_ids = {c.eos_id};
    c.validate(where_);
    return c;
  }

  // A 1-D tensor (a norm) as fp32.
  std::vector<float> vector(const std::string& name, int64_t n) {
    const GgufTensor& t = checked(name, {n});
    if (!is_dense(t.type))
      fail("{}: tensor \"{}\" is {}, expected F32, F16 or BF16", where_, name, t.type_name());
    std::vector<float> out(static_cast<size_t>(n));
    gguf::dequantize_row(t.type, t.data, out.size(), out.data());
    return out;
  }

  bool dense(const std::string& name) const { return is_dense(f_->tensor(name).type); }

  // A full-precision matrix [rows, cols] as stored, borrowed from the mapping; q/k rows
  // (head_dim > 0) are copied in lowbit's order.
  std::shared_ptr<const DenseMatrix> matrix(const std::string& name, int64_t rows, int64_t cols,
                                            size_t head_dim = 0) {
    const GgufTensor& t = checked(name, {cols, rows});
    WeightDType dtype = WeightDType::kF32;
    if (t.type == static_cast<uint32_t>(TensorType::kF16)) dtype = WeightDType::kF16;
    if (t.type == static_cast<uint32_t>(TensorType::kBF16)) dtype = WeightDType::kBF16;
    const auto r = static_cast<size_t>(rows), k = static_cast<size_t>(cols);
    if (head_dim == 0) return std::make_shared<const DenseMatrix>(r, k, dtype, t.data, f_);
    const size_t row_bytes = t.data.size() / r;
    auto copy = std::make_shared<std::vector<std::byte>>(t.data.size());
    for (size_t i = 0; i < r; ++i)
      std::memcpy(copy->data() + i * row_bytes,
                  t.data.data() + gguf_row_of(i, head_dim) * row_bytes, row_bytes);
    const std::span<const std::byte> bytes(copy->data(), copy->size());
    return std::make_shared<const DenseMatrix>(r, k, dtype, bytes, std::move(copy));
  }

  // A projection [out, in]: DenseLinear for full-precision types, packed (or simulated)
  // quantized weights otherwise.
  std::unique_ptr<Linear> linear(const std::string& name, int64_t out, int64_t in,
                                 size_t head_dim = 0) {
    const GgufTensor& t = checked(name, {in, out});
    if (is_dense(t.type)) return std::make_unique<DenseLinear>(matrix(name, out, in, head_dim));
    const auto n = static_cast<size_t>(out), k = static_cast<size_t>(in);
    const size_t row_bytes = t.data.size() / n;
    const auto row = [&](size_t i) {
      const size_t src = head_dim > 0 ? gguf_row_of(i, head_dim) : i;
      return t.data.subspan(src * row_bytes, row_bytes);
    };
    const Target target = target_of(t.type);
    kernels::PackedWeights packed;
    if (target.exact) {
      // Codes and scales as stored: nothing is rounded.
      std::vector<uint8_t> codes(n * k);
      std::vector<float> scales(n * (k / 32));
      const bool q4 = t.type == static_cast<uint32_t>(TensorType::kQ4_0);
      for (size_t i = 0; i < n; ++i)
        (q4 ? gguf::q4_0_row_codes : gguf::q8_0_row_codes)(row(i), k, codes.data() + i * k,
                                                           scales.data() + i * (k / 32));
      packed = kernels::pack_weights(codes, n, k, q4 ? 4 : 8, 32, scales, {}, q4 ? 8 : 128);
    } else {
      std::vector<float> values(n * k);
      for (size_t i = 0; i < n; ++i) gguf::dequantize_row(t.type, row(i), k, values.data() + i * k);
      // fp16 scales can be inf or NaN in a damaged file; RTN needs finite values.
      const auto bad =
          std::find_if(values.begin(), values.end(), [](float v) { return !std::isfinite(v); });
      if (bad != values.end())
        fail("{}: tensor {} has a non-finite value (element {}) after dequantizing its {} blocks",
             where_, name, bad - values.begin(), gguf::type_traits(t.type)->name);
      packed = pack_quantized(quantize_rows(values, n, k, target.spec));
      requantized_[t.type] += 1;
    }
    target.spec.validate(where_ + ": " + name, k);
    release_mapped_pages(t.data);  // the packed copy replaces them
    auto storage = std::make_shared<const kernels::PackedWeights>(std::move(packed));
    const QuantSpec act;  // weight-only: activations stay fp32 (A16)
    if (simulate_)
      return std::make_unique<FakeQuantLinear>(unpack_quantized(storage->view(), target.spec),
                                               std::vector<float>{}, act, nullptr);
    return std::make_unique<PackedLinear>(storage->view(), storage, target.spec,
                                          std::vector<float>{}, act, nullptr);
  }

  std::map<std::string, int64_t>& type_params() { return type_params_; }
  const std::map<uint32_t, int>& requantized() const { return requantized_; }

 private:
  // The tensor, after checking its dims (ggml order: innermost first); counts its parameters.
  const GgufTensor& checked(const std::string& name, const std::vector<int64_t>& dims) {
    const GgufTensor& t = f_->tensor(name);
    if (t.dims != dims)
      fail("{}: tensor \"{}\" has dims [{}], the metadata implies [{}]", where_, name,
           fmt::join(t.dims, ", "), fmt::join(dims, ", "));
    type_params_[std::string(t.type_name())] += t.elements();
    return t;
  }

  std::shared_ptr<const GgufFile> f_;
  std::string where_;
  bool simulate_;
  std::map<std::string, int64_t> type_params_;
  std::map<uint32_t, int> requantized_;  // GGUF type -> tensors re-quantized
};

}  // namespace

std::string gguf_type_in_lowbit(std::string_view type_name) {
  for (const uint32_t type : {0u, 1u, 2u, 3u, 8u, 12u, 14u, 30u}) {
    if (gguf::type_traits(type)->name != type_name) continue;
    if (is_dense(type)) return std::string(type_name);
    const Target t = target_of(type);
    return t.spec.describe() + (t.exact ? " (exact)" : " (re-quantized, RTN)");
  }
  fail("GGUF: unknown tensor type {}", type_name);
}

GgufModel load_gguf_model(const fs::path& path, bool simulate) {
  auto file = std::make_shared<const GgufFile>(path);
  GgufModel out;
  out.file_bytes = file->file_bytes();
  // Full-precision weights stay in the mapping (resident as read); quantized ones are repacked
  // into memory about their stored size, and their mapped pages are handed back once repacked.
  // Re-quantized types also need one matrix's fp32 values and codes while they are converted.
  uint64_t scratch = 0;
  for (const auto& t : file->tensors())
    if (t.type == static_cast<uint32_t>(TensorType::kQ4_1) ||
        t.type == static_cast<uint32_t>(TensorType::kQ4_K) ||
        t.type == static_cast<uint32_t>(TensorType::kQ6_K))
      scratch = std::max(scratch, static_cast<uint64_t>(t.elements()) * 5);
  require_memory(static_cast<uint64_t>(out.file_bytes) + scratch + (uint64_t{64} << 20),
                 fmt::format("{}: loading its {:.2f} GB of weights", path.string(),
                             static_cast<double>(out.file_bytes) / 1e9),
                 "use a smaller model");
  Loader load(file, simulate);
  LlamaWeights& w = out.weights;
  w.config = load.config();
  const ModelConfig& c = w.config;
  auto tok = load_gguf_tokenizer(*file);
  out.tokenizer = std::move(tok.tokenizer);
  out.tokenizer_config = std::move(tok.tokenizer_config);

  const int64_t d = c.dim, h = c.hidden_dim, q = c.q_dim(), kv = c.kv_dim(), v = c.vocab_size;
  const auto hd = static_cast<size_t>(c.head_dim);
  // Embeddings: full precision as stored, or a quantized table read through weight_row (shared
  // with the head when tied, as a quantized .lowbit file's tied head is).
  if (load.dense("token_embd.weight")) {
    w.embedding = load.matrix("token_embd.weight", v, d);
    w.lm_head = c.tied_embeddings ? std::make_unique<DenseLinear>(w.embedding)
                                  : load.linear("output.weight", v, d);
  } else if (c.tied_embeddings) {
    w.lm_head = load.linear("token_embd.weight", v, d);
  } else {
    w.quantized_embedding = load.linear("token_embd.weight", v, d);
    w.lm_head = load.linear("output.weight", v, d);
  }
  w.final_norm = load.vector("output_norm.weight", d);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = fmt::format("blk.{}.", l);
    LayerWeights L;
    L.attn_norm = load.vector(p + "attn_norm.weight", d);
    L.ffn_norm = load.vector(p + "ffn_norm.weight", d);
    L.wq = load.linear(p + "attn_q.weight", q, d, hd);
    L.wk = load.linear(p + "attn_k.weight", kv, d, hd);
    L.wv = load.linear(p + "attn_v.weight", kv, d);
    L.wo = load.linear(p + "attn_output.weight", d, q);
    L.w_gate = load.linear(p + "ffn_gate.weight", h, d);
    L.w_up = load.linear(p + "ffn_up.weight", h, d);
    L.w_down = load.linear(p + "ffn_down.weight", d, h);
    w.layers.push_back(std::move(L));
  }
  out.type_params = load.type_params();
  for (const auto& [type, n] : load.requantized())
    out.requantized.push_back(fmt::format("{} -> {}: {} tensors", gguf::type_traits(type)->name,
                                          gguf_type_in_lowbit(gguf::type_traits(type)->name), n));
  return out;
}

}  // namespace lowbit
