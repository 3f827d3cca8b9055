#include <fmt/format.h>

#include <regex>
#include <sstream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/quant_flags.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "eval/perplexity.h"
#include "io/text_file.h"

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
};

struct BitConfig {
  std::string name;
  int wbits, abits, kvbits, group;
};

// "W4A4KV4g128": weight, activation and KV bits (KV defaults to 16), optional weight group.
BitConfig parse_config(const std::string& s) {
  static const std::regex re(R"(W(\d+)A(\d+)(?:KV(\d+))?(?:g(\d+))?)");
  std::smatch m;
  if (!std::regex_match(s, m, re))
    fail("--configs: '{}' is not of the form W<bits>A<bits>[KV<bits>][g<group>]", s);
  return {s, std::stoi(m[1]), std::stoi(m[2]), m[3].matched ? std::stoi(m[3]) : 16,
          m[4].matched ? std::stoi(m[4]) : 0};
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

void run_eval(const EvalFlags& f) {
  const std::string text = read_text_file(f.file);
  std::vector<BitConfig> configs;
  for (const auto& c : split(f.configs)) configs.push_back(parse_config(c));
  const auto methods = split(f.methods);
  for (const auto& m : methods) MethodSpec::parse(m);  // fail before any work
  if (methods.empty() || configs.empty()) fail("--methods and --configs must not be empty");

  set_num_threads(f.model.threads);
  const PerplexityOptions popts{f.ctx, f.max_windows, false};
  auto baseline = load_model(f.model.model, f.model.tokenizer);
  const auto ids = tokenize_document(*baseline.tokenizer, text);
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
      if (opts.method.weight == WeightMethod::kAwq && c.abits < 16) {
        row += " — |";  // AWQ is weight-only
        continue;
      }
      auto m = load_model(f.model.model, f.model.tokenizer);
      quantize_model(*m.model, *m.tokenizer, opts);
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
      "eval", "perplexity of a method x bit-width matrix, printed as a Markdown table");
  add_model_flags(*cmd, flags->model);
  add_quant_flags(*cmd, flags->quant, false);
  cmd->add_option("-f,--file", flags->file, "UTF-8 text file for perplexity")->required();
  cmd->add_option("--methods", flags->methods, "comma-separated methods, e.g. rtn,duquant+gptq");
  cmd->add_option("--configs", flags->configs, "comma-separated W<b>A<b>[KV<b>][g<group>]");
  cmd->add_option("--ctx", flags->ctx, "window length L");
  cmd->add_option("--max-windows", flags->max_windows, "first K windows only (0: all)");
  cmd->callback([flags] { run_eval(*flags); });
}

}  // namespace lowbit::cli
