// lowbit export-gguf's files read by independent GGUF readers (npm packages pinned with a lockfile
// in tests/io/gguf_readers/, installed by the test with `npm ci`; fails, not skips, when Node or
// npm is missing):
//   @huggingface/gguf  parses the container: metadata keys, value types, the tensor table; the
//                      test then reads the Q4_0/Q8_0 blocks at the offsets it reports and checks
//                      them against lowbit's own dequantized weights;
//   node-llama-cpp     loads the file in llama.cpp (its prebuilt CPU binary) and generates; its
//                      tokenization of a prompt and its greedy continuation must match lowbit's.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/float16.h"
#include "io/lowbit_file.h"
#include "io/model_loader.h"
#include "kernels/packed_weights.h"
#include "model/generator.h"
#include "testing/fixtures.h"
#include "text/document.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string quoted(const std::string& s) {
  std::string q = "'";
  for (const char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// "1,450,4955": ids as generate.mjs takes them.
std::string id_list(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) {
    if (!s.empty()) s += ',';
    s += std::to_string(id);
  }
  return s;
}

// The npm folder, installed once per build folder. --ignore-scripts: node-llama-cpp's
// postinstall would try to download or build llama.cpp; its prebuilt linux-x64 binary comes as a
// dependency and is all the test uses.
fs::path readers_dir() {
  return testing::npm_folder(fs::path(LOWBIT_SOURCE_DIR) / "tests/io/gguf_readers", "gguf_readers",
                             {"package.json", "package-lock.json", "inspect.mjs", "generate.mjs"},
                             "node_modules/node-llama-cpp/package.json", "--ignore-scripts");
}

// Runs `node SCRIPT ARGS` in the npm folder and parses its stdout as JSON.
json run_node(const std::string& script, const std::string& args) {
  testing::TempDir tmp;
  const fs::path out = tmp / "out.json", err = tmp / "err.txt";
  const int rc = std::system(("cd " + quoted(readers_dir().string()) + " && node " + script + " " +
                              args + " > " + quoted(out.string()) + " 2> " + quoted(err.string()))
                                 .c_str());
  EXPECT_EQ(rc, 0) << script << " failed:\n" << testing::read_file(err);
  if (rc != 0) return json::object();
  return json::parse(testing::read_file(out));
}

// ref-llama-s quantized W4 g32 (symmetric, RTN) with `head` flags, and its export.
struct Exported {
  fs::path lowbit, gguf;
};
Exported export_ref(const std::string& name, const std::string& head) {
  static testing::TempDir dir;
  Exported e{dir / (name + ".lowbit"), dir / (name + ".gguf")};
  if (!fs::exists(e.gguf)) {
    auto r = testing::run_lowbit("quantize -m " + quoted(testing::ref_llama_dir().string()) +
                                 " --method rtn --wbits 4 --abits 16 --group 32 " + head + " -o " +
                                 quoted(e.lowbit.string()));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    r = testing::run_lowbit("export-gguf -m " + quoted(e.lowbit.string()) + " -o " +
                            quoted(e.gguf.string()));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("wrote"), std::string::npos) << r.out;
  }
  return e;
}

const json& tensor(const json& info, const std::string& name) {
  for (const auto& t : info.at("tensors"))
    if (t.at("name") == name) return t;
  throw std::runtime_error("no tensor " + name);
}

// The GGUF tensor's values, dequantized by the Q4_0 / Q8_0 definitions (ggml-common.h).
std::vector<float> gguf_values(const fs::path& file, const json& info, const std::string& name,
                               size_t n, size_t k) {
  const json& t = tensor(info, name);
  const auto type = t.at("dtype").get<int>();
  const size_t block_bytes = type == 2 ? 18 : 34;
  std::ifstream in(file, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(info.at("tensorDataOffset").get<uint64_t>() +
                                       t.at("offset").get<uint64_t>()));
  std::vector<unsigned char> bytes(n * k / 32 * block_bytes);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  EXPECT_TRUE(in) << name;
  std::vector<float> out(n * k);
  for (size_t b = 0; b < n * k / 32; ++b) {
    const unsigned char* block = bytes.data() + b * block_bytes;
    uint16_t d16;
    std::memcpy(&d16, block, 2);
    const float d = f16_to_f32(d16);
    for (size_t j = 0; j < 32; ++j) {
      int q;
      if (type == 2)
        q = (j < 16 ? block[2 + j] & 0x0f : block[2 + j - 16] >> 4) - 8;
      else
        q = static_cast<int8_t>(block[2 + j]);
      out[b * 32 + j] = static_cast<float>(q) * d;
    }
  }
  return out;
}

