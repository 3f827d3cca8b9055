#include <fmt/format.h>

#include <cmath>
#include <set>
#include <string>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/prune_flags.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "eval/kl_divergence.h"
#include "eval/perplexity.h"
#include "layers/packed_linear.h"
#include "text/text_file.h"

namespace lowbit::cli {
namespace {

struct PerplexityFlags {
  ModelFlags model;
  std::string file;
  int ctx = 512;
  int max_windows = 0;
  bool quiet = false;
  PruneFlags prune;
  std::string nll_out;  // --nll-out FILE: every prediction's NLL, one per line ("-": pruned)
  std::string kl_base;  // --kl-divergence BASE: compare with this full-precision model
};

// What runs the projections: the integer kernels' ISA (e.g. "avx512vnni"), "simulated" (fp32
// GEMMs on dequantized weights: --simulate, or layers the kernels do not take), or "fp32".
std::string kernels_used(const LoadedModel& m) {
  const LlamaWeights& w = m.model->weights();
  std::set<std::string> isas;
  size_t packed = 0, other = 0;
  auto visit = [&](const Linear* l) {
    if (l == nullptr) return;
    if (const auto* p = dynamic_cast<const PackedLinear*>(l)) {
      ++packed;
      isas.insert(std::string(kernels::isa_name(p->kernel_isa())));
    } else {
      ++other;
    }
  };
  for (const auto& L : w.layers)
    for (const Linear* l : {L.wq.get(), L.wk.get(), L.wv.get(), L.wo.get(), L.w_gate.get(),
                            L.w_up.get(), L.w_down.get()})
      visit(l);
  if (packed == 0) return m.format == "lowbit-quantized" ? "simulated" : "fp32";
  std::string out;
  for (const auto& i : isas) out += (out.empty() ? "" : "+") + i;
  if (other > 0) out += fmt::format(" ({} of {} layers simulated)", other, packed + other);
  return out;
}

// --kl-divergence: both models on the same windows (eval/kl_divergence.h), llama.cpp's report.
void run_kl_divergence(const PerplexityFlags& f, LoadedModel& m, std::span<const int32_t> ids) {
  ModelFlags base_flags = f.model;
  base_flags.model = f.kl_base;
  base_flags.tokenizer.clear();
  base_flags.simulate = false;
  LoadedModel base = load_from_flags(base_flags);
  // The same text must mean the same ids to both: compare their tokenizations of the start.
  const auto probe = std::span(ids).first(std::min<size_t>(ids.size(), 256));
  const std::string probe_text = m.tokenizer->decode(probe);
  if (base.tokenizer->encode(probe_text) != m.tokenizer->encode(probe_text))
    fail("--kl-divergence {}: the base model tokenizes the text differently from {}", f.kl_base,
         f.model.model);
  fmt::print("kernels: {} (base: {})\n", kernels_used(m), kernels_used(base));
  const auto r = evaluate_kl_divergence(*base.model, *m.model, ids,
                                        PerplexityOptions{f.ctx, f.max_windows, !f.quiet});
  fmt::print("file: {}\nbase: {}\nwindows: {} x {} ({} predictions)\n", f.file, f.kl_base,
             r.windows, f.ctx, r.predictions);
  fmt::print("perplexity: {:.4f}\nbase perplexity: {:.4f}\n", r.ppl_model, r.ppl_base);
  fmt::print("ln(PPL/PPL(base)): {:.5f} ± {:.5f}\n", r.ln_ratio, r.ln_ratio_se);
  fmt::print("delta ppl: {:+.4f} ± {:.4f} (95% CI [{:+.4f}, {:+.4f}])\n", r.delta_ppl,
             r.delta_ppl_se, r.delta_ppl - 1.96 * r.delta_ppl_se,
             r.delta_ppl + 1.96 * r.delta_ppl_se);
  fmt::print("correlation of NLLs: {:.4f}\n", r.nll_correlation);
  fmt::print(
      "KL divergence: mean {:.6f} ± {:.6f}, median {:.6f}, p90 {:.6f}, p99 {:.6f}, "
      "p99.9 {:.6f}, max {:.6f}\n",
      r.kld_mean, r.kld_se, r.kld_median, r.kld_p90, r.kld_p99, r.kld_p999, r.kld_max);
  fmt::print("top-1 agreement: {:.3f} ± {:.3f} %\nRMS delta p: {:.3f} %\n", 100 * r.top1_agreement,
             100 * r.top1_se, 100 * r.rms_delta_p);
  fmt::print("speed: {:.1f} s\n", r.seconds);
}

void run_perplexity(const PerplexityFlags& f) {
  const std::string text = read_text_file(f.file);  // before loading: bad input fails fast
  f.prune.check();
  if (!f.nll_out.empty()) {
    const std::filesystem::path inputs[] = {f.model.model, f.file};
    check_not_an_input(f.nll_out, inputs, "--nll-out");
  }
  if (!f.kl_base.empty() && (!f.nll_out.empty() || f.prune.asked()))
    fail(
        "--kl-divergence compares every position: it does not combine with --nll-out or "
        "--prune-ratio");
  LoadedModel m = load_from_flags(f.model);
  if (!f.kl_base.empty()) {
    // The stored pruning default of a .lowbit file is not applied: every position is compared.
    const auto ids = tokenize_document(*m.tokenizer, text, windows_tokens(f.ctx, f.max_windows));
    return run_kl_divergence(f, m, ids);
  }
  const bool pruned = apply_prune_flags(f.prune, m, f.ctx, !f.quiet);
  // With --max-windows, only the text the windows use is tokenized.
  const auto ids = tokenize_document(*m.tokenizer, text, windows_tokens(f.ctx, f.max_windows));
  fmt::print("kernels: {}\n", kernels_used(m));
  PerplexityOptions opts{f.ctx, f.max_windows, !f.quiet};
  std::vector<double> nll;
  if (!f.nll_out.empty()) opts.per_position = &nll;
  const auto r = evaluate_perplexity(*m.model, ids, opts);
  if (!f.nll_out.empty())
    write_file_atomically(f.nll_out, [&](std::ostream& out) {
      for (const double x : nll) {
        if (std::isnan(x))
          out << "-\n";
        else
          out << fmt::format("{:.6f}\n", x);
      }
    });
  fmt::print("file: {}\ntokens: {}{}\nwindows: {} x {}\nperplexity: {:.4f}\n", f.file,
             r.document_tokens, f.max_windows > 0 ? " (tokenized as far as the windows need)" : "",
             r.windows, f.ctx, r.perplexity);
  if (pruned)
    fmt::print(
        "scored positions: {} of {} ({:.1f}% pruned before the head); token-layers "
        "removed: {:.1f}%\n",
        r.predictions, r.positions,
        100.0 * static_cast<double>(r.positions - r.predictions) / static_cast<double>(r.positions),
        100.0 * r.pruned_work);
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
  add_prune_flags(*cmd, flags->prune);
  cmd->add_option("--nll-out", flags->nll_out,
                  "write every prediction's NLL, one per line in window order (\"-\" where token "
                  "pruning kept the position from the head)");
  cmd->add_option("--kl-divergence", flags->kl_base,
                  "compare with this (full-precision) model on the same windows: KL divergence, "
                  "top-1 agreement, delta perplexity with its confidence interval");
  cmd->callback([flags] { run_perplexity(*flags); });
}

}  // namespace lowbit::cli
