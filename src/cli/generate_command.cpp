#include <fmt/format.h>

#include <cstdio>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/prune_flags.h"
#include "core/error.h"
#include "core/utf8.h"
#include "model/generator.h"
#include "text/document.h"

namespace lowbit::cli {
namespace {

struct GenerateFlags {
  ModelFlags model;
  std::string prompt;
  int n = 128;
  float temp = 0.0f;
  float top_p = 1.0f;
  uint64_t seed = 0;
  bool stats = false;
  PruneFlags prune;
};

void run_generate(const GenerateFlags& f) {
  if (const size_t bad = find_invalid_utf8(f.prompt); bad != std::string::npos)
    fail("prompt is not valid UTF-8 (byte offset {})", bad);
  f.prune.check();
  LoadedModel m = load_from_flags(f.model);
  apply_prune_flags(f.prune, m, 512, false);
  const std::vector<int32_t> ids = tokenize_document(*m.tokenizer, f.prompt);
  if (ids.empty()) fail("prompt is empty and the tokenizer adds no BOS token");

  GenerateOptions opts;
  opts.max_new_tokens = f.n;
  opts.sampler = {f.temp, f.top_p, f.seed};
  opts.stop_ids = m.stop_ids;
  fmt::print("{}", f.prompt);
  std::fflush(stdout);
  const auto stats = generate(*m.model, *m.tokenizer, ids, opts, [](std::string_view text) {
    if (text.empty()) return;
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  });
  fmt::print("\n");
  std::fflush(stdout);
  if (f.stats) {
    fmt::print(stderr, "prefill: {} tokens in {:.3f} s ({:.1f} tokens/s)\n", stats.prompt_tokens,
               stats.prefill_seconds, stats.prompt_tokens / std::max(1e-9, stats.prefill_seconds));
    fmt::print(stderr, "decode: {} tokens in {:.3f} s ({:.1f} tokens/s)\n", stats.new_ids.size(),
               stats.decode_seconds,
               static_cast<double>(stats.new_ids.size()) / std::max(1e-9, stats.decode_seconds));
    if (m.model->token_pruning().enabled())
      fmt::print(stderr, "token pruning: {:.1f}% of the prefill's token-layers removed\n",
                 100 * m.model->pruning_counts().removed_fraction());
  }
}

}  // namespace

void register_generate(CLI::App& app) {
  auto flags = std::make_shared<GenerateFlags>();
  auto* cmd = app.add_subcommand("generate", "generate text from a prompt, streamed to stdout");
  add_model_flags(*cmd, flags->model, /*bundled_default=*/true);
  cmd->add_option("-p,--prompt", flags->prompt, "prompt text (may be empty)");
  cmd->add_option("-n,--n-predict", flags->n, "maximum new tokens")->check(CLI::NonNegativeNumber);
  cmd->add_option("--temp", flags->temp, "sampling temperature; 0 = greedy")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", flags->top_p, "nucleus sampling mass in (0, 1]")
      ->check(CLI::Range(0.0f, 1.0f));
  cmd->add_option("--seed", flags->seed, "random seed for sampling");
  cmd->add_flag("--stats", flags->stats, "print prefill/decode speed to stderr");
  add_prune_flags(*cmd, flags->prune);
  cmd->callback([flags] { run_generate(*flags); });
}

}  // namespace lowbit::cli
