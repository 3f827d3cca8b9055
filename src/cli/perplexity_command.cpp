#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "eval/perplexity.h"
#include "text/text_file.h"

namespace lowbit::cli {
namespace {

struct PerplexityFlags {
  ModelFlags model;
  std::string file;
  int ctx = 512;
  int max_windows = 0;
  bool quiet = false;
};

void run_perplexity(const PerplexityFlags& f) {
  const std::string text = read_text_file(f.file);  // before loading: bad input fails fast
  LoadedModel m = load_from_flags(f.model);
  const auto ids = tokenize_document(*m.tokenizer, text);
  PerplexityOptions opts{f.ctx, f.max_windows, !f.quiet};
  const auto r = evaluate_perplexity(*m.model, ids, opts);
  fmt::print("file: {}\ntokens: {}\nwindows: {} x {}\nperplexity: {:.4f}\n", f.file,
             r.document_tokens, r.windows, f.ctx, r.perplexity);
  fmt::print("speed: {:.1f} tokens/s ({:.1f} s)\n", r.tokens_per_second, r.seconds);
}

}  // namespace

void register_perplexity(CLI::App& app) {
  auto flags = std::make_shared<PerplexityFlags>();
  auto* cmd = app.add_subcommand(
      "perplexity", "perplexity of a text file: [BOS]+text in non-overlapping windows of --ctx");
  add_model_flags(*cmd, flags->model);
  cmd->add_option("-f,--file", flags->file, "UTF-8 text file")->required();
  cmd->add_option("--ctx", flags->ctx, "window length L in tokens")->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--max-windows", flags->max_windows, "evaluate only the first K windows (0: all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("-q,--quiet", flags->quiet, "no progress bar");
  cmd->callback([flags] { run_perplexity(*flags); });
}

}  // namespace lowbit::cli
