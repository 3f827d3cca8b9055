// GGUF's quantized types on load: Q4_0 and Q8_0 repacked exactly (every weight is the block's
// (q - 8) * d or q * d, q/k rows in Hugging Face's order), Q4_1 / Q4_K / Q6_K dequantized as
// ggml does and re-quantized within lowbit's RTN bound.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "core/float16.h"
#include "io/gguf_blocks.h"
#include "io/gguf_writer.h"
#include "io/model_loader.h"
#include "layers/packed_linear.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;
using gguf::TensorType;

constexpr int kDim = 256, kHidden = 256, kHeads = 4, kKvHeads = 2, kHeadDim = 64;

// A SentencePiece-style vocabulary of the specials, the 256 byte pieces and a few words.
void add_small_vocabulary(GgufWriter& w) {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    tokens.push_back(name);
    types.push_back(6);
  }
  for (const char* p : {"\xe2\x96\x81", "\xe2\x96\x81t", "he", "\xe2\x96\x81the"}) {
    tokens.push_back(p);
    types.push_back(1);
  }
  std::vector<float> scores(tokens.size());
  for (size_t i = 0; i < scores.size(); ++i) scores[i] = -static_cast<float>(i);
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_array_string("tokenizer.ggml.tokens", tokens);
  w.set_array_f32("tokenizer.ggml.scores", scores);
  w.set_array_i32("tokenizer.ggml.token_type", types);
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 2);
  w.set_u32("tokenizer.ggml.unknown_token_id", 0);
}
constexpr int kVocab = 3 + 256 + 4;

struct Tensor {
  TensorType type;
  size_t rows, cols;
  std::vector<std::byte> bytes;
};

// Random blocks of `type` with sane fp16 scales (random bytes elsewhere).
Tensor random_tensor(TensorType type, size_t rows, size_t cols, std::mt19937& rng) {
  const auto traits = *gguf::type_traits(static_cast<uint32_t>(type));
  Tensor t{type, rows, cols,
           std::vector<std::byte>(rows * cols / traits.block_elems * traits.block_bytes)};
  for (auto& b : t.bytes) b = static_cast<std::byte>(rng() & 0xff);
  std::uniform_real_distribution<float> scale(0.002f, 0.02f);
  const auto put = [&](size_t at, float v) {
    const uint16_t h = f32_to_f16(v);
    std::memcpy(t.bytes.data() + at, &h, 2);
  };
  for (size_t b = 0; b < t.bytes.size() / traits.block_bytes; ++b) {
    const size_t at = b * traits.block_bytes;
    switch (type) {
      case TensorType::kQ4_0:
      case TensorType::kQ8_0:
        put(at, scale(rng));
        break;
      case TensorType::kQ4_1:
        put(at, scale(rng));
        put(at + 2, -8 * scale(rng));
        break;
      case TensorType::kQ4_K:
        put(at, scale(rng) / 16);
        put(at + 2, scale(rng) / 8);
        break;
      case TensorType::kQ6_K:
        put(at + 208, scale(rng) / 32);
        break;
      default:
        break;
    }
  }
  return t;
}

// Q4_0 / Q8_0 value (row, col) straight from the block layout.
float exact_value(const Tensor& t, size_t row, size_t col) {
  const size_t bb = t.type == TensorType::kQ4_0 ? 18 : 34;
  const std::byte* blk = t.bytes.data() + (row * (t.cols / 32) + col / 32) * bb;
  uint16_t h;
  std::memcpy(&h, blk, 2);
  const float d = f16_to_f32(h);
  const size_t j = col % 32;
  if (t.type == TensorType::kQ8_0) return static_cast<float>(static_cast<int8_t>(blk[2 + j])) * d;
  const auto byte = static_cast<uint8_t>(blk[2 + j % 16]);
  return static_cast<float>((j < 16 ? byte & 0xF : byte >> 4) - 8) * d;
}

