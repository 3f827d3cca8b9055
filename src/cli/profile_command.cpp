// `lowbit profile`: where a prefill's time goes, operator by operator (core/op_profile.h) —
// the latency breakdown Agile-Quant measures on edge CPUs to decide what to quantize and prune.
// Run it under LOWBIT_ISA=avx2 to stand in for a core without int8 dot-product instructions.
#include <fmt/format.h>

#include <algorithm>
#include <random>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/prune_flags.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/qgemm.h"
#include "text/document.h"
#include "text/text_file.h"

namespace lowbit::cli {
namespace {

struct ProfileFlags {
  ModelFlags model;
  int prompt = 512;
  int reps = 3;
  int decode_rows = 0;  // > 0: profile batched decode steps of this many sequences instead
  std::string prompt_file;
  PruneFlags prune;
};

void run_profile(const ProfileFlags& f) {
  if (f.prompt < 2 || f.reps < 1) fail("--prompt must be >= 2 and --reps >= 1");
  if (f.decode_rows < 0) fail("--decode-rows must be >= 0, got {}", f.decode_rows);
  f.prune.check();
  LoadedModel m = load_from_flags(f.model);
  auto& model = *m.model;
  const auto& c = model.config();
  if (f.prompt > c.max_seq_len)
    fail("profile: --prompt {} exceeds the model's {} positions", f.prompt, c.max_seq_len);
  apply_prune_flags(f.prune, m, f.prompt, false);
  std::vector<int32_t> ids(static_cast<size_t>(f.prompt));
  std::mt19937 rng(0);
  for (auto& id : ids)
    id = static_cast<int32_t>(3 + rng() % static_cast<uint32_t>(c.vocab_size - 3));
  ids[0] = 1;
  const std::string file = !f.prompt_file.empty() ? f.prompt_file : f.prune.calib;
  if (!file.empty()) {
    const auto text_ids = tokenize_document(*m.tokenizer, read_text_file(file), ids.size());
    if (text_ids.size() < ids.size())
      fail("profile: {} has {} tokens, fewer than --prompt {}", file, text_ids.size(), f.prompt);
    std::copy_n(text_ids.begin(), ids.size(), ids.begin());
  }
  ForwardProfile profile;
  std::string what;
  if (f.decode_rows > 0) {
    // Each sequence holds the prompt; every timed step adds one token to each and is undone.
    std::vector<KVCache> caches;
    std::vector<KVCache*> pointers;
    for (int r = 0; r < f.decode_rows; ++r) {
      caches.push_back(model.make_cache(f.prompt + 1));
      model.forward(std::span(ids).first(ids.size() - 1), caches.back());
    }
    for (auto& cache : caches) pointers.push_back(&cache);
    const std::vector<int32_t> tokens(static_cast<size_t>(f.decode_rows), ids.back());
    const auto step = [&] {
      for (auto& cache : caches) cache.truncate(f.prompt - 1);
      model.forward_batch(tokens, pointers);
    };
    for (int r = 0; r < 10; ++r) step();  // warm-up
    model.set_profile(&profile);
    for (int r = 0; r < f.reps; ++r) step();
    what = fmt::format("decode step of {} sequences after {} tokens", f.decode_rows, f.prompt - 1);
  } else {
    KVCache cache = model.make_cache(f.prompt);
    model.forward(ids, cache);  // warm-up: pages in the weights, sizes the buffers
    model.set_profile(&profile);
    for (int r = 0; r < f.reps; ++r) {
      cache.clear();
      model.forward(ids, cache);
    }
    what = fmt::format("prefill of {} tokens (logits of the last)", f.prompt);
  }
  model.set_profile(nullptr);
  const double total = profile.total();
  fmt::print("{}: {}, {} threads, kernels {}; mean of {} runs: {:.3f} ms\n\n", f.model.model, what,
             thread_pool().size(), kernels::isa_name(kernels::qgemm_isa()), f.reps,
             1e3 * total / f.reps);
  fmt::print("| operator | ms | share |\n| --- | ---: | ---: |\n");
  for (size_t i = 0; i < profile.seconds.size(); ++i) {
    const double s = profile.seconds[i];
    if (s == 0) continue;
    fmt::print("| {} | {:.3f} | {:.1f}% |\n", forward_op_name(static_cast<ForwardOp>(i)),
               1e3 * s / f.reps, 100 * s / total);
  }
  fmt::print(
      "\nThe \"of which\" rows are parts of the projection rows (quantized layers), not added to "
      "the total.\n");
}

}  // namespace

void register_profile(CLI::App& app) {
  auto flags = std::make_shared<ProfileFlags>();
  auto* cmd = app.add_subcommand(
      "profile", "time per operator of a prefill or a batched decode step (Markdown table)");
  add_model_flags(*cmd, flags->model);
  cmd->add_option("--prompt", flags->prompt, "prefill length in tokens");
  cmd->add_option("--reps", flags->reps, "timed prefills (the table is their mean)");
  cmd->add_option("--decode-rows", flags->decode_rows,
                  "time batched decode steps of this many sequences (each holding --prompt - 1 "
                  "tokens) instead of a prefill: a `lowbit serve` step");
  cmd->add_option("--prompt-file", flags->prompt_file,
                  "text whose first tokens the prefill reads (default: --prune-calib when pruning, "
                  "else random token ids)");
  add_prune_flags(*cmd, flags->prune);
  cmd->callback([flags] { run_profile(*flags); });
}

}  // namespace lowbit::cli
