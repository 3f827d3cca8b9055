#include <fmt/format.h>

#include <chrono>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/prune_flags.h"
#include "cli/quant_flags.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "io/quantized_model_io.h"
#include "quant/bit_allocation.h"
#include "quant/pipeline.h"

namespace lowbit::cli {
namespace {

struct QuantizeFlags {
  ModelFlags model;
  QuantFlags quant;
  std::string out;
  bool quiet = false;
  PruneFlags prune;
  double bits_budget = 0;  // --bits-budget: allocate per-projection bits (quant/bit_allocation.h)
  std::string bits_candidates;  // empty: default_bit_candidates()
  std::string bits_cost = "stored";
  std::string bits_table;  // --bits-table FILE: the measured sensitivities (Markdown)
};

// --prune-ratio: the written file is loaded, its pruning thresholds calibrated on --prune-calib
// (default --calib) and stored in it as the default of every command that runs it.
void store_pruning(const QuantizeFlags& f) {
  PruneFlags p = f.prune;
  if (p.calib.empty()) p.calib = f.quant.calib;
  if (p.calib.empty())
    fail("--prune-ratio: give --prune-calib FILE (or --calib) to calibrate the thresholds on");
  LoadedModel m = load_model(f.out, "");
  apply_prune_flags(p, m, f.quant.calib_len, !f.quiet);
  write_token_pruning(f.out, f.out, m.model->token_pruning());
}

void run_quantize(const QuantizeFlags& f) {
  if (f.out.empty()) fail("-o/--output is required");
  f.prune.check();
  // Output problems surface now, not after minutes of calibration.
  const std::filesystem::path out(f.out);
  if (std::filesystem::is_directory(out)) fail("{}: is a folder; give a file name", f.out);
  {
    std::vector<std::filesystem::path> inputs = {f.model.model};
    if (!f.quant.calib.empty()) inputs.push_back(f.quant.calib);
    check_not_an_input(out, inputs, "-o");
  }
  if (std::filesystem::exists(out) && !is_quantized_model_file(out))
    fail("{}: exists and is not a lowbit model; not overwriting", f.out);
  const auto parent = std::filesystem::absolute(out).parent_path();
  if (!std::filesystem::is_directory(parent)) fail("{}: no such folder", parent.string());
  QuantizeOptions opts = f.quant.options(!f.quiet);
  const BitsCost cost = parse_bits_cost(f.bits_cost);
  const std::vector<BitCandidate> candidates = f.bits_candidates.empty()
                                                   ? default_bit_candidates()
                                                   : parse_bit_candidates(f.bits_candidates);
  if (f.bits_budget > 0 && !opts.bits_map.empty())
    fail("--bits-budget chooses the bits map itself; do not give --bits-map too");
  if (f.bits_budget > 0 && opts.calib.file.empty())
    fail("--bits-budget measures sensitivities on calibration text: give --calib FILE");
  // Streaming: each layer goes to the output (spilled beside it) as soon as it is quantized.
  QuantizedModelWriter writer(f.model.model, out);
  // The memory guard counts one layer at a time, not the whole checkpoint.
  const HfResidency residency{true, opts.needs_calibration()
                                        ? static_cast<uint64_t>(opts.calib.samples) *
                                              static_cast<uint64_t>(opts.calib.seq_len)
                                        : 0};
  LoadedModel m = load_from_flags(f.model, residency);
  if (f.bits_budget > 0) {
    // Sensitivities on a few calibration windows (each costs projections x candidates forwards):
    // ranking projections needs far fewer tokens than calibrating them.
    CalibrationOptions c = opts.calib;
    c.samples = std::min(c.samples, 4);
    c.seq_len = std::min(c.seq_len, 256);
    const auto windows = sample_calibration_windows(*m.tokenizer, c);
    const auto start = std::chrono::steady_clock::now();
    const BitAllocation a =
        allocate_bits(*m.model, windows, opts.weight, candidates, f.bits_budget, cost, !f.quiet);
    opts.bits_map = a.map;
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    fmt::print("bit allocation: {:.1f} s, {:.4f} bits per weight on average ({}, budget {})\n",
               took.count(), a.average_bits, f.bits_cost, f.bits_budget);
    if (!f.bits_table.empty())
      write_file_atomically(f.bits_table, [&](std::ostream& o) { o << a.table; });
  }
  const auto report = quantize_model(
      *m.model, *m.tokenizer, opts,
      [&](int l, const LayerWeights& layer) { writer.add_layer(static_cast<size_t>(l), layer); });
  nlohmann::json info = {{"method", opts.method.name()},
                         {"source", f.model.model},
                         {"calibration",
                          {{"file", f.quant.calib},
                           {"samples", opts.calib.samples},
                           {"seq_len", opts.calib.seq_len},
                           {"seed", opts.calib.seed}}}};
  if (!f.quant.preset.empty()) info["preset"] = f.quant.preset;
  if (!opts.bits_map.empty()) info["bits_map"] = opts.bits_map.text();
  writer.finish(*m.model, info);
  if (!f.quant.preset.empty()) fmt::print("preset: {}\n", f.quant.preset);
  fmt::print("method: {}\nweights: {}\nactivations: {}\nkv cache: {}\noutput head: W{}A{}\n",
             opts.method.name(), opts.weight.describe(), opts.act.describe(),
             m.model->kv_quant().describe(), opts.head_weight.bits, opts.head_act.bits);
  if (!opts.bits_map.empty()) fmt::print("bits map: {}\n", opts.bits_map.text());
  fmt::print("calibration: {:.1f} s ({} tokens)\nquantization: {:.1f} s\npeak memory: {:.0f} MiB\n",
             report.calibration_seconds, report.calibration_tokens, report.quantize_seconds,
             peak_rss_mib());
  if (f.prune.asked()) {
    m = LoadedModel{};  // one model in memory at a time
    store_pruning(f);
  }
  fmt::print("wrote: {} ({:.1f} MB)\n", f.out,
             static_cast<double>(std::filesystem::file_size(out)) / 1e6);
}

}  // namespace

void register_quantize(CLI::App& app) {
  auto flags = std::make_shared<QuantizeFlags>();
  auto* cmd = app.add_subcommand("quantize", "quantize a model with a PTQ method and save it");
  add_model_flags(*cmd, flags->model);
  add_quant_flags(*cmd, flags->quant, true);
  cmd->add_option("-o,--output", flags->out, "output .lowbit file (written atomically)")
      ->required();
  cmd->add_flag("-q,--quiet", flags->quiet, "no progress bar");
  cmd->add_option("--bits-budget", flags->bits_budget,
                  "choose each projection's weight format to meet this average bits per weight "
                  "(counted by --bits-cost), from each projection's measured sensitivity (KL "
                  "divergence on --calib when it alone is quantized); the result is recorded as "
                  "--bits-map")
      ->check(CLI::Range(1.0, 16.0));
  cmd->add_option(
      "--bits-candidates", flags->bits_candidates,
      "formats --bits-budget chooses from: comma-separated BITS (2..8 or 16, at --group) "
      "or BITSgGROUP (0: one scale per row); default 2,3,4,5,6,8");
  cmd->add_option("--bits-cost", flags->bits_cost,
                  "how --bits-budget counts bits per weight: stored (what the file holds: codes at "
                  "their width, 7 bits in 8, fp32 scales, headers) or nominal (codes at their "
                  "width plus scales)")
      ->check(CLI::IsMember({"stored", "nominal"}));
  cmd->add_option("--bits-table", flags->bits_table,
                  "write --bits-budget's measured sensitivities and choices to this file "
                  "(Markdown)");
  add_prune_flags(*cmd, flags->prune);
  cmd->callback([flags] {
    flags->quant.apply_preset();
    run_quantize(*flags);
  });
}

}  // namespace lowbit::cli