// Hugging Face row r of a q/k projection is llama.cpp's row (within its head) 2t for t < half,
// 2(t - half) + 1 after.
size_t gguf_row(size_t r, bool permuted) {
  if (!permuted) return r;
  const size_t h = r / kHeadDim, t = r % kHeadDim, half = kHeadDim / 2;
  return h * kHeadDim + (t < half ? 2 * t : 2 * (t - half) + 1);
}

struct Projection {
  const char* name;
  size_t rows, cols;
  bool permuted;
};
const Projection kProjections[] = {
    {"attn_q", kHeads* kHeadDim, kDim, true},    {"attn_k", kKvHeads* kHeadDim, kDim, true},
    {"attn_v", kKvHeads* kHeadDim, kDim, false}, {"attn_output", kDim, kHeads* kHeadDim, false},
    {"ffn_gate", kHidden, kDim, false},          {"ffn_up", kHidden, kDim, false},
    {"ffn_down", kDim, kHidden, false}};

const Linear& projection(const LlamaWeights& w, int i) {
  const LayerWeights& L = w.layers[0];
  const Linear* all[] = {L.wq.get(),     L.wk.get(),   L.wv.get(),    L.wo.get(),
                         L.w_gate.get(), L.w_up.get(), L.w_down.get()};
  return *all[i];
}

// A one-layer llama GGUF whose projections are of `types[i]`; returns the tensors written.
std::vector<Tensor> write_model(const fs::path& path, const std::vector<TensorType>& types,
                                TensorType embedding = TensorType::kF16) {
  std::mt19937 rng(7);
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.context_length", 64);
  w.set_u32("llama.embedding_length", kDim);
  w.set_u32("llama.feed_forward_length", kHidden);
  w.set_u32("llama.block_count", 1);
  w.set_u32("llama.attention.head_count", kHeads);
  w.set_u32("llama.attention.head_count_kv", kKvHeads);
  add_small_vocabulary(w);
  std::normal_distribution<float> normal(0.0f, 0.1f);
  std::vector<uint16_t> emb(static_cast<size_t>(kVocab) * kDim);
  for (auto& x : emb) x = f32_to_f16(normal(rng));
  if (embedding == TensorType::kF16) {
    std::vector<std::byte> b(emb.size() * 2);
    std::memcpy(b.data(), emb.data(), b.size());
    w.add_tensor("token_embd.weight", {kDim, kVocab}, TensorType::kF16, std::move(b));
  } else {
    w.add_tensor("token_embd.weight", {kDim, kVocab}, embedding,
                 random_tensor(embedding, kVocab, kDim, rng).bytes);
  }
  std::vector<float> ones(kDim, 1.0f);
  std::vector<std::byte> norm(kDim * 4);
  std::memcpy(norm.data(), ones.data(), norm.size());
  for (const char* n : {"output_norm.weight", "blk.0.attn_norm.weight", "blk.0.ffn_norm.weight"})
    w.add_tensor(n, {kDim}, TensorType::kF32, norm);
  std::vector<Tensor> out;
  for (int i = 0; i < 7; ++i) {
    const Projection& p = kProjections[i];
    out.push_back(random_tensor(types[static_cast<size_t>(i)], p.rows, p.cols, rng));
    w.add_tensor(std::string("blk.0.") + p.name + ".weight", {p.cols, p.rows}, out.back().type,
                 out.back().bytes);
  }
  w.write(path);
  return out;
}

