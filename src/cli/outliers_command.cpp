// `lowbit outliers`: how large the outliers are in the activations every linear layer quantizes
// (after the online transform of a quantized model), per layer and site, as a Markdown table.
// With --method: the same per stage of that method's activation transform, computed on the
// calibration windows `lowbit quantize` draws, as an HTML report (and PNGs).
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/quant_flags.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "eval/outlier_png.h"
#include "eval/outlier_report.h"
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
  // --method mode
  QuantFlags quant;
  std::string report;
  std::string png_dir;
  std::vector<int> layers;
};

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// --method: the stages of the method's transform on the calibration windows.
void run_method_stages(const OutliersFlags& f) {
  if (!f.file.empty()) fail("outliers: --method measures on --calib; -f/--file is for the table");
  if (f.quant.calib.empty()) fail("outliers --method: give --calib FILE");
  if (f.report.empty()) fail("outliers --method: give -o REPORT.html");
  if (!f.png_dir.empty() && std::filesystem::exists(f.png_dir) &&
      !std::filesystem::is_directory(f.png_dir))
    fail("--png {}: is not a folder", f.png_dir);
  const std::filesystem::path out(f.report);
  if (std::filesystem::is_directory(out)) fail("{}: is a folder; give a file name", f.report);
  {
    const std::vector<std::filesystem::path> inputs = {f.model.model, f.quant.calib};
    check_not_an_input(out, inputs, "-o");
  }
  const auto parent = std::filesystem::absolute(out).parent_path();
  if (!std::filesystem::is_directory(parent)) fail("{}: no such folder", parent.string());
  const QuantizeOptions opts = f.quant.options(true);
  read_text_file(f.quant.calib);  // before loading: a bad file fails fast
  LoadedModel m = load_from_flags(f.model);
  for (int l : f.layers)
    if (l < 0 || l >= m.model->config().n_layers)
      fail("--layers: layer {} is not in 0..{}", l, m.model->config().n_layers - 1);
  const auto sites = measure_method_stages(*m.model, *m.tokenizer, opts);
  OutlierReportInfo info{f.model.model, opts.method.name(), static_cast<size_t>(opts.calib.samples),
                         static_cast<size_t>(opts.calib.seq_len), f.layers};
  info.windows = sites.empty() ? 0 : sites.front().stages.front().stats.tokens / info.seq_len;
  write_outlier_report(out, sites, info);
  const auto pngs = f.png_dir.empty() ? std::vector<std::filesystem::path>{}
                                      : write_outlier_pngs(f.png_dir, sites, f.layers);
  fmt::print("model: {}\nmethod: {}\ncalibration: {} windows x {} tokens\n\n", f.model.model,
             info.method, info.windows, info.seq_len);
  fmt::print(
      "| layer | site | stage | channels | max abs | channel max/median | token max/median |\n");
  fmt::print("| --- | --- | --- | --- | --- | --- | --- |\n");
  for (const auto& s : sites)
    for (const auto& st : s.stages) {
      const SiteOutliers& r = st.stats;
      fmt::print("| {} | {} | {} | {} | {:.3g} | {:.1f} | {:.1f} |\n", r.layer, site_name(r.site),
                 st.name, r.channels, r.absmax, r.channel_ratio, r.token_ratio);
    }
  fmt::print("\nreport: {}\n", f.report);
  if (!f.png_dir.empty()) fmt::print("png: {} files in {}\n", pngs.size(), f.png_dir);
}

void run_outliers(const OutliersFlags& f) {
  if (f.quant.app->get_option("--method")->count() > 0) {
    run_method_stages(f);
    return;
  }
  if (f.file.empty()) fail("outliers: give -f/--file TEXT (or --method with --calib)");
  if (!f.report.empty() || !f.png_dir.empty() || !f.layers.empty() || !f.quant.calib.empty())
    fail("outliers: -o, --png, --layers and --calib go with --method");
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
  cmd->add_option("-f,--file", flags->file, "UTF-8 text file (the table)");
  cmd->add_option("--ctx", flags->options.context, "window length L in tokens")
      ->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--windows", flags->options.windows, "the first N windows of the text")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_flag("--per-layer", flags->per_layer, "one row per layer and site");
  // --method mode: the calibration and the method's tuning flags of `lowbit quantize`.
  add_quant_flags(*cmd, flags->quant, false);
  cmd->add_option("--method", flags->quant.method,
                  "report the stages of this method's activation transform (as --method of "
                  "quantize: " +
                      describe_method_kinds() + ") on --calib, into -o");
  cmd->add_option("-o,--output", flags->report, "--method: the HTML report to write");
  cmd->add_option("--png", flags->png_dir,
                  "--method: also write one PNG per plotted layer and site into this folder");
  cmd->add_option("--layers", flags->layers,
                  "--method: plot only these layers (comma-separated; the table has every layer)")
      ->delimiter(',');
  cmd->callback([flags] { run_outliers(*flags); });
}

}  // namespace lowbit::cli