// lowbit's weight [n, k] with each scale rounded to fp16 (what GGUF can store), rows reordered:
// GGUF row r holds lowbit row src(r).
std::vector<float> lowbit_values(const LowbitFile& f, const std::string& name,
                                 const std::function<size_t(size_t)>& src) {
  const auto view = kernels::PackedWeightsView::parse(f.tensor(name + ".packed").data);
  const auto u = kernels::unpack_weights(view);
  const size_t n = view.n(), k = view.k(), groups = k / 32;
  std::vector<float> out(n * k);
  for (size_t r = 0; r < n; ++r)
    for (size_t c = 0; c < k; ++c) {
      const size_t s = src(r), g = c / 32;
      const float scale = f16_to_f32(f32_to_f16(u.scales[s * groups + g]));
      out[r * k + c] = static_cast<float>(u.codes[s * k + c] - u.zeros[s * groups + g]) * scale;
    }
  return out;
}

TEST(GgufReaders, HuggingFaceGgufReadsTheExport) {
  const Exported e = export_ref("w4-head8", "--head-bits 8 --head-group 32 --head-abits 16");
  const json info = run_node("inspect.mjs", quoted(e.gguf.string()));
  ASSERT_TRUE(info.contains("metadata"));
  const json& m = info.at("metadata");
  auto value = [&](const std::string& key) { return m.at(key).at("value"); };
  auto type = [&](const std::string& key) { return m.at(key).at("type").get<int>(); };
  // ref-llama-s: hidden 384, 8 layers, 6 heads, 2 KV heads, head_dim 64, FFN 1024.
  EXPECT_EQ(value("general.architecture"), "llama");
  EXPECT_EQ(value("llama.embedding_length"), 384);
  EXPECT_EQ(type("llama.embedding_length"), 4);  // uint32
  EXPECT_EQ(value("llama.block_count"), 8);
  EXPECT_EQ(value("llama.feed_forward_length"), 1024);
  EXPECT_EQ(value("llama.attention.head_count"), 6);
  EXPECT_EQ(value("llama.attention.head_count_kv"), 2);
  EXPECT_EQ(value("llama.rope.dimension_count"), 64);
  EXPECT_EQ(value("llama.rope.freq_base"), 10000);
  EXPECT_EQ(type("llama.rope.freq_base"), 6);  // float32
  EXPECT_NEAR(value("llama.attention.layer_norm_rms_epsilon").get<double>(), 1e-5, 1e-10);
  EXPECT_EQ(value("llama.vocab_size"), 32000);
  EXPECT_EQ(value("general.file_type"), 2);  // MOSTLY_Q4_0
  EXPECT_EQ(value("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(m.at("tokenizer.ggml.tokens").at("length"), 32000);
  EXPECT_EQ(m.at("tokenizer.ggml.tokens").at("subType"), 8);  // strings
  EXPECT_EQ(m.at("tokenizer.ggml.tokens").at("head")[1], "<s>");
  EXPECT_EQ(m.at("tokenizer.ggml.tokens").at("head")[3], "<0x00>");
  EXPECT_EQ(m.at("tokenizer.ggml.scores").at("length"), 32000);
  // Llama-2's SentencePiece types: <unk> unknown, <s> </s> control, then byte tokens.
  EXPECT_EQ(m.at("tokenizer.ggml.token_type").at("head"), json({2, 3, 3, 6, 6, 6, 6, 6}));
  EXPECT_EQ(value("tokenizer.ggml.bos_token_id"), 1);
  EXPECT_EQ(value("tokenizer.ggml.eos_token_id"), 2);
  EXPECT_EQ(value("tokenizer.ggml.add_bos_token"), true);

  // 1 embedding table (the tied int8 head itself, Q8_0), 9 per layer, the final norm; no
  // output.weight (llama.cpp reuses token_embd).
  EXPECT_EQ(info.at("tensors").size(), 1u + 8 * 9 + 1);
  EXPECT_EQ(tensor(info, "token_embd.weight").at("shape"), json({384, 32000}));
  EXPECT_EQ(tensor(info, "token_embd.weight").at("dtype"), 8);  // Q8_0
  EXPECT_EQ(tensor(info, "blk.7.attn_q.weight").at("shape"), json({384, 384}));
  EXPECT_EQ(tensor(info, "blk.7.attn_q.weight").at("dtype"), 2);  // Q4_0
  EXPECT_EQ(tensor(info, "blk.0.attn_k.weight").at("shape"), json({384, 128}));
  EXPECT_EQ(tensor(info, "blk.0.ffn_down.weight").at("shape"), json({1024, 384}));
  EXPECT_EQ(tensor(info, "blk.0.ffn_gate.weight").at("shape"), json({384, 1024}));
  EXPECT_EQ(tensor(info, "blk.0.attn_norm.weight").at("dtype"), 0);  // F32
  EXPECT_EQ(tensor(info, "blk.0.attn_norm.weight").at("shape"), json({384}));
  EXPECT_EQ(tensor(info, "output_norm.weight").at("dtype"), 0);
  for (const auto& t : info.at("tensors")) {
    EXPECT_NE(t.at("name"), "output.weight");
    EXPECT_EQ(t.at("offset").get<uint64_t>() % 32, 0u) << t.at("name");
  }
  EXPECT_EQ(info.at("tensorDataOffset").get<uint64_t>() % 32, 0u);

  // The blocks hold lowbit's codes and fp16-rounded scales; q and k rows in llama.cpp's order
  // (within a head of 64 rows, row 2i + j is Hugging Face row 32 j + i).
  const LowbitFile f(e.lowbit);
  const auto rope = [](size_t r) {
    const size_t h = r / 64, w = r % 64;
    return h * 64 + (w % 2) * 32 + w / 2;
  };
  const auto same = [](size_t r) { return r; };
  EXPECT_EQ(gguf_values(e.gguf, info, "blk.3.attn_q.weight", 384, 384),
            lowbit_values(f, "model.layers.3.self_attn.q_proj", rope));
  EXPECT_EQ(gguf_values(e.gguf, info, "blk.3.attn_k.weight", 128, 384),
            lowbit_values(f, "model.layers.3.self_attn.k_proj", rope));
  EXPECT_EQ(gguf_values(e.gguf, info, "blk.3.attn_v.weight", 128, 384),
            lowbit_values(f, "model.layers.3.self_attn.v_proj", same));
  EXPECT_EQ(gguf_values(e.gguf, info, "blk.5.ffn_down.weight", 384, 1024),
            lowbit_values(f, "model.layers.5.mlp.down_proj", same));
  EXPECT_EQ(gguf_values(e.gguf, info, "token_embd.weight", 32000, 384),
            lowbit_values(f, "lm_head", same));
}

TEST(GgufReaders, LlamaCppGeneratesWhatLowbitGenerates) {
  // A full-precision tied head: token_embd in F16, the projections in Q4_0.
  const Exported e = export_ref("w4-head16", "--head-bits 16 --head-abits 16");
  const std::string prompt = "The history of the city begins";
  LoadedModel m = load_model(e.lowbit);
  const std::vector<int32_t> prompt_ids = tokenize_document(*m.tokenizer, prompt);
  GenerateOptions o;
  o.max_new_tokens = 16;
  o.stop_ids = m.stop_ids;
  const auto lowbit_ids = generate(*m.model, *m.tokenizer, prompt_ids, o).new_ids;
  ASSERT_FALSE(lowbit_ids.empty());

  const json r =
      run_node("generate.mjs", quoted(e.gguf.string()) + " " + quoted(prompt) + " " +
                                   id_list(prompt_ids) + " " + std::to_string(lowbit_ids.size()));
  ASSERT_TRUE(r.contains("greedy_ids"));
  // The tokenizer travelled: llama.cpp tokenizes the prompt as lowbit does.
  EXPECT_EQ(r.at("prompt_ids").get<std::vector<int32_t>>(), prompt_ids);
  const auto cpp_ids = r.at("greedy_ids").get<std::vector<int32_t>>();
  ASSERT_FALSE(cpp_ids.empty());
  size_t matched = 0;
  while (matched < cpp_ids.size() && matched < lowbit_ids.size() &&
         cpp_ids[matched] == lowbit_ids[matched])
    ++matched;
  // The weights are the same up to the fp16 rounding of the scales and the embeddings, and both
  // run W4A16 in float arithmetic of different summation orders: the greedy paths agree for
  // the first tokens (the whole 16 here at the time of writing; at least 8 are required).
  std::cout << "llama.cpp greedy: " << r.at("text") << "\nmatched " << matched << " of "
            << lowbit_ids.size() << " lowbit greedy tokens\n";
  EXPECT_GE(matched, 8u) << "llama.cpp: " << r.at("text")
                         << "\nlowbit: " << m.tokenizer->decode(lowbit_ids);
}

// A random-weight tiny checkpoint with `tokenizer` (a file copied in place of the fixture's
// tok512.bin when given), quantized W4 g32 and exported.
Exported export_tiny(const testing::TempDir& dir, const std::string& tokenizer, int vocab) {
  testing::TinyModelSpec spec;
  spec.dim = 64;
  spec.hidden = 128;
  spec.heads = 4;
  spec.kv_heads = 2;
  spec.vocab = vocab;
  const fs::path ckpt = dir / "ckpt";
  testing::write_tiny_checkpoint(ckpt, spec);
  if (!tokenizer.empty()) {
    fs::remove(ckpt / "tokenizer.bin");
    fs::copy_file(tokenizer, ckpt / fs::path(tokenizer).filename());
  }
  Exported e{dir / "tiny.lowbit", dir / "tiny.gguf"};
  auto r = testing::run_lowbit("quantize -m " + quoted(ckpt.string()) +
                               " --method rtn --wbits 4 --abits 16 --group 32 --head-bits 16 "
                               "--head-abits 16 -o " +
                               quoted(e.lowbit.string()));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = testing::run_lowbit("export-gguf -m " + quoted(e.lowbit.string()) + " -o " +
                          quoted(e.gguf.string()));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return e;
}

// llama.cpp's tokenization of `prompt` in the exported file equals lowbit's.
void expect_same_tokenization(const Exported& e, const std::string& prompt) {
  LoadedModel m = load_model(e.lowbit);
  const std::vector<int32_t> ids = tokenize_document(*m.tokenizer, prompt);
  const json r = run_node(
      "generate.mjs", quoted(e.gguf.string()) + " " + quoted(prompt) + " " + id_list(ids) + " 1");
  ASSERT_TRUE(r.contains("prompt_ids"));
  EXPECT_EQ(r.at("prompt_ids").get<std::vector<int32_t>>(), ids) << prompt;
  EXPECT_EQ(r.at("greedy_ids").size(), 1u);
}

TEST(GgufReaders, ByteLevelBpeTokenizerTravels) {
  testing::TempDir dir;
  const fs::path tokenizer = testing::shared_dir() / "tokenizers/smollm2/tokenizer.json";
  const Exported e = export_tiny(dir, tokenizer.string(), 49152);
  const json info = run_node("inspect.mjs", quoted(e.gguf.string()));
  ASSERT_TRUE(info.contains("metadata"));
  const json& m = info.at("metadata");
  EXPECT_EQ(m.at("tokenizer.ggml.model").at("value"), "gpt2");
  const json source = json::parse(testing::read_file(tokenizer));
  EXPECT_EQ(m.at("tokenizer.ggml.tokens").at("length"), 49152);
  EXPECT_EQ(m.at("tokenizer.ggml.merges").at("length"), source["model"]["merges"].size());
  EXPECT_EQ(m.at("tokenizer.ggml.merges").at("head")[0], source["model"]["merges"][0]);
  EXPECT_FALSE(m.contains("tokenizer.ggml.scores"));
  // SmolLM2's first tokens are added special tokens (<|endoftext|>, <|im_start|>, ...).
  EXPECT_EQ(m.at("tokenizer.ggml.token_type").at("head"), json({3, 3, 3, 3, 3, 3, 3, 3}));
  EXPECT_EQ(m.at("tokenizer.ggml.tokens").at("head")[1], "<|im_start|>");
  // Letters, spaces and punctuation split alike under llama.cpp's default pre-tokenizer.
  expect_same_tokenization(e, "Hello world, this is a test of the tokenizer");
}

TEST(GgufReaders, Llama2cTokenizerTravels) {
  testing::TempDir dir;
  const Exported e = export_tiny(dir, "", 512);  // stories260K's tok512.bin
  const json info = run_node("inspect.mjs", quoted(e.gguf.string()));
  ASSERT_TRUE(info.contains("metadata"));
  const json& m = info.at("metadata");
  EXPECT_EQ(m.at("tokenizer.ggml.model").at("value"), "llama");
  EXPECT_EQ(m.at("tokenizer.ggml.tokens").at("length"), 512);
  EXPECT_EQ(m.at("tokenizer.ggml.tokens").at("head")[1], "<s>");
  EXPECT_EQ(m.at("tokenizer.ggml.token_type").at("head"), json({2, 3, 3, 6, 6, 6, 6, 6}));
  expect_same_tokenization(e, "Once upon a time, there was a little girl");
}

}  // namespace
}  // namespace lowbit