TEST(GgufQuant, Q4_0AndQ8_0AreRepackedExactly) {
  testing::TempDir dir;
  const auto Q4 = TensorType::kQ4_0, Q8 = TensorType::kQ8_0;
  const auto tensors = write_model(dir / "q.gguf", {Q4, Q8, Q4, Q8, Q4, Q8, Q4});
  for (const bool simulate : {false, true}) {
    LoadOptions o;
    o.simulate = simulate;
    LoadedModel m = load_model(dir / "q.gguf", {}, o);
    EXPECT_TRUE(m.gguf_requantized.empty());
    const auto& w = m.model->weights();
    for (int i = 0; i < 7; ++i) {
      const Projection& p = kProjections[i];
      const Linear& lin = projection(w, i);
      if (!simulate) {
        EXPECT_NE(dynamic_cast<const PackedLinear*>(&lin), nullptr) << p.name;
      }
      std::vector<float> row(p.cols);
      size_t mismatches = 0;
      for (size_t r = 0; r < p.rows; ++r) {
        lin.weight_row(r, row);
        for (size_t c = 0; c < p.cols; ++c)
          mismatches +=
              row[c] != exact_value(tensors[static_cast<size_t>(i)], gguf_row(r, p.permuted), c);
      }
      EXPECT_EQ(mismatches, 0u) << p.name << (simulate ? " simulated" : " packed");
    }
    // q, v, gate and down are Q4_0.
    EXPECT_EQ(m.dtype_params["Q4_0"], 3 * 256 * 256 + 128 * 256);
    // It runs: finite logits.
    KVCache cache = m.model->make_cache(4);
    const std::vector<int32_t> ids = {1, 260, 261, 262};
    for (const float x : m.model->forward(ids, cache)) ASSERT_TRUE(std::isfinite(x));
  }
}

TEST(GgufQuant, QuantizedEmbeddingsTiedToTheHead) {
  testing::TempDir dir;
  const auto Q8 = TensorType::kQ8_0;
  write_model(dir / "q.gguf", std::vector<TensorType>(7, Q8), TensorType::kQ4_0);
  LoadedModel m = load_model(dir / "q.gguf");
  const auto& w = m.model->weights();
  EXPECT_TRUE(w.config.tied_embeddings);
  EXPECT_EQ(w.embedding, nullptr);
  EXPECT_NE(dynamic_cast<const PackedLinear*>(w.lm_head.get()), nullptr);
  KVCache cache = m.model->make_cache(2);
  const std::vector<int32_t> ids = {1, 5};
  for (const float x : m.model->forward(ids, cache)) ASSERT_TRUE(std::isfinite(x));
}

// Element i of a Q4_K / Q6_K block by its index (an independent reading of ggml-quants.c's
// loops), against gguf::dequantize_row.
float k_quant_element(TensorType type, const std::byte* blk, size_t i) {
  const auto u8 = [&](size_t at) { return static_cast<int>(static_cast<uint8_t>(blk[at])); };
  const auto half = [&](size_t at) {
    uint16_t h;
    std::memcpy(&h, blk + at, 2);
    return f16_to_f32(h);
  };
  if (type == TensorType::kQ6_K) {
    const size_t n = i / 128, w = i % 128, quarter = w / 32, l = w % 32;
    const int ql = u8(n * 64 + l + (quarter & 1) * 32);
    const int low = quarter < 2 ? ql & 0xF : ql >> 4;
    const int high = (u8(128 + n * 32 + l) >> (2 * quarter)) & 3;
    const auto sc = static_cast<int8_t>(blk[192 + n * 8 + l / 16 + 2 * quarter]);
    return half(208) * static_cast<float>(sc) * static_cast<float>((low | (high << 4)) - 32);
  }
  const size_t chunk = i / 64, hi = (i % 64) / 32, l = i % 32, j = 2 * chunk + hi;
  const int q = hi ? u8(16 + chunk * 32 + l) >> 4 : u8(16 + chunk * 32 + l) & 0xF;
  const size_t s = 4;  // scales start
  int sc, m;
  if (j < 4) {
    sc = u8(s + j) & 63;
    m = u8(s + j + 4) & 63;
  } else {
    sc = (u8(s + j + 4) & 0xF) | ((u8(s + j - 4) >> 6) << 4);
    m = (u8(s + j + 4) >> 4) | ((u8(s + j) >> 6) << 4);
  }
  return half(0) * static_cast<float>(sc) * static_cast<float>(q) - half(2) * static_cast<float>(m);
}

