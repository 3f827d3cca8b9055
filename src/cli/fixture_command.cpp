// `lowbit fixture`: a random-weight checkpoint in a real model's shape, for scale tests and
// benchmarks (io/checkpoint_fixture.h). Never in CI at the real sizes: a 7B fixture is 13.5 GB.
#include <fmt/format.h>

#include <chrono>
#include <memory>

#include "cli/commands.h"
#include "core/error.h"
#include "io/checkpoint_fixture.h"

namespace lowbit::cli {
namespace {

struct FixtureFlags {
  std::string shape;
  std::string out;
  uint64_t seed = 0;
  int layers = 0;
  uint64_t shard_mib = 5 * 1024;
  std::string dtype = "bf16";
  std::string tokenizer;
  bool list = false;
};

void run_fixture(const FixtureFlags& f) {
  if (f.list) {
    fmt::print(
        "| shape | model_type | hidden | intermediate | layers | heads | kv heads | vocab | "
        "parameters | source |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for (const auto& s : model_shapes()) {
      int64_t n = 0;
      for (const auto& t : model_shape_tensors(s, DType::BF16)) n += t.numel();
      fmt::print("| {} | {} | {} | {} | {} | {} | {} | {} | {:.2f} B | {} |\n", s.name,
                 s.model_type, s.hidden, s.intermediate, s.layers, s.heads, s.kv_heads, s.vocab,
                 static_cast<double>(n) / 1e9, s.source);
    }
    return;
  }
  if (f.shape.empty() || f.out.empty()) fail("fixture needs --shape and -o (or --list)");
  if (f.dtype != "bf16" && f.dtype != "f16") fail("--dtype must be bf16 or f16, got {}", f.dtype);
  FixtureOptions o;
  o.seed = f.seed;
  if (f.layers > 0) o.layers = f.layers;
  if (f.shard_mib == 0 || f.shard_mib > (uint64_t{1} << 30))
    fail("--shard-size must be in [1, 2^30] MiB, got {}", f.shard_mib);
  o.shard_bytes = f.shard_mib << 20;
  o.weights = f.dtype == "bf16" ? DType::BF16 : DType::F16;
  if (!f.tokenizer.empty()) o.tokenizer = f.tokenizer;
  const auto start = std::chrono::steady_clock::now();
  const auto r = write_checkpoint_fixture(find_model_shape(f.shape), f.out, o);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("wrote {}: {} ({:.3f} B parameters), {} shard(s), {:.1f} MiB in {:.1f} s\n", f.out,
             f.shape, static_cast<double>(r.parameters) / 1e9, r.shards,
             static_cast<double>(r.bytes) / (1 << 20), s);
}

}  // namespace

void register_fixture(CLI::App& app) {
  auto f = std::make_shared<FixtureFlags>();
  auto* cmd = app.add_subcommand(
      "fixture", "write a random-weight checkpoint in a real model's shape (scale tests)");
  cmd->add_option("--shape", f->shape, "model shape (--list shows them)");
  cmd->add_option("-o,--out", f->out, "output folder (must not exist)");
  cmd->add_option("--seed", f->seed, "random seed (default 0)");
  cmd->add_option("--layers", f->layers, "write only the first N decoder layers (0: all)");
  cmd->add_option("--shard-size", f->shard_mib, "largest shard in MiB (default 5120)");
  cmd->add_option("--dtype", f->dtype, "bf16 (default) or f16 for matrices; norms are f32");
  cmd->add_option("--tokenizer", f->tokenizer, "a tokenizer file to copy into the folder");
  cmd->add_flag("--list", f->list, "list the shapes");
  cmd->callback([f] { run_fixture(*f); });
}

}  // namespace lowbit::cli
