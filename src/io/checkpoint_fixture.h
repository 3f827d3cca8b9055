#pragma once
// Writes a random-weight Hugging Face checkpoint in a named real shape (io/model_shapes.h):
// config.json, sharded safetensors with model.safetensors.index.json (one model.safetensors when
// it fits one shard), optionally a tokenizer file copied beside them. Tensors are generated and
// written piece by piece, so a 13B checkpoint needs a few MB of memory, not its size. The folder
// appears complete or not at all: everything is written into a staging folder renamed at the end
// (removed on error or SIGINT/SIGTERM).
#include <cstdint>
#include <filesystem>
#include <optional>

#include "io/model_shapes.h"

namespace lowbit {

struct FixtureOptions {
  uint64_t seed = 0;
  std::optional<int> layers;  // fewer decoder layers than the shape (a partial model)
  uint64_t shard_bytes = uint64_t{5} << 30;        // Hugging Face's default max_shard_size (5 GB)
  DType weights = DType::BF16;                     // matrices and biases; norms are F32
  std::optional<std::filesystem::path> tokenizer;  // copied into the folder under its own name
};

struct FixtureSummary {
  int shards = 0;
  uint64_t bytes = 0;  // safetensors data and headers
  int64_t parameters = 0;
};

FixtureSummary write_checkpoint_fixture(const ModelShape& shape, const std::filesystem::path& dir,
                                        const FixtureOptions& options);

}  // namespace lowbit
