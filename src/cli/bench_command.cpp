// `lowbit bench`: prefill and decode speed, model size and peak memory of a model in every
// weight/activation format, as a Markdown table.
//
// Given a full-precision checkpoint, each low-bit format is made with RTN (no calibration: speed
// does not depend on the method; transforms add their online cost, measured separately when a
// .lowbit file made with them is benchmarked), saved to a temporary .lowbit file, and measured in
// a child process, so every row's peak resident memory is that of loading and running exactly
// that model, as a user would. The formats are measured in interleaved rounds (each once per
// round), and the speed ratios to FP32 are medians of per-round ratios, so a shared machine's
// drifting speed weighs on every format alike.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <random>
#include <sstream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/prune_flags.h"
#include "core/error.h"
#include "core/read_bandwidth.h"
#include "core/thread_pool.h"
#include "io/quantized_model_io.h"
#include "kernels/qgemm.h"
#include "quant/bit_format.h"
#include "quant/pipeline.h"
#include "text/document.h"
#include "text/text_file.h"

namespace lowbit::cli {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct BenchFlags {
  ModelFlags model;
  std::string formats = "FP32,W8A8,W4A8,W4A4,W4A16";
  int prompt = 512;
  int decode = 64;
  int context = 16;  // tokens in the cache when decoding starts
  int reps = 3;
  int group = 0;  // weight group size of the low-bit formats' layers (0: per output channel)
  int head_bits = 8, head_group = 0;
  bool single = false;      // measure -m itself and print one machine-readable line (child mode)
  int bandwidth_mib = 0;    // > 0: probe read bandwidth over this many MiB before each decode pass
  std::string prompt_file;  // prefill text (default: --prune-calib with pruning, else random ids)
  PruneFlags prune;
};

// The text the prefill reads, if any.
std::string prompt_text_file(const BenchFlags& f) {
  return !f.prompt_file.empty() ? f.prompt_file : f.prune.asked() ? f.prune.calib : "";
}

double seconds(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The read bandwidth in GB/s of one probe pass (core/read_bandwidth.h).
double read_bandwidth(std::span<const uint32_t> buf) {
  const auto t0 = Clock::now();
  volatile uint32_t sink = sum_with_all_threads(buf);
  (void)sink;
  return static_cast<double>(buf.size_bytes()) / seconds(t0) * 1e-9;
}

// One model: prefill tokens/s (a `prompt`-token window, logits of the last token only, as in
// generation), decode tokens/s (`decode` tokens after a `context`-token prompt), medians of `reps`
// runs. With a bandwidth probe, each decode pass follows a probe pass, and decode's fraction of
// the bound (weight bytes x tokens/s / probed GB/s) is the median of the per-pass ratios: the
// memory bandwidth of a shared machine drifts by a third within a minute, so a bound measured
// at another time says little. The peak resident memory is read before the probe's buffer
// exists, after a warm-up prefill and decode (every buffer the passes use is sized by then).
void measure_single(const BenchFlags& f) {
  LoadedModel m = load_from_flags(f.model);
  auto& model = *m.model;
  const auto& c = model.config();
  std::mt19937 rng(0);
  const int needed = std::max(f.prompt, f.context + f.decode);
  if (needed > c.max_seq_len)
    fail("bench: --prompt {} or --context {} + --decode {} exceed the model's {} positions",
         f.prompt, f.context, f.decode, c.max_seq_len);
  std::vector<int32_t> ids(static_cast<size_t>(needed));
  for (auto& id : ids)
    id = static_cast<int32_t>(3 + rng() % static_cast<uint32_t>(c.vocab_size - 3));
  ids[0] = 1;
  // Token pruning decides on attention to real text: the prefill reads a file when one is given.
  if (const std::string file = prompt_text_file(f); !file.empty()) {
    const auto text_ids = tokenize_document(*m.tokenizer, read_text_file(file), ids.size());
    if (text_ids.size() < ids.size())
      fail("bench: {} has {} tokens, fewer than the {} the prefill and decode need", file,
           text_ids.size(), ids.size());
    std::copy_n(text_ids.begin(), ids.size(), ids.begin());
  }
  const auto prompt = std::span(ids).first(static_cast<size_t>(f.prompt));
  KVCache cache = model.make_cache(needed);

  // Warm-up: pages in the weights, sizes the buffers.
  model.forward(prompt, cache);
  cache.clear();
  model.forward(std::span(ids).first(static_cast<size_t>(f.context)), cache);
  model.forward(std::span(ids).subspan(static_cast<size_t>(f.context), 1), cache);
  const double peak_mib = peak_rss_mib();
  std::vector<uint32_t> probe(static_cast<size_t>(f.bandwidth_mib) << 18, 1u);  // MiB / 4 bytes
  const double weight_bytes = static_cast<double>(model.weights().weight_bytes());

  std::vector<double> prefill, decode, bandwidth, bound, removed;
  for (int r = 0; r < f.reps; ++r) {
    cache.clear();
    model.reset_pruning_counts();
    const auto t0 = Clock::now();
    model.forward(prompt, cache);
    prefill.push_back(static_cast<double>(f.prompt) / seconds(t0));
    removed.push_back(model.pruning_counts().removed_fraction());

    cache.clear();
    model.forward(std::span(ids).first(static_cast<size_t>(f.context)), cache);
    if (!probe.empty()) bandwidth.push_back(read_bandwidth(probe));
    const auto t1 = Clock::now();
    for (int i = 0; i < f.decode; ++i) {
      const int32_t tok[] = {ids[static_cast<size_t>(f.context + i)]};
      model.forward(tok, cache);
    }
    decode.push_back(static_cast<double>(f.decode) / seconds(t1));
    if (!probe.empty()) bound.push_back(decode.back() * weight_bytes * 1e-9 / bandwidth.back());
  }
  fmt::print("bench-row {:.2f} {:.2f} {} {} {:.1f} {:.2f} {:.4f} {:.5f}\n", median(prefill),
             median(decode), m.file_bytes, model.weights().weight_bytes(), peak_mib,
             bandwidth.empty() ? 0.0 : median(bandwidth), bound.empty() ? 0.0 : median(bound),
             median(removed));
}

// Timed passes of a model in one child process per round (their median is the round's sample).
constexpr int kPassesPerRound = 3;

// One measurement of one model: a `--single` child's line.
struct Sample {
  double prefill = 0, decode = 0, peak_mib = 0;
  double bandwidth = 0, bound = 0;  // probed GB/s and decode's fraction of it (0: not probed)
  size_t file_bytes = 0, weight_bytes = 0;
  double removed = 0;  // fraction of the prefill's token-layers token pruning removed
};

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char ch : s) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

Sample run_child(const std::string& format, const std::string& model, const BenchFlags& f) {
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  const std::string cmd = fmt::format(
      "{} bench --single -m {} -t {} --prompt {} --decode {} --context {} --reps {} "
      "--bandwidth-mib {}{} 2>&1",
      shell_quote(self), shell_quote(model), thread_pool().size(), f.prompt, f.decode, f.context,
      kPassesPerRound, f.bandwidth_mib,
      prompt_text_file(f).empty() ? "" : " --prompt-file " + shell_quote(prompt_text_file(f)));
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) fail("bench: cannot start {}", self);
  std::string output;
  char buf[512];
  while (std::fgets(buf, sizeof buf, pipe) != nullptr) output += buf;
  const int status = ::pclose(pipe);
  Sample sample;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("bench-row ")) continue;
    std::istringstream fields(line.substr(10));
    fields >> sample.prefill >> sample.decode >> sample.file_bytes >> sample.weight_bytes >>
        sample.peak_mib >> sample.bandwidth >> sample.bound >> sample.removed;
    return sample;
  }
  fail("bench: measuring {} failed (status {}): {}", format, status, output);
}

