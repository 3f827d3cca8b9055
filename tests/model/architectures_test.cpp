// The architectures users bring beyond Llama-2, recognised from config.json: Llama-3.1's RoPE
// scaling (against transformers' _compute_llama3_parameters, src/transformers/
// modeling_rope_utils.py, written here in its vectorised form), its three spellings, Qwen2's
// q/k/v biases, Mistral's sliding window, and one-line errors for what is not supported.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numbers>

#include "core/error.h"
#include "io/checkpoint_fixture.h"
#include "io/hf_checkpoint.h"
#include "io/model_loader.h"
#include "model/rope.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

ModelConfig config_from(const nlohmann::json& j) {
  testing::TempDir dir;
  testing::write_file(dir / "config.json", j.dump());
  return read_hf_config(dir / "config.json");
}

nlohmann::json llama31_config() {
  return {{"model_type", "llama"},
          {"hidden_size", 4096},
          {"intermediate_size", 14336},
          {"num_hidden_layers", 32},
          {"num_attention_heads", 32},
          {"num_key_value_heads", 8},
          {"vocab_size", 128256},
          {"max_position_embeddings", 131072},
          {"rope_theta", 500000.0},
          {"rope_scaling",
           {{"rope_type", "llama3"},
            {"factor", 8.0},
            {"low_freq_factor", 1.0},
            {"high_freq_factor", 4.0},
            {"original_max_position_embeddings", 8192}}}};
}

TEST(Architectures, Llama3RopeScalingFollowsTransformers) {
  const ModelConfig c = config_from(llama31_config());
  ASSERT_EQ(c.rope_scaling.type, "llama3");
  const auto got = rope_inv_freq(c);
  ASSERT_EQ(got.size(), 64u);
  // transformers: inv_freq_llama = where(wavelen > low_wl, inv / factor, inv); smoothed from
  // it; where(is_medium, smoothed, inv_freq_llama).
  const double factor = 8, low = 1, high = 4, old_len = 8192;
  int regimes[3] = {0, 0, 0};
  for (size_t i = 0; i < got.size(); ++i) {
    const double inv = 1.0 / std::pow(500000.0, static_cast<double>(2 * i) / 128.0);
    const double wavelen = 2 * std::numbers::pi / inv;
    const double llama = wavelen > old_len / low ? inv / factor : inv;
    const double smooth = (old_len / wavelen - low) / (high - low);
    const double smoothed = (1 - smooth) * llama / factor + smooth * llama;
    const bool medium = !(wavelen < old_len / high) && !(wavelen > old_len / low);
    const double want = medium ? smoothed : llama;
    EXPECT_NEAR(got[i], want, 1e-12 * want) << i;
    ++regimes[medium ? 1 : (wavelen > old_len / low ? 2 : 0)];
  }
  EXPECT_GT(regimes[0], 0);  // kept
  EXPECT_GT(regimes[1], 0);  // interpolated
  EXPECT_GT(regimes[2], 0);  // divided by factor
  // Without scaling: theta^(-2i/d).
  auto plain = llama31_config();
  plain.erase("rope_scaling");
  EXPECT_DOUBLE_EQ(rope_inv_freq(config_from(plain))[63], 1.0 / std::pow(500000.0, 126.0 / 128));
}

TEST(Architectures, RopeScalingUnderEverySpelling) {
  auto type_key = llama31_config();  // transformers 4.x before 4.45: "type"
  type_key["rope_scaling"].erase("rope_type");
  type_key["rope_scaling"]["type"] = "llama3";
  auto v5 = llama31_config();  // transformers 5.x: rope_parameters with rope_theta inside
  v5["rope_parameters"] = v5["rope_scaling"];
  v5["rope_parameters"]["rope_theta"] = 500000.0;
  v5.erase("rope_scaling");
  v5.erase("rope_theta");
  const auto want = rope_inv_freq(config_from(llama31_config()));
  EXPECT_EQ(rope_inv_freq(config_from(type_key)), want);
  EXPECT_EQ(rope_inv_freq(config_from(v5)), want);
  auto null_scaling = llama31_config();
  null_scaling["rope_scaling"] = nullptr;
  EXPECT_EQ(config_from(null_scaling).rope_scaling.type, "default");
}

TEST(Architectures, UnsupportedRopeAndModelTypesAreOneLineErrors) {
  auto yarn = llama31_config();
  yarn["rope_scaling"]["rope_type"] = "yarn";
  EXPECT_NE(testing::error_of([&] {
              config_from(yarn);
            }).find("rope_scaling type \"yarn\" is not supported (supported: default, llama3)"),
            std::string::npos);
  auto missing = llama31_config();
  missing["rope_scaling"].erase("low_freq_factor");
  EXPECT_NE(testing::error_of([&] { config_from(missing); }).find("low_freq_factor"),
            std::string::npos);
  auto gpt2 = llama31_config();
  gpt2["model_type"] = "gpt2";
  EXPECT_NE(testing::error_of([&] {
              config_from(gpt2);
            }).find("model_type \"gpt2\" is not supported (supported: llama, mistral, qwen2)"),
            std::string::npos);
}

