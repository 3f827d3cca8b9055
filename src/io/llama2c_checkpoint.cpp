#include "io/llama2c_checkpoint.h"

#include <cstdint>
#include <cstring>

#include "core/error.h"
#include "core/mapped_file.h"

namespace lowbit {
namespace {

// Reads consecutive fp32 arrays from the mapped file, checking bounds.
class FloatReader {
 public:
  FloatReader(std::span<const std::byte> bytes, size_t offset, std::string file)
      : bytes_(bytes), offset_(offset), file_(std::move(file)) {}

  std::vector<float> take(size_t count, const char* what) {
    if (count > (bytes_.size() - offset_) / sizeof(float))
      fail("{}: truncated: {} needs {} more bytes at offset {}, file has {}", file_, what,
           count * sizeof(float), offset_, bytes_.size());
    std::vector<float> out(count);
    std::memcpy(out.data(), bytes_.data() + offset_, count * sizeof(float));
    offset_ += count * sizeof(float);
    return out;
  }
  void skip(size_t count, const char* what) { (void)take(count, what); }
  size_t remaining() const { return bytes_.size() - offset_; }

 private:
  std::span<const std::byte> bytes_;
  size_t offset_;
  std::string file_;
};

// Slice `layer` of a [n_layers, rows, cols] stack.
std::vector<float> slice(const std::vector<float>& stack, int layer, size_t per_layer) {
  const auto begin = stack.begin() + static_cast<std::ptrdiff_t>(per_layer * layer);
  return {begin, begin + static_cast<std::ptrdiff_t>(per_layer)};
}

// Row 2i of each head becomes row i, row 2i+1 becomes row i + head_dim/2.
std::vector<float> interleaved_to_rotate_half(const std::vector<float>& w, int heads, int head_dim,
                                              size_t cols) {
  std::vector<float> out(w.size());
  const int half = head_dim / 2;
  for (int h = 0; h < heads; ++h)
    for (int i = 0; i < half; ++i)
      for (int s = 0; s < 2; ++s) {
        const size_t src = static_cast<size_t>(h * head_dim + 2 * i + s);
        const size_t dst = static_cast<size_t>(h * head_dim + i + s * half);
        std::memcpy(&out[dst * cols], &w[src * cols], cols * sizeof(float));
      }
  return out;
}

std::unique_ptr<Linear> dense(int in, int out, std::vector<float> w) {
  return std::make_unique<DenseLinear>(in, out, std::move(w));
}

}  // namespace

LlamaWeights load_llama2c_checkpoint(const std::filesystem::path& bin_file) {
  const std::string file = bin_file.string();
  MappedFile mapped(bin_file);
  const auto bytes = mapped.bytes();
  constexpr size_t kHeader = 7 * sizeof(int32_t);
  if (bytes.size() < kHeader) fail("{}: truncated llama2.c header ({} bytes)", file, bytes.size());
  int32_t h[7];
  std::memcpy(h, bytes.data(), kHeader);

  if (h[5] == INT32_MIN) fail("{}: header vocab_size {} is out of range", file, h[5]);
  ModelConfig c;
  c.architecture = "llama2.c";
  c.dim = h[0];
  c.hidden_dim = h[1];
  c.n_layers = h[2];
  c.n_heads = h[3];
  c.n_kv_heads = h[4];
  c.tied_embeddings = h[5] > 0;
  c.vocab_size = h[5] < 0 ? -h[5] : h[5];
  c.max_seq_len = h[6];
  c.norm_eps = 1e-5f;  // llama2.c's run.c
  c.rope_theta = 10000.0;
  c.bos_id = 1;
  c.eos_id = 2;
  if (c.n_heads <= 0 || c.dim <= 0 || c.dim % c.n_heads != 0)
    fail("{}: header dim {} is not a positive multiple of n_heads {}", file, c.dim, c.n_heads);
  c.head_dim = c.dim / c.n_heads;
  c.validate(file + " header");

  const size_t d = static_cast<size_t>(c.dim), hd = static_cast<size_t>(c.hidden_dim);
  const size_t q = static_cast<size_t>(c.q_dim()), kv = static_cast<size_t>(c.kv_dim());
  const size_t layers = static_cast<size_t>(c.n_layers), vocab = static_cast<size_t>(c.vocab_size);
  // The largest tensor must fit in the file before anything is allocated.
  if (vocab * d > bytes.size() / sizeof(float) || layers * d * hd > bytes.size() / sizeof(float))
    fail("{}: header sizes (dim {}, hidden {}, layers {}, vocab {}) exceed the file size {}", file,
         c.dim, c.hidden_dim, c.n_layers, c.vocab_size, bytes.size());

  FloatReader r(bytes, kHeader, file);
  auto embedding = make_f32_matrix(vocab, d, r.take(vocab * d, "token_embedding"));
  auto rms_att = r.take(layers * d, "rms_att_weight");
  auto wq = r.take(layers * q * d, "wq");
  auto wk = r.take(layers * kv * d, "wk");
  auto wv = r.take(layers * kv * d, "wv");
  auto wo = r.take(layers * d * q, "wo");
  auto rms_ffn = r.take(layers * d, "rms_ffn_weight");
  auto w1 = r.take(layers * hd * d, "w1");
  auto w2 = r.take(layers * d * hd, "w2");
  auto w3 = r.take(layers * hd * d, "w3");
  auto rms_final = r.take(d, "rms_final_weight");
  const size_t rope_table =
      static_cast<size_t>(c.max_seq_len) * static_cast<size_t>(c.head_dim) / 2;
  r.skip(2 * rope_table, "freq_cis tables");

  LlamaWeights w;
  w.config = c;
  w.embedding = embedding;
  w.final_norm = std::move(rms_final);
  if (c.tied_embeddings) {
    w.lm_head = std::make_unique<DenseLinear>(embedding);
  } else {
    w.lm_head = dense(c.dim, c.vocab_size, r.take(vocab * d, "wcls"));
  }
  if (r.remaining() != 0)
    fail("{}: {} unexpected trailing bytes after the weights", file, r.remaining());

  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights L;
    L.attn_norm = slice(rms_att, l, d);
    L.ffn_norm = slice(rms_ffn, l, d);
    L.wq = dense(c.dim, c.q_dim(),
                 interleaved_to_rotate_half(slice(wq, l, q * d), c.n_heads, c.head_dim, d));
    L.wk = dense(c.dim, c.kv_dim(),
                 interleaved_to_rotate_half(slice(wk, l, kv * d), c.n_kv_heads, c.head_dim, d));
    L.wv = dense(c.dim, c.kv_dim(), slice(wv, l, kv * d));
    L.wo = dense(c.q_dim(), c.dim, slice(wo, l, d * q));
    L.w_gate = dense(c.dim, c.hidden_dim, slice(w1, l, hd * d));
    L.w_down = dense(c.hidden_dim, c.dim, slice(w2, l, d * hd));
    L.w_up = dense(c.dim, c.hidden_dim, slice(w3, l, hd * d));
    w.layers.push_back(std::move(L));
  }
  return w;
}

}  // namespace lowbit
