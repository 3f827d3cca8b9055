// Loading llama GGUF files: ref-llama-s written as a BF16 GGUF (lowbit's GgufWriter, llama.cpp's
// q/k row order) reproduces the Hugging Face model's logits; tokenizers rebuilt from the metadata
// give the original tokenizers' ids; Q4_0 / Q8_0 are repacked exactly; K-quants are
// re-quantized within their RTN bound.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>

#include "core/float16.h"
#include "io/gguf_export.h"
#include "io/gguf_model.h"
#include "io/gguf_reader.h"
#include "io/gguf_tokenizer.h"
#include "io/gguf_writer.h"
#include "io/model_loader.h"
#include "io/safetensors.h"
#include "testing/fixtures.h"
#include "text/document.h"
#include "text/text_file.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;
using gguf::TensorType;

std::vector<std::byte> to_bytes(const void* p, size_t n) {
  std::vector<std::byte> out(n);
  std::memcpy(out.data(), p, n);
  return out;
}

// The tokenizer's GGUF keys, as export-gguf writes them.
void add_tokenizer(GgufWriter& w, const Tokenizer& tok) {
  write_gguf_tokenizer(w, tok, static_cast<size_t>(tok.vocab_size()), "test tokenizer");
}

void add_llama_config(GgufWriter& w, int dim, int hidden, int layers, int heads, int kv_heads,
                      int ctx) {
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.context_length", static_cast<uint32_t>(ctx));
  w.set_u32("llama.embedding_length", static_cast<uint32_t>(dim));
  w.set_u32("llama.feed_forward_length", static_cast<uint32_t>(hidden));
  w.set_u32("llama.block_count", static_cast<uint32_t>(layers));
  w.set_u32("llama.attention.head_count", static_cast<uint32_t>(heads));
  w.set_u32("llama.attention.head_count_kv", static_cast<uint32_t>(kv_heads));
  w.set_u32("llama.rope.dimension_count", static_cast<uint32_t>(dim / heads));
  w.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.set_f32("llama.rope.freq_base", 10000.0f);
}

// ref-llama-s as llama.cpp's converter would write it with --outtype bf16: weights as stored,
// q/k rows in llama.cpp's order, norms as F32.
fs::path write_ref_llama_gguf(const fs::path& out) {
  const fs::path dir = testing::ref_llama_dir();
  const SafetensorsFile st(dir / "model.safetensors");
  const nlohmann::json cfg = nlohmann::json::parse(testing::read_file(dir / "config.json"));
  const int dim = cfg["hidden_size"], hidden = cfg["intermediate_size"],
            layers = cfg["num_hidden_layers"], heads = cfg["num_attention_heads"],
            kv_heads = cfg["num_key_value_heads"];
  GgufWriter w;
  add_llama_config(w, dim, hidden, layers, heads, kv_heads, 2048);
  const auto tok = load_sentencepiece_tokenizer(dir / "tokenizer.model");
  add_tokenizer(w, *tok);
  w.set_string("tokenizer.chat_template", "{{ bos_token }}{{ messages[0]['content'] }}");
  const auto matrix = [&](const std::string& hf, const std::string& name, size_t heads_permuted) {
    const TensorInfo& t = st.tensor(hf);
    EXPECT_EQ(t.dtype, DType::BF16);
    const auto rows = static_cast<size_t>(t.shape[0]), cols = static_cast<size_t>(t.shape[1]);
    std::vector<std::byte> data(t.data.begin(), t.data.end());
    if (heads_permuted > 0) {
      const auto order = llama_rope_row_order(heads_permuted, rows / heads_permuted);
      for (size_t r = 0; r < rows; ++r)
        std::memcpy(data.data() + r * cols * 2, t.data.data() + order[r] * cols * 2, cols * 2);
    }
    w.add_tensor(name, {cols, rows}, TensorType::kBF16, std::move(data));
  };
  const auto norm = [&](const std::string& hf, const std::string& name) {
    const auto v = st.to_f32(hf);
    w.add_tensor(name, {v.size()}, TensorType::kF32, to_bytes(v.data(), v.size() * 4));
  };
  matrix("model.embed_tokens.weight", "token_embd.weight", 0);
  norm("model.norm.weight", "output_norm.weight");
  for (int l = 0; l < layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".",
                      b = "blk." + std::to_string(l) + ".";
    norm(p + "input_layernorm.weight", b + "attn_norm.weight");
    norm(p + "post_attention_layernorm.weight", b + "ffn_norm.weight");
    matrix(p + "self_attn.q_proj.weight", b + "attn_q.weight", static_cast<size_t>(heads));
    matrix(p + "self_attn.k_proj.weight", b + "attn_k.weight", static_cast<size_t>(kv_heads));
    matrix(p + "self_attn.v_proj.weight", b + "attn_v.weight", 0);
    matrix(p + "self_attn.o_proj.weight", b + "attn_output.weight", 0);
    matrix(p + "mlp.gate_proj.weight", b + "ffn_gate.weight", 0);
    matrix(p + "mlp.up_proj.weight", b + "ffn_up.weight", 0);
    matrix(p + "mlp.down_proj.weight", b + "ffn_down.weight", 0);
  }
  w.write(out);
  return out;
}

