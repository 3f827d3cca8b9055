// `lowbit outliers`: how large the outliers are in the activations every linear layer quantizes
// (after the online transform of a quantized model), per layer and site, as a Markdown table.
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/common.h"
#include "eval/outliers.h"
#include "eval/perplexity.h"
#include "text/document.h"
#include "text/text_file.h"

namespace lowbit::cli {
namespace {

struct OutliersFlags {
  ModelFlags model;
  std::string file;
  OutlierOptions options;
  bool per_layer = false;
};

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void run_outliers(const OutliersFlags& f) {
  const std::string text = read_text_file(f.file);  // before loading: bad input fails fast
  LoadedModel m = load_from_flags(f.model);
  const auto ids =
      tokenize_document(*m.tokenizer, text, windows_tokens(f.options.context, f.options.windows));
  const auto rows = measure_outliers(*m.model, ids, f.options);
  fmt::print("model: {}\nwindows: {} x {} tokens\n\n", f.model.model,
             rows.front().tokens / static_cast<size_t>(f.options.context), f.options.context);
  if (f.per_layer) {
    fmt::print("| layer | site | channels | max abs | channel max/median | token max/median |\n");
    fmt::print("| --- | --- | --- | --- | --- | --- |\n");
    for (const auto& r : rows)
      fmt::print("| {} | {} | {} | {:.3g} | {:.1f} | {:.1f} |\n", r.layer, site_name(r.site),
                 r.channels, r.absmax, r.channel_ratio, r.token_ratio);
    return;
  }
  // Per site over the layers: the median layer and the worst one.
  fmt::print(
      "| site | layers | channel max/median (median layer) | (worst layer) | "
      "token max/median (median layer) | (worst layer) |\n");
  fmt::print("| --- | --- | --- | --- | --- | --- |\n");
  for (int s = 0; s < 4; ++s) {
    const auto site = static_cast<ActivationSite>(s);
    std::vector<double> ch, tok;
    for (const auto& r : rows)
      if (r.site == site) {
        ch.push_back(r.channel_ratio);
        tok.push_back(r.token_ratio);
      }
    if (ch.empty()) continue;
    fmt::print("| {} | {} | {:.1f} | {:.1f} | {:.1f} | {:.1f} |\n", site_name(site), ch.size(),
               median_of(ch), *std::max_element(ch.begin(), ch.end()), median_of(tok),
               *std::max_element(tok.begin(), tok.end()));
  }
}

}  // namespace

void register_outliers(CLI::App& app) {
  auto flags = std::make_shared<OutliersFlags>();
  auto* cmd = app.add_subcommand(
      "outliers",
      "outliers of the activations each linear layer quantizes (after a quantized model's online "
      "transforms): max-to-median ratios over channels and over tokens, per site");
  add_model_flags(*cmd, flags->model);
  cmd->add_option("-f,--file", flags->file, "UTF-8 text file")->required();
  cmd->add_option("--ctx", flags->options.context, "window length L in tokens")
      ->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--windows", flags->options.windows, "the first N windows of the text")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_flag("--per-layer", flags->per_layer, "one row per layer and site");
  cmd->callback([flags] { run_outliers(*flags); });
}

}  // namespace lowbit::cli