class TempFolder {
 public:
  TempFolder() : path_(fs::temp_directory_path() / fmt::format("lowbit-bench-{}", ::getpid())) {
    fs::create_directories(path_);
  }
  ~TempFolder() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A model to measure: its name in the table, the file a child process loads, its samples.
struct Entry {
  std::string name, path;
  std::vector<Sample> samples;
  int unpruned = -1;  // a pruned twin: the index of the entry it was made from
};

// With --prune-ratio: beside each .lowbit entry, a twin file that prunes by default (thresholds
// calibrated once here, so the timed children only load them).
void add_pruned_twins(const BenchFlags& f, std::vector<Entry>& entries, const fs::path& dir) {
  if (!f.prune.asked()) return;
  const size_t n = entries.size();
  for (size_t i = 0; i < n; ++i) {
    if (!is_quantized_model_file(entries[i].path)) {
      std::fprintf(stderr, "bench: %s: token pruning is measured on .lowbit models only\n",
                   entries[i].name.c_str());
      continue;
    }
    std::fprintf(stderr, "bench: calibrating token pruning for %s...\n", entries[i].name.c_str());
    LoadedModel m = load_model(entries[i].path, f.model.tokenizer);
    if (m.model->token_pruning().enabled()) {
      // The file prunes by default: its row is measured from a copy without it, so the twin is
      // compared with an unpruned prefill.
      const fs::path plain = dir / (fs::path(entries[i].path).stem().string() + "-unpruned.lowbit");
      write_token_pruning(entries[i].path, plain, TokenPruning{});
      std::fprintf(stderr, "bench: %s prunes by default; its row is measured from a copy without\n",
                   entries[i].name.c_str());
      entries[i].path = plain.string();
    }
    apply_prune_flags(f.prune, m, f.prompt, false);
    const fs::path twin = dir / (fs::path(entries[i].path).stem().string() + "-pruned.lowbit");
    write_token_pruning(entries[i].path, twin, m.model->token_pruning());
    entries.push_back({fmt::format("{} pruned {}", entries[i].name, *f.prune.ratio),
                       twin.string(),
                       {},
                       static_cast<int>(i)});
  }
}

// Step 1: the models to measure, each as a file a child process loads: the checkpoint itself for
// FP32, RTN-quantized temporary .lowbit files (in `tmp`) for the low-bit formats; a .lowbit -m is
// measured as it is.
std::vector<Entry> make_files(const BenchFlags& f, const std::vector<std::string>& formats,
                              std::optional<TempFolder>& tmp) {
  std::vector<Entry> entries;
  tmp.emplace();
  if (is_quantized_model_file(f.model.model)) {
    entries.push_back({fs::path(f.model.model).filename().string(), f.model.model, {}});
    add_pruned_twins(f, entries, tmp->path());
    return entries;
  }
  for (const auto& name : formats) {
    if (name == "FP32") {
      entries.push_back({name, f.model.model, {}});
      continue;
    }
    std::fprintf(stderr, "bench: quantizing %s...\n", name.c_str());
    const BitFormat format = BitFormat::parse(name, "--formats");
    LoadedModel m = load_model(f.model.model, f.model.tokenizer);
    QuantizeOptions o;
    o.weight = {.bits = format.wbits,
                .symmetric = true,
                .group_size = format.group > 0 ? format.group : f.group,
                .mse_clip = true};
    o.act = {.bits = format.abits};
    o.kv = {.bits = format.kvbits, .symmetric = false};
    // The head's activations are 8-bit whatever its weights (an A4 head costs accuracy where the
    // logits are read, for no speed: prefill computes one row of logits).
    o.head_weight = {.bits = f.head_bits, .group_size = f.head_group, .mse_clip = true};
    o.head_act.bits = f.head_bits == 16 ? 16 : 8;
    quantize_model(*m.model, *m.tokenizer, o);
    const fs::path file = tmp->path() / (name + ".lowbit");
    save_quantized_model(*m.model, f.model.model, file, {{"method", o.method.name()}});
    entries.push_back({name, file.string(), {}});
  }
  add_pruned_twins(f, entries, tmp->path());
  return entries;
}

// Step 2: rounds, every model once per round, in turn. A shared machine's speed drifts over
// seconds; interleaving exposes every format to the same drift, and the ratios are taken within a
// round.
void measure(const BenchFlags& f, std::vector<Entry>& entries) {
  for (int round = 0; round < f.reps; ++round)
    for (auto& e : entries) {
      std::fprintf(stderr, "bench: round %d/%d: %s...\n", round + 1, f.reps, e.name.c_str());
      e.samples.push_back(run_child(e.name, e.path, f));
    }
}

// Step 3: the Markdown table, with ratios to FP32 where FP32 was measured.
void print_table(const BenchFlags& f, const std::vector<Entry>& entries) {
  const Entry* base = nullptr;
  for (const auto& e : entries)
    if (e.name == "FP32") base = &e;
  // Median over rounds of a per-sample quantity (of one entry, or of its ratio to the base's
  // sample of the same round).
  const auto median_of = [&](const Entry& e, auto&& value) {
    std::vector<double> v;
    for (size_t r = 0; r < e.samples.size(); ++r) v.push_back(value(r));
    return median(v);
  };
  const auto peak_of = [](const Entry& e) {
    double peak = 0;
    for (const auto& x : e.samples) peak = std::max(peak, x.peak_mib);
    return peak;
  };
  fmt::print(
      "{} threads; kernels: {}; prefill {} tokens (last-token logits), decode {} tokens after "
      "{}; medians of {} interleaved rounds of {} passes{}{}\n\n",
      thread_pool().size(), kernels::isa_name(kernels::qgemm_isa()), f.prompt, f.decode, f.context,
      f.reps, kPassesPerRound, base ? " (ratios: medians of the per-round ratios to FP32)" : "",
      f.bandwidth_mib > 0
          ? fmt::format("; decode / bound: weight bytes x tokens/s over the read bandwidth of {} "
                        "MiB probed just before each decode pass",
                        f.bandwidth_mib)
          : "");
  const bool probed = f.bandwidth_mib > 0;
  const bool pruned = f.prune.asked();
  if (pruned)
    fmt::print(
        "token pruning: work removed = fraction of the prefill's token-layers (tokens x layers) "
        "not run; time saved = 1 - pruned / unpruned prefill time (median of per-round ratios); "
        "prompt: {}\n\n",
        prompt_text_file(f));
  fmt::print(
      "| format | prefill tok/s | decode tok/s | file MB | weights MB | peak RSS MiB |{}{}{}\n",
      probed ? " decode / bound |" : "", base ? " prefill x | decode x | peak x |" : "",
      pruned ? " work removed | time saved | saved / removed |" : "");
  fmt::print("| --- | --- | --- | --- | --- | --- |{}{}{}\n", probed ? " --- |" : "",
             base ? " --- | --- | --- |" : "", pruned ? " --- | --- | --- |" : "");
  for (const auto& e : entries) {
    const auto& s = e.samples;
    fmt::print("| {} | {:.0f} | {:.1f} | {:.1f} | {:.1f} | {:.0f} |", e.name,
               median_of(e, [&](size_t r) { return s[r].prefill; }),
               median_of(e, [&](size_t r) { return s[r].decode; }),
               static_cast<double>(s.front().file_bytes) / 1e6,
               static_cast<double>(s.front().weight_bytes) / 1e6, peak_of(e));
    if (probed) fmt::print(" {:.0f}% |", 100 * median_of(e, [&](size_t r) { return s[r].bound; }));
    if (base) {
      const auto& b = base->samples;
      fmt::print(" {:.2f} | {:.2f} | {:.2f} |",
                 median_of(e, [&](size_t r) { return s[r].prefill / b[r].prefill; }),
                 median_of(e, [&](size_t r) { return s[r].decode / b[r].decode; }),
                 peak_of(e) / peak_of(*base));
    }
    if (pruned && e.unpruned >= 0) {
      const auto& u = entries[static_cast<size_t>(e.unpruned)].samples;
      const double removed = median_of(e, [&](size_t r) { return s[r].removed; });
      const double saved =
          median_of(e, [&](size_t r) { return 1.0 - u[r].prefill / s[r].prefill; });
      fmt::print(" {:.1f}% | {:.1f}% | {:.2f} |", 100 * removed, 100 * saved,
                 removed > 0 ? saved / removed : 0.0);
    } else if (pruned) {
      fmt::print(" — | — | — |");
    }
    fmt::print("\n");
  }
}

void run_bench(const BenchFlags& f) {
  f.prune.check();
  if (f.prune.asked() && f.prompt == 0)
    fail("--prune-ratio prunes the prefill, but --prompt 0 asks for none");
  if (f.prompt < 16 || f.decode < 1 || f.reps < 1 || f.context < 1)
    fail("--prompt must be >= 16, --decode, --context and --reps >= 1");
  if (f.group < 0 || f.group % 8 != 0)
    fail("--group must be 0 (per output channel) or a positive multiple of 8, got {}", f.group);
  if (f.single) {
    measure_single(f);
    return;
  }
  set_num_threads(f.model.threads);
  std::vector<std::string> formats;
  std::stringstream ss(f.formats);
  for (std::string s; std::getline(ss, s, ',');)
    if (!s.empty()) formats.push_back(s);
  for (const auto& name : formats)
    if (name != "FP32") BitFormat::parse(name, "--formats");  // fail before any work

  std::optional<TempFolder> tmp;
  auto entries = make_files(f, formats, tmp);
  measure(f, entries);
  print_table(f, entries);
}

}  // namespace