std::vector<float> all_logits(LlamaModel& model, const std::vector<int32_t>& ids) {
  KVCache cache = model.make_cache(static_cast<int>(ids.size()));
  const auto l = model.forward(ids, cache, LogitsFor::kAllTokens);
  return {l.begin(), l.end()};
}

TEST(GgufModel, Bf16RefLlamaReproducesTheHuggingFaceModel) {
  testing::TempDir dir;
  const fs::path file = write_ref_llama_gguf(dir / "ref-llama-s-bf16.gguf");
  LoadedModel g = load_model(file);
  LoadedModel hf = load_model(testing::ref_llama_dir());
  EXPECT_EQ(g.format, "gguf");
  EXPECT_EQ(g.model->config().n_kv_heads, 2);
  EXPECT_TRUE(g.model->config().tied_embeddings);
  EXPECT_GT(g.dtype_params["BF16"], 0);
  const nlohmann::json ref =
      nlohmann::json::parse(testing::read_file(testing::ref_llama_dir() / "reference.json"));
  for (const auto& p : ref["prompts"]) {
    // The GGUF's own tokenizer gives the reference ids (BOS included).
    const auto ids = tokenize_document(*g.tokenizer, p["text"].get<std::string>());
    ASSERT_EQ(ids, p["ids"].get<std::vector<int32_t>>()) << p["text"];
    // The same bf16 values through the same kernels: the same logits, bit for bit.
    EXPECT_EQ(all_logits(*g.model, ids), all_logits(*hf.model, ids)) << p["text"];
  }
  // The chat template and special tokens travel as a tokenizer_config text.
  const auto cfg = nlohmann::json::parse(g.tokenizer_config);
  EXPECT_EQ(cfg["chat_template"], "{{ bos_token }}{{ messages[0]['content'] }}");
  EXPECT_EQ(cfg["bos_token"], "<s>");
  EXPECT_EQ(cfg["eos_token"], "</s>");
  EXPECT_EQ(g.stop_ids, std::vector<int32_t>{2});
}