TEST(GgufQuant, KQuantsDequantizeAsGgml) {
  std::mt19937 rng(3);
  for (const auto type : {TensorType::kQ4_K, TensorType::kQ6_K}) {
    const Tensor t = random_tensor(type, 1, 512, rng);
    std::vector<float> got(512);
    gguf::dequantize_row(static_cast<uint32_t>(type), t.bytes, 512, got.data());
    const size_t bb = type == TensorType::kQ4_K ? 144 : 210;
    for (size_t i = 0; i < 512; ++i)
      ASSERT_FLOAT_EQ(got[i], k_quant_element(type, t.bytes.data() + (i / 256) * bb, i % 256))
          << "element " << i;
  }
}

TEST(GgufQuant, Q4_1AndKQuantsAreRequantizedWithinTheRtnBound) {
  testing::TempDir dir;
  const auto K4 = TensorType::kQ4_K, K6 = TensorType::kQ6_K, Q41 = TensorType::kQ4_1;
  const auto tensors = write_model(dir / "k.gguf", {K4, K6, Q41, K4, K6, Q41, K4});
  LoadedModel m = load_model(dir / "k.gguf");
  ASSERT_EQ(m.gguf_requantized.size(), 3u);
  EXPECT_EQ(m.gguf_requantized[0], "Q4_1 -> int4 asym g32 (re-quantized, RTN): 2 tensors");
  const auto& w = m.model->weights();
  for (int i = 0; i < 7; ++i) {
    const Projection& p = kProjections[i];
    const Tensor& t = tensors[static_cast<size_t>(i)];
    const size_t group = t.type == K6 ? 16 : 32;
    const int levels = t.type == K6 ? 31 : 15;  // steps across the group's range
    std::vector<float> row(p.cols), ref(p.cols);
    const size_t row_bytes = t.bytes.size() / p.rows;
    for (size_t r = 0; r < p.rows; ++r) {
      projection(w, i).weight_row(r, row);
      const size_t src = gguf_row(r, p.permuted);
      gguf::dequantize_row(static_cast<uint32_t>(t.type),
                           std::span(t.bytes).subspan(src * row_bytes, row_bytes), p.cols,
                           ref.data());
      for (size_t g = 0; g < p.cols; g += group) {
        float lo = 0, hi = 0, amax = 0;
        for (size_t c = g; c < g + group; ++c) {
          lo = std::min(lo, ref[c]);
          hi = std::max(hi, ref[c]);
          amax = std::max(amax, std::abs(ref[c]));
        }
        const float step = t.type == K6 ? amax / static_cast<float>(levels)
                                        : (hi - lo) / static_cast<float>(levels);
        for (size_t c = g; c < g + group; ++c)
          ASSERT_LE(std::abs(row[c] - ref[c]), 0.5f * step * 1.01f + 1e-6f)
              << p.name << " row " << r << " col " << c;
      }
    }
  }
}

}  // namespace
}  // namespace lowbit

namespace lowbit {
namespace {

// `lowbit inspect` names each stored GGUF type and what it runs as; the re-quantized ones are
// announced on stderr.
TEST(GgufQuant, InspectShowsTheGgufTypes) {
  testing::TempDir dir;
  const auto Q4 = TensorType::kQ4_0, K4 = TensorType::kQ4_K;
  write_model(dir / "m.gguf", {Q4, Q4, Q4, Q4, K4, K4, K4});
  const auto r = testing::run_lowbit("inspect -m '" + (dir / "m.gguf").string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("format: gguf"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("stored Q4_0: 196608 parameters (GGUF type, runs as int4 sym g32 (exact))"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("stored Q4_K: 196608 parameters (GGUF type, runs as int4 asym g32 "
                       "(re-quantized, RTN))"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.err.find("Q4_K -> int4 asym g32 (re-quantized, RTN): 3 tensors"), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace lowbit