fs::path fixture(const testing::TempDir& dir, const std::string& shape) {
  FixtureOptions o;
  o.tokenizer = testing::shared_dir() / "tokenizers/llama2/tokenizer.model";
  write_checkpoint_fixture(find_model_shape(shape), dir / shape, o);
  return dir / shape;
}

TEST(Architectures, Qwen2HasQkvBiasesAndNoOutputBias) {
  testing::TempDir dir;
  const auto path = fixture(dir, "qwen2-tiny");
  auto m = load_model(path);
  const auto& c = m.model->config();
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_EQ(c.sliding_window, 0);
  EXPECT_EQ(c.parameter_count(), m.dtype_params.at("BF16") + m.dtype_params.at("F32"));
  auto cache = m.model->make_cache(16);
  const std::vector<int32_t> ids = {1, 450, 4996, 17354};
  const auto logits = m.model->forward(ids, cache);
  for (float v : logits) ASSERT_TRUE(std::isfinite(v));
  // use_sliding_window = true is refused, naming the field.
  auto cfg = nlohmann::json::parse(testing::read_file(path / "config.json"));
  cfg["use_sliding_window"] = true;
  testing::write_file(path / "config.json", cfg.dump());
  EXPECT_NE(testing::error_of([&] { load_model(path); }).find("use_sliding_window"),
            std::string::npos);
}

// Mistral's sliding window (transformers' sliding_window_overlay: position p sees keys
// p - window + 1 .. p). With L layers a token reaches at most L * (window - 1) positions ahead, so
// changing token 0 must leave every later logit exactly unchanged, while positions within reach
// change; prefill and token-by-token decode (the other attention path) agree.
TEST(Architectures, MistralSlidingWindowLimitsAttention) {
  testing::TempDir dir;
  const auto path = fixture(dir, "mistral-tiny");
  EXPECT_EQ(load_model(path).model->config().sliding_window, 128);
  auto cfg = nlohmann::json::parse(testing::read_file(path / "config.json"));
  cfg["sliding_window"] = 4;
  testing::write_file(path / "config.json", cfg.dump());
  auto m = load_model(path);
  const int layers = m.model->config().n_layers, window = 4;
  ASSERT_EQ(m.model->config().sliding_window, window);
  const size_t vocab = static_cast<size_t>(m.model->config().vocab_size);
  std::vector<int32_t> ids;
  for (int i = 0; i < 80; ++i) ids.push_back(100 + (i * 37) % 900);
  auto all_logits = [&](const std::vector<int32_t>& t) {
    KVCache cache = m.model->make_cache(static_cast<int>(t.size()));
    const auto out = m.model->forward(t, cache, LogitsFor::kAllTokens);
    return std::vector<float>(out.begin(), out.end());
  };
  const auto base = all_logits(ids);
  auto changed = ids;
  changed[0] = 7;
  const auto other = all_logits(changed);
  const size_t reach = static_cast<size_t>(layers * (window - 1));
  for (size_t p = 0; p < ids.size(); ++p) {
    const std::vector<float> a(base.begin() + p * vocab, base.begin() + (p + 1) * vocab);
    const std::vector<float> b(other.begin() + p * vocab, other.begin() + (p + 1) * vocab);
    if (p > reach) {
      EXPECT_EQ(a, b) << "position " << p << " sees token 0";
    } else if (p <= static_cast<size_t>(window - 1)) {
      EXPECT_NE(a, b) << "position " << p << " should see token 0";
    }
  }
  // Decode one token at a time (a cache longer than the window, as Mistral's context is).
  KVCache cache = m.model->make_cache(static_cast<int>(ids.size()));
  for (size_t p = 0; p < ids.size(); ++p) {
    const auto step = m.model->forward(std::span(ids).subspan(p, 1), cache);
    for (size_t v = 0; v < vocab; ++v)
      ASSERT_NEAR(step[v], base[p * vocab + v], 1e-3f) << "position " << p;
  }
  // A window as long as the context never applies.
  cfg["sliding_window"] = 512;
  testing::write_file(path / "config.json", cfg.dump());
  EXPECT_EQ(load_model(path).model->config().sliding_window, 0);
}

// Llama-3's eos_token_id list: every id stops generation; a bad entry names its index.
TEST(Architectures, EosTokenIdListsStopAtEveryId) {
  testing::TempDir dir;
  const auto path = fixture(dir, "llama-tiny");
  auto cfg = nlohmann::json::parse(testing::read_file(path / "config.json"));
  cfg["eos_token_id"] = {2, 7, 2, 9};
  testing::write_file(path / "config.json", cfg.dump());
  const auto m = load_model(path);
  EXPECT_EQ(m.model->config().eos_ids, (std::vector<int32_t>{2, 7, 2, 9}));
  EXPECT_EQ(m.stop_ids, (std::vector<int32_t>{2, 7, 9}));
  cfg["eos_token_id"] = {2, 1.5};
  testing::write_file(path / "config.json", cfg.dump());
  EXPECT_NE(testing::error_of([&] { load_model(path); }).find("eos_token_id[1]"),
            std::string::npos);
}

}  // namespace
}  // namespace lowbit
