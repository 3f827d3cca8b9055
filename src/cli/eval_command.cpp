#include <fmt/format.h>

#include <sstream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/prune_flags.h"
#include "cli/quant_flags.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "eval/perplexity.h"
#include "eval/tasks.h"
#include "quant/bit_format.h"
#include "quant/pipeline.h"
#include "text/text_file.h"

namespace lowbit::cli {
namespace {

struct EvalFlags {
  ModelFlags model;
  QuantFlags quant;
  std::string file;
  std::string methods = "rtn";
  std::string configs = "W4A16g128,W8A8,W4A8,W4A4,W4A4KV4";
  int ctx = 512;
  int max_windows = 0;
  // Zero-shot tasks (--tasks) instead of the perplexity matrix (-f).
  std::string tasks;
  std::string tasks_dir = "../shared/data/tasks";
  size_t limit = 0;
  std::string json;
  bool no_bos = false;
  bool quiet = false;
  PruneFlags prune;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

// Zero-shot tasks on the model given by -m (fp32, or one quantized by `lowbit quantize`).
void run_tasks(const EvalFlags& f) {
  TaskOptions opts;
  opts.tasks_dir = f.tasks_dir;
  opts.limit = f.limit;
  opts.seed = f.quant.seed;
  opts.progress = !f.quiet;
  if (f.no_bos) opts.add_bos = false;
  const auto names = parse_task_list(f.tasks, opts);
  // Every task file is parsed before the model loads, so a malformed one fails at once.
  std::vector<TaskData> tasks;
  std::vector<std::filesystem::path> inputs = {f.model.model};
  for (const auto& name : names) {
    inputs.push_back(task_file(name, opts));
    tasks.push_back(load_task(name, inputs.back()));
  }
  if (!f.json.empty()) check_not_an_input(f.json, inputs, "--json");
  f.prune.check();

  auto m = load_from_flags(f.model);
  apply_prune_flags(f.prune, m, 512, !f.quiet);
  std::vector<TaskResult> results;
  for (const auto& task : tasks)
    results.push_back(evaluate_task(*m.model, *m.tokenizer, task, opts));

  fmt::print("{}", format_task_table(results));
  std::string timing;
  for (const auto& r : results)
    timing +=
        fmt::format("{}{} {:.1f} items/s", timing.empty() ? "" : ", ", r.task, r.items_per_second);
  fmt::print("\n{} ({} threads): {}\n", f.model.model, thread_pool().size(), timing);
  std::fflush(stdout);
  if (!f.json.empty()) {
    auto j = task_results_json(results);
    j["model"] = f.model.model;
    j["quantization"] = m.quant_info;
    j["limit"] = f.limit;
    j["seed"] = f.quant.seed;
    j["bos"] = opts.add_bos.value_or(m.tokenizer->add_bos) && m.tokenizer->bos_id.has_value();
    j["threads"] = thread_pool().size();
    if (const auto& p = m.model->token_pruning(); p.enabled())
      j["token_pruning"] = {{"ratio", p.ratio}, {"start_layer", p.start_layer}};
    const std::string text = j.dump(1) + "\n";
    write_file_atomically(f.json, [&](std::ostream& out) { out << text; });
  }
}

void run_eval(const EvalFlags& f) {
  const std::string text = read_text_file(f.file);
  std::vector<BitFormat> configs;
  for (const auto& c : split(f.configs)) configs.push_back(BitFormat::parse(c, "--configs"));
  const auto methods = split(f.methods);
  for (const auto& m : methods) MethodSpec::parse(m);  // fail before any work
  if (methods.empty() || configs.empty()) fail("--methods and --configs must not be empty");
  f.prune.check();

  set_num_threads(f.model.threads);
  const PerplexityOptions popts{f.ctx, f.max_windows, false};
  auto baseline = load_model(f.model.model, f.model.tokenizer);
  const auto ids =
      tokenize_document(*baseline.tokenizer, text, windows_tokens(f.ctx, f.max_windows));
  // With --prune-ratio every cell (the baseline too) prunes, calibrated on its own model.
  apply_prune_flags(f.prune, baseline, f.ctx, false);
  const double fp = evaluate_perplexity(*baseline.model, ids, popts).perplexity;
  baseline = {};

  std::string header = "| method |", rule = "| --- |";
  for (const auto& c : configs) {
    header += " " + c.name + " |";
    rule += " --- |";
  }
  fmt::print("FP32 perplexity: {:.3f} ({}, L={}, {} windows)\n\n{}\n{}\n", fp, f.file, f.ctx,
             f.max_windows ? std::to_string(f.max_windows) : std::string("all"), header, rule);
  std::fflush(stdout);
  for (const auto& method : methods) {
    std::string row = "| " + method + " |";
    for (const auto& c : configs) {
      QuantFlags q = f.quant;
      q.method = method;
      q.wbits = c.wbits;
      q.abits = c.abits;
      q.kvbits = c.kvbits;
      q.group = c.group;
      auto opts = q.options(false);
      if (opts.method.weight_only() && c.abits < 16) {
        row += " — |";  // a weight-only method with quantized activations: not a cell
        continue;
      }
      auto m = load_model(f.model.model, f.model.tokenizer);
      quantize_model(*m.model, *m.tokenizer, opts);
      apply_prune_flags(f.prune, m, f.ctx, false);
      row += fmt::format(" {:.3f} |", evaluate_perplexity(*m.model, ids, popts).perplexity);
    }
    fmt::print("{}\n", row);
    std::fflush(stdout);
  }
}

}  // namespace

void register_eval(CLI::App& app) {
  auto flags = std::make_shared<EvalFlags>();
  auto* cmd = app.add_subcommand(
      "eval",
      "perplexity of a method x bit-width matrix (-f), or zero-shot task accuracy (--tasks), "
      "printed as a Markdown table");
  add_model_flags(*cmd, flags->model);
  add_quant_flags(*cmd, flags->quant, false);
  auto* file =
      cmd->add_option("-f,--file", flags->file, "UTF-8 text file for the perplexity matrix");
  auto* methods = cmd->add_option("--methods", flags->methods,
                                  "comma-separated methods, e.g. rtn,duquant+gptq");
  auto* configs =
      cmd->add_option("--configs", flags->configs, "comma-separated W<b>A<b>[KV<b>][g<group>]");
  cmd->add_option("--ctx", flags->ctx, "window length L");
  cmd->add_option("--max-windows", flags->max_windows, "first K windows only (0: all)");
  auto* tasks = cmd->add_option(
      "--tasks", flags->tasks,
      "zero-shot tasks on the -m model instead of the matrix: comma-separated piqa, arc_easy, "
      "arc_challenge, hellaswag, winogrande, boolq, lambada, or all; NAME=FILE reads that file");
  auto* tasks_dir = cmd->add_option("--tasks-dir", flags->tasks_dir,
                                    "folder of the task files (default ../shared/data/tasks)");
  auto* limit = cmd->add_option("--limit", flags->limit,
                                "evaluate a random subset of N items per task (drawn with "
                                "--seed, run in file order; 0: all)");
  auto* json = cmd->add_option("--json", flags->json, "also write the task results as JSON");
  auto* no_bos = cmd->add_flag("--no-bos", flags->no_bos,
                               "--tasks: contexts without BOS (lm-evaluation-harness's hf "
                               "default); default: BOS when the tokenizer adds it");
  auto* quiet = cmd->add_flag("-q,--quiet", flags->quiet, "no progress bar (--tasks)");
  add_prune_flags(*cmd, flags->prune);
  cmd->callback([=] {
    if (tasks->count() > 0) {
      if (file->count() > 0)
        fail(
            "eval: -f (perplexity matrix) and --tasks (zero-shot tasks) cannot be combined; run "
            "them as two commands");
      if (methods->count() > 0 || configs->count() > 0)
        fail(
            "eval: --methods/--configs belong to the perplexity matrix (-f); --tasks evaluates "
            "the -m model as it is (quantize it first with `lowbit quantize`)");
      run_tasks(*flags);
      return;
    }
    if (file->count() == 0)
      fail(
          "eval: give -f FILE (perplexity of a method x bit-width matrix) or --tasks LIST "
          "(zero-shot tasks)");
    for (const auto* o : {tasks_dir, limit, json, no_bos, quiet})
      if (o->count() > 0) fail("eval: {} only applies with --tasks", o->get_name());
    run_eval(*flags);
  });
}

}  // namespace lowbit::cli
