// Random-weight checkpoints in real shapes (io/checkpoint_fixture.h): the written folder loads as
// a Hugging Face checkpoint with the shape's config and tensors, shards split as asked with an
// index, the values are deterministic per seed and independent of sharding, and bad requests
// fail before anything is written.
#include "io/checkpoint_fixture.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "io/hf_checkpoint.h"
#include "io/safetensors.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

TEST(CheckpointFixture, RealShapesHaveTheirPublishedParameterCounts) {
  const auto count = [](const std::string& name) {
    int64_t n = 0;
    for (const auto& t : model_shape_tensors(find_model_shape(name), DType::BF16)) n += t.numel();
    return static_cast<double>(n) / 1e9;
  };
  // The parameter counts the model cards give (rounded as published).
  EXPECT_NEAR(count("tinyllama-1.1b"), 1.10, 0.01);
  EXPECT_NEAR(count("llama-2-7b"), 6.74, 0.01);
  EXPECT_NEAR(count("llama-2-13b"), 13.02, 0.01);
  EXPECT_NEAR(count("llama-3-8b"), 8.03, 0.01);
  EXPECT_NEAR(count("mistral-7b"), 7.24, 0.01);
  EXPECT_NEAR(count("qwen2.5-7b"), 7.62, 0.01);
  EXPECT_NE(testing::error_of([] { find_model_shape("llama-9b"); }).find("known: tinyllama-1.1b"),
            std::string::npos);
}

TEST(CheckpointFixture, WritesALoadableShardedCheckpoint) {
  testing::TempDir dir;
  FixtureOptions o;
  o.shard_bytes = uint64_t{2} << 20;  // 2 MiB: the 4 MB embedding alone, then the layers
  o.tokenizer = testing::shared_dir() / "tokenizers/llama2/tokenizer.model";
  const auto r = write_checkpoint_fixture(find_model_shape("llama-tiny"), dir / "ckpt", o);
  EXPECT_GE(r.shards, 3);
  EXPECT_TRUE(fs::exists(dir / "ckpt/model.safetensors.index.json"));
  EXPECT_TRUE(fs::exists(dir / "ckpt/tokenizer.model"));
  for (const auto& e : fs::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename(), "ckpt") << "staging left behind";

  const auto cfg = read_hf_config(dir / "ckpt/config.json");
  EXPECT_EQ(cfg.dim, 64);
  EXPECT_EQ(cfg.n_layers, 2);
  EXPECT_EQ(cfg.n_kv_heads, 2);
  const auto ckpt = load_hf_checkpoint(dir / "ckpt");
  EXPECT_EQ(ckpt.dtype_params.at("BF16") + ckpt.dtype_params.at("F32"), r.parameters);
  EXPECT_EQ(ckpt.dtype_params.at("F32"), 64 * 5);  // 2 norms per layer and the final one
}

TEST(CheckpointFixture, ValuesAreDeterministicAndIndependentOfSharding) {
  testing::TempDir dir;
  FixtureOptions one, many;
  one.seed = many.seed = 7;
  many.shard_bytes = uint64_t{1} << 20;
  const auto& shape = find_model_shape("llama-tiny");
  write_checkpoint_fixture(shape, dir / "one", one);
  write_checkpoint_fixture(shape, dir / "many", many);
  FixtureOptions other = one;
  other.seed = 8;
  write_checkpoint_fixture(shape, dir / "other", other);
  const SafetensorsFile a(dir / "one/model.safetensors");
  const auto name = "model.layers.1.mlp.down_proj.weight";
  const auto x = a.to_f32(name);
  const SafetensorsFile b(dir / "other/model.safetensors");
  EXPECT_NE(x, b.to_f32(name));
  // Find the shard of `name` in the sharded copy.
  bool found = false;
  for (const auto& e : fs::directory_iterator(dir / "many")) {
    if (e.path().extension() != ".safetensors") continue;
    const SafetensorsFile s(e.path());
    if (s.contains(name)) {
      EXPECT_EQ(s.to_f32(name), x);
      found = true;
    }
  }
  EXPECT_TRUE(found);
  double sum2 = 0;
  for (float v : x) sum2 += v * v;
  EXPECT_NEAR(std::sqrt(sum2 / static_cast<double>(x.size())), 0.02, 0.002);
}

TEST(CheckpointFixture, BadRequestsFailBeforeWriting) {
  testing::TempDir dir;
  const auto& shape = find_model_shape("llama-tiny");
  FixtureOptions o;
  o.layers = 3;
  EXPECT_NE(testing::error_of([&] {
              write_checkpoint_fixture(shape, dir / "x", o);
            }).find("--layers must be in [1, 2]"),
            std::string::npos);
  fs::create_directories(dir / "exists");
  EXPECT_NE(testing::error_of([&] {
              write_checkpoint_fixture(shape, dir / "exists", {});
            }).find("already exists"),
            std::string::npos);
  o = {};
  o.tokenizer = dir / "missing.model";
  EXPECT_NE(testing::error_of([&] {
              write_checkpoint_fixture(shape, dir / "y", o);
            }).find("not a regular file"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "x"));
  EXPECT_FALSE(fs::exists(dir / "y"));
}

}  // namespace
}  // namespace lowbit
