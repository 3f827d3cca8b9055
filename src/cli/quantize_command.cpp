#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/prune_flags.h"
#include "cli/quant_flags.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "io/quantized_model_io.h"
#include "quant/pipeline.h"

namespace lowbit::cli {
namespace {

struct QuantizeFlags {
  ModelFlags model;
  QuantFlags quant;
  std::string out;
  bool quiet = false;
  PruneFlags prune;
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
  const QuantizeOptions opts = f.quant.options(!f.quiet);
  // Streaming: each layer goes to the output (spilled beside it) as soon as it is quantized.
  QuantizedModelWriter writer(f.model.model, out);
  // The memory guard counts one layer at a time, not the whole checkpoint.
  const HfResidency residency{true, opts.needs_calibration()
                                        ? static_cast<uint64_t>(opts.calib.samples) *
                                              static_cast<uint64_t>(opts.calib.seq_len)
                                        : 0};
  LoadedModel m = load_from_flags(f.model, residency);
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
  add_prune_flags(*cmd, flags->prune);
  cmd->callback([flags] {
    flags->quant.apply_preset();
    run_quantize(*flags);
  });
}

}  // namespace lowbit::cli