// The GGUF-derived SentencePiece tokenizer against the original on text from the shared files.
TEST(GgufModel, SentencePieceFromMetadataMatchesTheOriginal) {
  const auto original =
      load_sentencepiece_tokenizer(testing::shared_dir() / "tokenizers/llama2/tokenizer.model");
  GgufWriter w;
  add_llama_config(w, 64, 128, 1, 2, 1, 64);
  add_tokenizer(w, *original);
  testing::TempDir dir;
  w.write(dir / "tok.gguf");
  const GgufFile rebuilt(dir / "tok.gguf");
  const auto tok = load_gguf_tokenizer(rebuilt).tokenizer;
  const std::string wiki =
      read_text_file(testing::shared_dir() / "data/wikitext-2/wiki.test.raw").substr(0, 200000);
  const std::vector<std::string> texts = {
      "Hello world", " leading space", "naïve café — “quotes” 数字 😀\t\n  x", "\n\n", "", wiki};
  for (const auto& t : texts) EXPECT_EQ(tok->encode(t), original->encode(t)) << t.substr(0, 40);
  EXPECT_EQ(tok->bos_id, original->bos_id);
  EXPECT_EQ(tok->eos_id, original->eos_id);
  EXPECT_EQ(tok->vocab_size(), original->vocab_size());
  const auto ids = original->encode(wiki.substr(0, 5000));
  EXPECT_EQ(tok->decode(ids), original->decode(ids));
}

// Byte-level BPE (SmolLM2's tokenizer.json) through GGUF's tokens + merges: the Hugging Face
// tokenizers library's ids for the shared reference strings.
TEST(GgufModel, ByteLevelBpeFromMetadataMatchesReferenceIds) {
  const fs::path dir = testing::shared_dir() / "tokenizers/smollm2";
  const auto original = load_bpe_tokenizer_json(dir / "tokenizer.json");
  GgufWriter w;
  add_llama_config(w, 64, 128, 1, 2, 1, 64);
  add_tokenizer(w, *original);
  w.set_string("tokenizer.ggml.pre", "smollm");
  testing::TempDir tmp;
  w.write(tmp / "tok.gguf");
  const GgufFile rebuilt(tmp / "tok.gguf");
  const auto tok = load_gguf_tokenizer(rebuilt).tokenizer;
  const auto ref = nlohmann::json::parse(testing::read_file(dir / "reference_ids.json"));
  ASSERT_GT(ref["cases"].size(), 10u);
  for (const auto& c : ref["cases"])
    EXPECT_EQ(tok->encode(c["text"].get<std::string>()), c["ids"].get<std::vector<int32_t>>())
        << c["text"].get<std::string>().substr(0, 40);
}

TEST(GgufModel, TokenizerMetadataErrorsNameTheKey) {
  const auto original =
      load_sentencepiece_tokenizer(testing::shared_dir() / "tokenizers/llama2/tokenizer.model");
  testing::TempDir dir;
  const auto expect = [&](const std::function<void(GgufWriter&)>& edit, const std::string& needle) {
    GgufWriter w;
    add_llama_config(w, 64, 128, 1, 2, 1, 64);
    add_tokenizer(w, *original);
    edit(w);
    w.write(dir / "t.gguf");
    const GgufFile f(dir / "t.gguf");
    const std::string msg = testing::error_of([&] { (void)load_gguf_tokenizer(f); });
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    EXPECT_NE(msg.find("t.gguf"), std::string::npos) << msg;
  };
  expect([](GgufWriter& w) { w.set_string("tokenizer.ggml.model", "rwkv"); },
         "tokenizer.ggml.model \"rwkv\" is not supported");
  expect([](GgufWriter& w) { w.set_u32("tokenizer.ggml.bos_token_id", 40000); },
         "tokenizer.ggml.bos_token_id = 40000 is out of range");
  expect([](GgufWriter& w) { w.set_array_f32("tokenizer.ggml.scores", std::vector<float>(3)); },
         "tokenizer.ggml.scores has 3 entries");
  expect(
      [](GgufWriter& w) {
        w.set_array_i32("tokenizer.ggml.token_type", std::vector<int32_t>(32000, 9));
      },
      "tokenizer.ggml.token_type[0] = 9 is not a token type");
  expect([](GgufWriter& w) { w.set_u32("tokenizer.ggml.tokens", 1); },
         "tokenizer.ggml.tokens is uint32, expected an array of string");
  expect([](GgufWriter& w) { w.set_string("tokenizer.ggml.model", "gpt2"); },
         "has no tokenizer.ggml.merges");
}

}  // namespace
}  // namespace lowbit
