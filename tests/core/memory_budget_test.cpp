// The memory guard (core/memory_budget.h): sizes parse or fail naming the variable, the detected
// limit is positive on this machine, and a model that cannot fit is refused before loading with
// one line naming the need, the limit and its source (through LOWBIT_MEMORY_LIMIT).
#include "core/memory_budget.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "core/error.h"
#include "io/checkpoint_fixture.h"
#include "io/model_loader.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

// Sets LOWBIT_MEMORY_LIMIT for one scope.
class ScopedLimit {
 public:
  explicit ScopedLimit(const char* value) { ::setenv("LOWBIT_MEMORY_LIMIT", value, 1); }
  ~ScopedLimit() { ::unsetenv("LOWBIT_MEMORY_LIMIT"); }
  ScopedLimit(const ScopedLimit&) = delete;
  ScopedLimit& operator=(const ScopedLimit&) = delete;
};

TEST(MemoryBudget, ParsesSizes) {
  EXPECT_EQ(parse_byte_size("4096", "x"), 4096u);
  EXPECT_EQ(parse_byte_size("8K", "x"), 8192u);
  EXPECT_EQ(parse_byte_size("512M", "x"), uint64_t{512} << 20);
  EXPECT_EQ(parse_byte_size("1.5G", "x"), uint64_t{3} << 29);
  EXPECT_EQ(parse_byte_size("2TiB", "x"), uint64_t{2} << 40);
  for (const char* bad : {"", "G", "12Q", "-1", "1e30", "nan", "8 G"})
    EXPECT_NE(testing::error_of([&] {
                parse_byte_size(bad, "LOWBIT_MEMORY_LIMIT");
              }).find("LOWBIT_MEMORY_LIMIT"),
              std::string::npos)
        << bad;
}

TEST(MemoryBudget, DetectsALimitAndTheOverrideReplacesIt) {
  const MemoryLimit detected = available_memory();
  EXPECT_GT(detected.bytes, uint64_t{64} << 20);
  EXPECT_FALSE(detected.source.empty());
  const ScopedLimit limit("3M");
  EXPECT_EQ(available_memory().bytes, uint64_t{3} << 20);
  EXPECT_EQ(available_memory().source, "LOWBIT_MEMORY_LIMIT");
  EXPECT_NO_THROW(require_memory(uint64_t{2} << 20, "x", "y"));
  EXPECT_EQ(testing::error_of([] { require_memory(uint64_t{5} << 20, "loading m", "use less"); }),
            "loading m needs about 5.0 MiB, more than the 3.0 MiB that LOWBIT_MEMORY_LIMIT "
            "allows; use less");
}

TEST(MemoryBudget, AModelThatCannotFitIsRefusedBeforeLoading) {
  testing::TempDir dir;
  FixtureOptions o;
  o.tokenizer = testing::shared_dir() / "tokenizers/llama2/tokenizer.model";
  write_checkpoint_fixture(find_model_shape("llama-tiny"), dir / "m", o);
  {
    const ScopedLimit limit("16M");  // the bf16 weights are 9 MB, plus 64 MiB of headroom
    const std::string e = testing::error_of([&] { load_model(dir / "m"); });
    EXPECT_NE(e.find("needs about"), std::string::npos) << e;
    EXPECT_NE(e.find("LOWBIT_MEMORY_LIMIT"), std::string::npos) << e;
    EXPECT_NE(e.find((dir / "m").string()), std::string::npos) << e;
  }
  EXPECT_NO_THROW(load_model(dir / "m"));
  const ScopedLimit limit("lots");
  EXPECT_NE(testing::error_of([&] { load_model(dir / "m"); }).find("is not a size"),
            std::string::npos);
}

// `lowbit quantize` streams the model layer by layer, so its guard counts one layer, the tables
// and the calibration streams (which grow with the calibration tokens), not the whole checkpoint.
TEST(MemoryBudget, QuantizationCountsOneLayerAndItsCalibration) {
  testing::TempDir dir;
  FixtureOptions o;
  o.tokenizer = testing::shared_dir() / "tokenizers/llama2/tokenizer.model";
  write_checkpoint_fixture(find_model_shape("llama-tiny"), dir / "m", o);
  LoadOptions streamed;
  streamed.residency = {true, 0};
  {
    const ScopedLimit limit("95M");
    EXPECT_NO_THROW(load_model(dir / "m", {}, streamed));
    streamed.residency.calibration_tokens = 128 * 512;  // 2 streams x 64 dims x 4 bytes: 32 MiB
    const std::string e = testing::error_of([&] { load_model(dir / "m", {}, streamed); });
    EXPECT_NE(e.find("layer by layer"), std::string::npos) << e;
    EXPECT_NE(e.find("--calib-samples"), std::string::npos) << e;
  }
}

}  // namespace
}  // namespace lowbit
