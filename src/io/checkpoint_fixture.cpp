#include "io/checkpoint_fixture.h"

#include <unistd.h>

#include <bit>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/signal_cleanup.h"

namespace lowbit {
namespace fs = std::filesystem;

namespace {

// splitmix64: a fast, well-mixed generator; one stream per tensor (seeded by the tensor's name),
// so a tensor's values do not depend on how the checkpoint is sharded.
struct SplitMix {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
};

uint64_t name_seed(uint64_t seed, const std::string& name) {
  uint64_t h = 1469598103934665603ull ^ seed;  // FNV-1a over the name
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return h;
}

uint16_t f32_to_half_bits(float f, DType dtype) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  if (dtype == DType::BF16)
    return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
  // F16 for the small magnitudes written here (|x| < 1, normal or flushed to zero).
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const int exp = static_cast<int>((bits >> 23) & 0xffu) - 127 + 15;
  if (exp <= 0) return static_cast<uint16_t>(sign);
  return static_cast<uint16_t>(sign | (static_cast<uint32_t>(exp) << 10) | ((bits >> 13) & 0x3ffu));
}

// Norm weights are 1 (as initialised); matrices and biases uniform in [-a, a] with standard
// deviation 0.02 (Hugging Face's initializer_range), so activations stay finite through a
// forward pass.
void write_tensor(std::ostream& out, const ShapeTensor& t, uint64_t seed) {
  constexpr size_t kChunk = size_t{1} << 20;
  const size_t n = static_cast<size_t>(t.numel());
  SplitMix rng{name_seed(seed, t.name)};
  const float a = 0.02f * 1.7320508f;
  if (t.dtype == DType::F32) {
    std::vector<float> buf(std::min(n, kChunk), 1.0f);
    for (size_t done = 0; done < n; done += buf.size()) {
      const size_t m = std::min(buf.size(), n - done);
      out.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(m * 4));
    }
    return;
  }
  std::vector<uint16_t> buf(std::min(n, kChunk));
  for (size_t done = 0; done < n;) {
    const size_t m = std::min(buf.size(), n - done);
    for (size_t i = 0; i < m; ++i) {
      const double u = static_cast<double>(rng.next() >> 11) * 0x1.0p-53;  // [0, 1)
      buf[i] = f32_to_half_bits(static_cast<float>((2.0 * u - 1.0) * a), t.dtype);
    }
    out.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(m * 2));
    done += m;
  }
}

std::string shard_name(int index, int count) {
  if (count == 1) return "model.safetensors";
  char name[64];
  std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", index + 1, count);
  return name;
}

}  // namespace

FixtureSummary write_checkpoint_fixture(const ModelShape& shape_in, const fs::path& dir,
                                        const FixtureOptions& o) {
  ModelShape shape = shape_in;
  if (o.layers) {
    if (*o.layers < 1 || *o.layers > shape.layers)
      fail("--layers must be in [1, {}] for {}, got {}", shape.layers, shape.name, *o.layers);
    shape.layers = *o.layers;
  }
  if (o.weights != DType::BF16 && o.weights != DType::F16)
    fail("fixture weights must be BF16 or F16, got {}", dtype_name(o.weights));
  if (o.shard_bytes < (uint64_t{1} << 20)) fail("--shard-size must be at least 1 MiB");
  std::error_code ec;
  if (fs::exists(dir, ec)) fail("{}: already exists; not overwriting", dir.string());
  if (o.tokenizer && !fs::is_regular_file(*o.tokenizer, ec))
    fail("--tokenizer {}: not a regular file", o.tokenizer->string());

  // Shards: tensors in file order, a new shard when the next tensor would pass shard_bytes.
  const auto tensors = model_shape_tensors(shape, o.weights);
  std::vector<std::vector<const ShapeTensor*>> shards(1);
  uint64_t in_shard = 0;
  FixtureSummary summary;
  for (const auto& t : tensors) {
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * dtype_size(t.dtype);
    if (in_shard > 0 && in_shard + bytes > o.shard_bytes) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(&t);
    in_shard += bytes;
    summary.parameters += t.numel();
  }
  summary.shards = static_cast<int>(shards.size());

  // Staging folder beside the target, renamed into place when complete.
  fs::path staging = dir;
  staging += ".partial." + std::to_string(::getpid());
  fs::create_directories(staging, ec);
  if (ec) fail("{}: cannot create: {}", staging.string(), ec.message());
  std::vector<std::unique_ptr<RemoveOnSignal>> on_signal;
  on_signal.push_back(std::make_unique<RemoveOnSignal>(staging, /*directory=*/true));
  try {
    nlohmann::json weight_map = nlohmann::json::object();
    uint64_t total = 0;
    for (size_t s = 0; s < shards.size(); ++s) {
      const std::string name = shard_name(static_cast<int>(s), summary.shards);
      nlohmann::json header = {{"__metadata__", {{"format", "pt"}}}};
      uint64_t offset = 0;
      for (const ShapeTensor* t : shards[s]) {
        const uint64_t bytes = static_cast<uint64_t>(t->numel()) * dtype_size(t->dtype);
        header[t->name] = {{"dtype", dtype_name(t->dtype)},
                           {"shape", t->shape},
                           {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
        weight_map[t->name] = name;
      }
      std::string h = header.dump();
      h.append((8 - h.size() % 8) % 8, ' ');
      const fs::path file = staging / name;
      write_file_atomically(file, [&](std::ostream& out) {
        const uint64_t len = h.size();
        out.write(reinterpret_cast<const char*>(&len), 8);
        out.write(h.data(), static_cast<std::streamsize>(h.size()));
        for (const ShapeTensor* t : shards[s]) write_tensor(out, *t, o.seed);
      });
      on_signal.push_back(std::make_unique<RemoveOnSignal>(file));
      summary.bytes += 8 + h.size() + offset;
      total += offset;
    }
    const auto write_text = [&](const std::string& name, const std::string& text) {
      write_file_atomically(staging / name, [&](std::ostream& out) { out << text; });
      on_signal.push_back(std::make_unique<RemoveOnSignal>(staging / name));
    };
    write_text("config.json", model_shape_config(shape).dump(2) + "\n");
    if (summary.shards > 1) {
      const nlohmann::json index = {{"metadata", {{"total_size", total}}},
                                    {"weight_map", weight_map}};
      write_text("model.safetensors.index.json", index.dump(2) + "\n");
    }
    if (o.tokenizer) {
      fs::copy_file(*o.tokenizer, staging / o.tokenizer->filename(), ec);
      if (ec) fail("--tokenizer {}: cannot copy: {}", o.tokenizer->string(), ec.message());
      on_signal.push_back(std::make_unique<RemoveOnSignal>(staging / o.tokenizer->filename()));
    }
    fs::rename(staging, dir, ec);
    if (ec)
      fail("{}: cannot rename {} into place: {}", dir.string(), staging.string(), ec.message());
  } catch (...) {
    fs::remove_all(staging, ec);
    throw;
  }
  return summary;
}

}  // namespace lowbit