void register_bench(CLI::App& app) {
  auto flags = std::make_shared<BenchFlags>();
  auto* cmd = app.add_subcommand(
      "bench", "prefill/decode speed, size and peak memory per weight/activation format");
  add_model_flags(*cmd, flags->model);
  cmd->add_option("--formats", flags->formats,
                  "comma-separated FP32 and W<b>A<b>[KV<b>][g<group>] formats");
  cmd->add_option("--prompt", flags->prompt, "prefill window in tokens");
  cmd->add_option("--decode", flags->decode, "tokens to decode");
  cmd->add_option("--context", flags->context, "tokens in the KV cache when decoding starts");
  cmd->add_option("--reps", flags->reps,
                  "rounds, each measuring every format in turn (with --single: timed passes)");
  cmd->add_option("--group", flags->group,
                  "weight group size of the low-bit formats' layers (0 = per output channel)");
  cmd->add_option("--head-bits", flags->head_bits,
                  "output-head weight bits of the low-bit formats (activations 8-bit; 16 = fp32)");
  cmd->add_option("--head-group", flags->head_group,
                  "output-head weight group size (0 = per output channel)");
  cmd->add_flag("--single", flags->single, "measure -m only, one machine-readable line");
  cmd->add_option("--prompt-file", flags->prompt_file,
                  "text whose first tokens the prefill reads (default: --prune-calib when pruning, "
                  "else random token ids)");
  add_prune_flags(*cmd, flags->prune);
  cmd->add_option("--bandwidth-mib", flags->bandwidth_mib,
                  "probe the all-thread read bandwidth over this many MiB before each decode pass "
                  "and report decode as a fraction of that bound (0 = off)")
      ->check(CLI::Range(0, 65536));
  cmd->callback([flags] { run_bench(*flags); });
}

}  // namespace lowbit::cli
