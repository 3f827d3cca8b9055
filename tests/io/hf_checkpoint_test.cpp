#include "io/hf_checkpoint.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>

#include "core/error.h"
#include "io/checkpoint_fixture.h"
#include "io/model_loader.h"
#include "io/safetensors.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

using testing::TempDir;
using testing::TinyModelSpec;

std::vector<float> last_logits(LoadedModel& m, std::vector<int32_t> ids) {
  KVCache cache = m.model->make_cache(static_cast<int>(ids.size()));
  const auto logits = m.model->forward(ids, cache);
  return {logits.begin(), logits.end()};
}

void expect_load_error(const std::filesystem::path& dir, const std::string& needle) {
  try {
    load_model(dir);
    FAIL() << "no error; expected one mentioning: " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(HfCheckpoint, LoadsTinyModelAndRuns) {
  TempDir dir;
  testing::write_tiny_checkpoint(dir.path(), {});
  LoadedModel m = load_model(dir.path());
  EXPECT_EQ(m.model->config().n_kv_heads, 2);
  EXPECT_TRUE(m.model->config().tied_embeddings);
  EXPECT_EQ(m.dtype_params.at("F32"), m.model->config().parameter_count());
  for (float v : last_logits(m, {1, 5, 9, 300})) EXPECT_TRUE(std::isfinite(v));
}

// The loader widens BF16 to fp32 exactly (the low 16 bits become zero), so a BF16 checkpoint and
// the F32 checkpoint of the same rounded values give the same logits, bit for bit.
TEST(HfCheckpoint, Bf16MatchesF32OfRoundedWeights) {
  TinyModelSpec spec;
  spec.dtype = "BF16";
  TempDir bf16, f32;
  testing::write_tiny_checkpoint(bf16.path(), spec);
  testing::write_tiny_checkpoint(f32.path(), spec);
  auto tensors = testing::tiny_tensors(spec);
  for (auto& [name, t] : tensors) {
    ASSERT_EQ(t.dtype, "BF16") << name;
    std::vector<float> widened(t.bytes.size() / 2);
    for (size_t i = 0; i < widened.size(); ++i) {
      const uint32_t hi = t.bytes[2 * i] | (uint32_t{t.bytes[2 * i + 1]} << 8);
      widened[i] = std::bit_cast<float>(hi << 16);
    }
    t = testing::f32_tensor(t.shape, widened);
  }
  testing::write_file(f32 / "model.safetensors", testing::safetensors_bytes(tensors));
  LoadedModel mb = load_model(bf16.path());
  LoadedModel mf = load_model(f32.path());
  EXPECT_EQ(mb.dtype_params.at("BF16"), mb.model->config().parameter_count());
  EXPECT_EQ(mf.dtype_params.at("F32"), mf.model->config().parameter_count());
  const std::vector<int32_t> ids = {1, 2, 3, 200, 511, 40, 7};
  KVCache cb = mb.model->make_cache(16), cf = mf.model->make_cache(16);
  const auto lb = mb.model->forward(ids, cb, LogitsFor::kAllTokens);
  const std::vector<float> logits_b(lb.begin(), lb.end());
  const auto lf = mf.model->forward(ids, cf, LogitsFor::kAllTokens);
  ASSERT_EQ(logits_b.size(), lf.size());
  for (size_t i = 0; i < lf.size(); ++i) ASSERT_EQ(logits_b[i], lf[i]) << i;
  // The rounding is real: the unrounded F32 model differs.
  TempDir full;
  testing::write_tiny_checkpoint(full.path(), TinyModelSpec{});
  LoadedModel mu = load_model(full.path());
  KVCache cu = mu.model->make_cache(16);
  const auto lu = mu.model->forward(ids, cu, LogitsFor::kAllTokens);
  double max_diff = 0;
  for (size_t i = 0; i < lu.size(); ++i)
    max_diff = std::max(max_diff, std::fabs(double(lu[i]) - logits_b[i]));
  EXPECT_GT(max_diff, 1e-3);
}

TEST(HfCheckpoint, UntiedWithBiases) {
  TinyModelSpec spec;
  spec.tied = false;
  spec.attention_bias = true;
  spec.mlp_bias = true;
  TempDir dir;
  testing::write_tiny_checkpoint(dir.path(), spec);
  LoadedModel m = load_model(dir.path());
  EXPECT_FALSE(m.model->config().tied_embeddings);
  EXPECT_EQ(m.model->config().parameter_count(), m.dtype_params.at("F32"));
  for (float v : last_logits(m, {1, 2, 3})) EXPECT_TRUE(std::isfinite(v));
}

TEST(HfCheckpoint, ShardedEqualsSingleFile) {
  TinyModelSpec spec;
  TempDir single, sharded;
  testing::write_tiny_checkpoint(single.path(), spec);
  testing::write_tiny_checkpoint(sharded.path(), spec);
  std::filesystem::remove(sharded / "model.safetensors");
  // Alternate tensors between two shards.
  const auto tensors = testing::tiny_tensors(spec);
  std::map<std::string, testing::RawTensor> a, b;
  nlohmann::json index = {{"metadata", {{"total_size", 0}}},
                          {"weight_map", nlohmann::json::object()}};
  int i = 0;
  for (const auto& [name, t] : tensors) {
    const bool first = (i++ % 2) == 0;
    (first ? a : b)[name] = t;
    index["weight_map"][name] =
        first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  testing::write_file(sharded / "model-00001-of-00002.safetensors", testing::safetensors_bytes(a));
  testing::write_file(sharded / "model-00002-of-00002.safetensors", testing::safetensors_bytes(b));
  testing::write_file(sharded / "model.safetensors.index.json", index.dump());
  LoadedModel ms = load_model(single.path());
  LoadedModel mh = load_model(sharded.path());
  EXPECT_EQ(last_logits(ms, {1, 7, 8}), last_logits(mh, {1, 7, 8}));
}

// A prefill runs fused causal attention (kernels/attention.h; on AVX-512 a head size of 16 takes
// the vector tiles, 8 the reference) over two query blocks and two key blocks; decode steps run
// matrix-vector products. Their logits agree to rounding.
TEST(HfCheckpoint, PrefillEqualsTokenByTokenDecode) {
  TinyModelSpec head16;
  head16.dim = 64;
  head16.hidden = 96;
  for (const TinyModelSpec& spec : {TinyModelSpec{}, head16}) {
    TempDir dir;
    testing::write_tiny_checkpoint(dir.path(), spec);
    LoadedModel m = load_model(dir.path());
    std::vector<int32_t> ids = {1};
    for (int32_t i = 1; i < 100; ++i) ids.push_back(3 + (i * 37) % 500);
    KVCache full = m.model->make_cache(128);
    const auto all = m.model->forward(ids, full, LogitsFor::kAllTokens);
    const std::vector<float> batched(all.begin(), all.end());
    KVCache step = m.model->make_cache(128);
    const size_t vocab = 512;
    for (size_t t = 0; t < ids.size(); ++t) {
      const auto one = m.model->forward(std::span(ids).subspan(t, 1), step);
      for (size_t v = 0; v < vocab; ++v)
        ASSERT_NEAR(one[v], batched[t * vocab + v], 1e-4) << "dim " << spec.dim << " token " << t;
    }
  }
}

// Decode steps over a quantized cache read the integer codes directly (kernels/kv_attention.h);
// a prefill dequantizes the cache and runs sgemm. Both see the same cached values, so their
// logits agree to rounding, symmetric and asymmetric, 8-bit and packed 4-bit.
TEST(HfCheckpoint, QuantizedCacheDecodeMatchesPrefill) {
  TempDir dir;
  testing::write_tiny_checkpoint(dir.path(), {});
  LoadedModel m = load_model(dir.path());
  const std::vector<int32_t> ids = {1, 40, 41, 42, 100, 200, 7, 9, 300, 400, 5, 6};
  const size_t vocab = 512;
  for (int bits : {8, 4})
    for (bool symmetric : {false, true}) {
      m.model->set_kv_quant(QuantSpec{bits, symmetric, 0, 1.0f, false});
      KVCache full = m.model->make_cache(64);
      ASSERT_TRUE(full.spec().enabled());
      const auto all = m.model->forward(ids, full, LogitsFor::kAllTokens);
      const std::vector<float> batched(all.begin(), all.end());
      KVCache step = m.model->make_cache(64);
      for (size_t t = 0; t < ids.size(); ++t) {
        const auto one = m.model->forward(std::span(ids).subspan(t, 1), step);
        for (size_t v = 0; v < vocab; ++v)
          ASSERT_NEAR(one[v], batched[t * vocab + v], 1e-4) << bits << " " << symmetric << " " << t;
      }
    }
}

TEST(HfCheckpoint, WrongShapeVersusConfig) {
  TempDir dir;
  testing::write_tiny_checkpoint(dir.path(), {});
  TinyModelSpec other;
  other.hidden = 40;  // config says 40, tensors have 48
  testing::write_file(dir / "config.json", testing::tiny_config(other).dump());
  expect_load_error(dir.path(), "config.json implies");
}

TEST(HfCheckpoint, UnknownModelType) {
  TempDir dir;
  testing::write_tiny_checkpoint(dir.path(), {});
  auto cfg = testing::tiny_config({});
  cfg["model_type"] = "gpt_neox";
  testing::write_file(dir / "config.json", cfg.dump());
  expect_load_error(dir.path(), "model_type \"gpt_neox\"");
}

TEST(HfCheckpoint, UnsupportedRopeScaling) {
  TempDir dir;
  testing::write_tiny_checkpoint(dir.path(), {});
  auto cfg = testing::tiny_config({});
  cfg["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}};
  testing::write_file(dir / "config.json", cfg.dump());
  expect_load_error(dir.path(), "rope_scaling");
}

TEST(HfCheckpoint, MissingRequiredField) {
  TempDir dir;
  testing::write_tiny_checkpoint(dir.path(), {});
  auto cfg = testing::tiny_config({});
  cfg.erase("hidden_size");
  testing::write_file(dir / "config.json", cfg.dump());
  expect_load_error(dir.path(), "missing field hidden_size");
}

TEST(HfCheckpoint, HeadsNotDividingKvHeads) {
  TempDir dir;
  testing::write_tiny_checkpoint(dir.path(), {});
  auto cfg = testing::tiny_config({});
  cfg["num_key_value_heads"] = 3;
  testing::write_file(dir / "config.json", cfg.dump());
  expect_load_error(dir.path(), "num_key_value_heads 3");
}

TEST(HfCheckpoint, MissingTensor) {
  TempDir dir;
  testing::write_tiny_checkpoint(dir.path(), {});
  auto tensors = testing::tiny_tensors({});
  tensors.erase("model.layers.1.mlp.up_proj.weight");
  testing::write_file(dir / "model.safetensors", testing::safetensors_bytes(tensors));
  expect_load_error(dir.path(), "model.layers.1.mlp.up_proj.weight");
}

TEST(HfCheckpoint, MissingWeightsFile) {
  TempDir dir;
  testing::write_tiny_checkpoint(dir.path(), {});
  std::filesystem::remove(dir / "model.safetensors");
  expect_load_error(dir.path(), "no model.safetensors");
}

TEST(HfCheckpoint, RopeThetaTopLevelAndNested) {
  TempDir dir;
  auto cfg = testing::tiny_config({});
  cfg["rope_theta"] = 500000.0;
  testing::write_file(dir / "config.json", cfg.dump());
  EXPECT_DOUBLE_EQ(read_hf_config(dir / "config.json").rope_theta, 500000.0);
  cfg.erase("rope_theta");
  cfg["rope_parameters"] = {{"rope_theta", 250000.0}, {"rope_type", "default"}};
  testing::write_file(dir / "config.json", cfg.dump());
  EXPECT_DOUBLE_EQ(read_hf_config(dir / "config.json").rope_theta, 250000.0);
  cfg["head_dim"] = 16;
  testing::write_file(dir / "config.json", cfg.dump());
  EXPECT_EQ(read_hf_config(dir / "config.json").head_dim, 16);
}

TEST(HfCheckpoint, RefLlamaConfig) {
  const auto c = read_hf_config(testing::ref_llama_dir() / "config.json");
  EXPECT_EQ(c.dim, 384);
  EXPECT_EQ(c.n_heads, 6);
  EXPECT_EQ(c.n_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(c.parameter_count(), 24877440);
}

}  // namespace
}  // namespace lowbit

namespace lowbit {
namespace {

// A three-shard llama-tiny fixture (io/checkpoint_fixture.h) to tamper with.
std::filesystem::path sharded_fixture(const TempDir& dir) {
  FixtureOptions o;
  o.shard_bytes = uint64_t{2} << 20;
  write_checkpoint_fixture(find_model_shape("llama-tiny"), dir / "ckpt", o);
  return dir / "ckpt";
}

nlohmann::json read_index(const std::filesystem::path& ckpt) {
  return nlohmann::json::parse(testing::read_file(ckpt / "model.safetensors.index.json"));
}
void write_index(const std::filesystem::path& ckpt, const nlohmann::json& index) {
  testing::write_file(ckpt / "model.safetensors.index.json", index.dump());
}

TEST(HfCheckpointShards, AShardListedButMissing) {
  TempDir dir;
  const auto ckpt = sharded_fixture(dir);
  std::filesystem::remove(ckpt / "model-00002-of-00003.safetensors");
  expect_load_error(ckpt, "lists shard model-00002-of-00003.safetensors, which is missing");
}

TEST(HfCheckpointShards, AnIndexNamingATensorAbsentFromItsShard) {
  TempDir dir;
  const auto ckpt = sharded_fixture(dir);
  auto index = read_index(ckpt);
  const std::string actual = index["weight_map"]["model.norm.weight"];
  const std::string other = actual == "model-00001-of-00003.safetensors"
                                ? "model-00002-of-00003.safetensors"
                                : "model-00001-of-00003.safetensors";
  index["weight_map"]["model.norm.weight"] = other;
  write_index(ckpt, index);
  expect_load_error(ckpt, "weight_map says tensor \"model.norm.weight\" is in " + other +
                              ", but it is in " + actual);
  index["weight_map"]["model.layers.9.mlp.up_proj.weight"] = other;
  index["weight_map"]["model.norm.weight"] = actual;
  write_index(ckpt, index);
  expect_load_error(
      ckpt, "\"model.layers.9.mlp.up_proj.weight\" is in " + other + ", but no shard has it");
}

TEST(HfCheckpointShards, ATensorInTwoShards) {
  TempDir dir;
  const auto ckpt = sharded_fixture(dir);
  testing::write_file(
      ckpt / "extra.safetensors",
      testing::safetensors_bytes(
          {{"model.norm.weight", testing::f32_tensor({64}, std::vector<float>(64, 1.f))}}));
  auto index = read_index(ckpt);
  index["weight_map"]["model.norm.weight"] = "extra.safetensors";
  write_index(ckpt, index);
  expect_load_error(ckpt, "tensor \"model.norm.weight\" is in two shards");
}

TEST(HfCheckpointShards, ADtypeTheLoaderCannotRead) {
  TempDir dir;
  const auto ckpt = sharded_fixture(dir);
  auto index = read_index(ckpt);
  const std::string shard = index["weight_map"]["model.norm.weight"];
  // Rewrite that shard with model.norm.weight stored as I32.
  const SafetensorsFile original(ckpt / shard);
  std::map<std::string, testing::RawTensor> tensors;
  for (const auto& [name, info] : original.tensors()) {
    testing::RawTensor t;
    t.shape = info.shape;
    if (name == "model.norm.weight") {
      t.dtype = "I32";
      t.bytes.assign(static_cast<size_t>(info.numel()) * 4, 0);
    } else {
      const auto v = original.to_f32(name);
      t = testing::f32_tensor(info.shape, v);
    }
    tensors[name] = t;
  }
  testing::write_file(ckpt / shard, testing::safetensors_bytes(tensors));
  expect_load_error(ckpt, "model.norm.weight");
}

}  // namespace
}  // namespace lowbit

namespace lowbit {
namespace {

// Found by the fuzzer: a shard name longer than the file system allows made the existence check
// throw std::filesystem::filesystem_error (a non-lowbit exception) instead of naming the shard.
TEST(HfCheckpointShards, AShardNameTooLongForTheFileSystem) {
  TempDir dir;
  const auto ckpt = sharded_fixture(dir);
  auto index = read_index(ckpt);
  index["weight_map"]["model.norm.weight"] = std::string(300, 'a') + ".safetensors";
  write_index(ckpt, index);
  expect_load_error(ckpt, "which is missing");
}

}  // namespace
}  // namespace lowbit
