// End-to-end checks of the lowbit binary: bad input gives one line on stderr and a non-zero exit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "eval/perplexity.h"
#include "io/model_loader.h"
#include "testing/fixtures.h"
#include "text/text_file.h"

namespace lowbit {
namespace {

using testing::run_lowbit;
using testing::TempDir;

void expect_one_line_error(const testing::CommandResult& r, const std::string& needle) {
  EXPECT_NE(r.exit_code, 0);
  EXPECT_LT(r.exit_code, 128) << "crashed: " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("lowbit: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

// Shell-quoted path. (Built with append: GCC 12 warns falsely on "'" + std::string.)
std::string q(const std::filesystem::path& p) {
  std::string s(1, '\'');
  s.append(p.string()).push_back('\'');
  return s;
}

// The number after `label` in `out` (NaN when the label is missing).
double printed_number(const std::string& out, const std::string& label) {
  const size_t at = out.find(label);
  if (at == std::string::npos) return std::nan("");
  return std::strtod(out.c_str() + at + label.size(), nullptr);
}

// `lowbit perplexity -f FILE --ctx CTX` printed what the library computes for the same model and
// file: the token and window counts, and the perplexity to its 4 printed decimals.
void expect_library_perplexity(const testing::CommandResult& r, const std::filesystem::path& model,
                               const std::filesystem::path& file, int ctx) {
  LoadedModel m = load_model(model);
  const auto ids = tokenize_document(*m.tokenizer, read_text_file(file));
  const auto want = evaluate_perplexity(*m.model, ids, {ctx, 0, false});
  EXPECT_EQ(printed_number(r.out, "tokens: "), static_cast<double>(want.document_tokens)) << r.out;
  EXPECT_NE(r.out.find("windows: " + std::to_string(want.windows) + " x " + std::to_string(ctx)),
            std::string::npos)
      << r.out;
  EXPECT_NEAR(printed_number(r.out, "perplexity: "), want.perplexity, 0.5e-4 + 1e-12) << r.out;
}

TEST(Cli, HelpAndVersion) {
  auto r = run_lowbit("--help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("generate"), std::string::npos);
  EXPECT_NE(r.out.find("perplexity"), std::string::npos);
  r = run_lowbit("generate --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--top-p"), std::string::npos);
  // The build's identity, which the results scripts key their caches on.
  r = run_lowbit("--version");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("lowbit 0.1.0 (commit ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find(", source "), std::string::npos) << r.out;
}

TEST(Cli, UnknownSubcommandAndFlag) {
  expect_one_line_error(run_lowbit("frobnicate"), "frobnicate");
  expect_one_line_error(run_lowbit("generate -m x --bogus"), "--bogus");
}

TEST(Cli, MissingModel) {
  expect_one_line_error(run_lowbit("generate -m /nonexistent/model -p hi"), "/nonexistent/model");
}

TEST(Cli, TruncatedSafetensors) {
  TempDir dir;
  testing::write_tiny_checkpoint(dir.path(), {});
  const auto bytes = testing::read_file(dir / "model.safetensors");
  testing::write_file(dir / "model.safetensors", bytes.substr(0, bytes.size() / 2));
  expect_one_line_error(run_lowbit("generate -m " + q(dir.path()) + " -p hi"), "model.safetensors");
}

TEST(Cli, WrongShapesVersusConfig) {
  TempDir dir;
  testing::write_tiny_checkpoint(dir.path(), {});
  testing::TinyModelSpec other;
  other.dim = 64;
  testing::write_file(dir / "config.json", testing::tiny_config(other).dump());
  expect_one_line_error(run_lowbit("inspect -m " + q(dir.path())), "config.json implies");
}

TEST(Cli, NonUtf8Prompt) {
  TempDir dir;
  testing::write_tiny_checkpoint(dir.path(), {});
  expect_one_line_error(run_lowbit("generate -m " + q(dir.path()) + " -p \"$(printf 'ab\\377c')\""),
                        "not valid UTF-8");
}

TEST(Cli, EmptyTextFile) {
  TempDir dir;
  testing::write_tiny_checkpoint(dir.path(), {});
  testing::write_file(dir / "empty.txt", "");
  expect_one_line_error(
      run_lowbit("perplexity -m " + q(dir.path()) + " -f " + q(dir / "empty.txt")), "empty");
}

TEST(Cli, TextShorterThanOneWindow) {
  TempDir dir;
  testing::write_tiny_checkpoint(dir.path(), {});
  testing::write_file(dir / "short.txt", "Hello there.");
  expect_one_line_error(
      run_lowbit("perplexity -q -m " + q(dir.path()) + " -f " + q(dir / "short.txt") + " --ctx 64"),
      "fewer than one window");
}

TEST(Cli, OutliersReportsEverySiteAndRejectsShortText) {
  TempDir dir;
  testing::write_tiny_checkpoint(dir.path(), {});
  std::string text;
  for (int i = 0; i < 40; ++i) text += "Once upon a time there was a little girl. ";
  testing::write_file(dir / "t.txt", text);
  auto r = run_lowbit("outliers -m " + q(dir.path()) + " -f " + q(dir / "t.txt") +
                      " --ctx 32 --windows 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* site : {"| qkv_input | 2 |", "| o_input |", "| up_input |", "| down_input |"})
    EXPECT_NE(r.out.find(site), std::string::npos) << site << "\n" << r.out;
  testing::write_file(dir / "short.txt", "Hello there.");
  expect_one_line_error(
      run_lowbit("outliers -m " + q(dir.path()) + " -f " + q(dir / "short.txt") + " --ctx 64"),
      "fewer than one window");
}

TEST(Cli, EvalJsonNeverOverwritesAnInput) {
  // Before: `eval --json` replaced whatever the path was, the task file being read included.
  TempDir dir;
  testing::write_tiny_checkpoint(dir / "model", {});
  std::filesystem::create_directories(dir / "tasks");
  const std::string piqa = testing::read_file(testing::shared_dir() / "data/tasks/piqa.jsonl");
  const std::string few = piqa.substr(0, piqa.find('\n', piqa.find('\n') + 1) + 1);
  testing::write_file(dir / "tasks" / "piqa.jsonl", few);
  expect_one_line_error(run_lowbit("eval -q -m " + q(dir / "model") + " --tasks piqa --tasks-dir " +
                                   q(dir / "tasks") + " --json " + q(dir / "tasks" / "piqa.jsonl")),
                        "is an input of this command");
  EXPECT_EQ(testing::read_file(dir / "tasks" / "piqa.jsonl"), few);
  expect_one_line_error(
      run_lowbit("eval -q -m " + q(dir / "model") + " --tasks piqa --tasks-dir " +
                 q(dir / "tasks") + " --json " + q(dir / "model" / "config.json")),
      "is a file of the input folder");
}

TEST(Cli, ErrorsEscapeControlCharacters) {
  TempDir dir;
  const auto r = run_lowbit("perplexity -m " + q(dir.path()) + " -f " + q(dir / "evil\x1b[2Jname"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\\x1b[2J"), std::string::npos) << r.err;
}

TEST(Cli, PerplexityAndInspectOnTinyModel) {
  TempDir dir;
  testing::write_tiny_checkpoint(dir.path(), {});
  std::string text;
  for (int i = 0; i < 40; ++i) text += "Once upon a time there was a little girl. ";
  testing::write_file(dir / "t.txt", text);
  auto r =
      run_lowbit("perplexity -q -m " + q(dir.path()) + " -f " + q(dir / "t.txt") + " --ctx 32");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_library_perplexity(r, dir.path(), dir / "t.txt", 32);
  r = run_lowbit("inspect -m " + q(dir.path()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("GQA"), std::string::npos);
}

TEST(Cli, SampledGenerationIsReproducible) {
  const auto model = q(testing::shared_dir() / "models/stories260K/stories260K.bin");
  const auto a =
      run_lowbit("generate -m " + model + " -p 'Once' -n 40 --temp 0.8 --top-p 0.9 --seed 7");
  const auto b =
      run_lowbit("generate -m " + model + " -p 'Once' -n 40 --temp 0.8 --top-p 0.9 --seed 7");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(a.out.rfind("Once", 0), 0u);
}

TEST(Cli, BadSamplingFlags) {
  const auto model = q(testing::shared_dir() / "models/stories260K/stories260K.bin");
  expect_one_line_error(run_lowbit("generate -m " + model + " -p x --top-p 1.5"), "top-p");
}

}  // namespace
}  // namespace lowbit

namespace lowbit {
namespace {

TEST(CliQuantize, BadSettingsFailBeforeWorkAndLeaveNoOutput) {
  testing::TempDir dir;
  testing::write_tiny_checkpoint(dir / "m", {});
  testing::write_file(dir / "calib.txt", "too short");
  const std::string base =
      "quantize -q -m '" + (dir / "m").string() + "' -o '" + (dir / "out.lowbit").string() + "' ";
  auto r = testing::run_lowbit(base + "--abits 1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--abits"), std::string::npos) << r.err;
  r = testing::run_lowbit(base + "--method rtn+bogus");
  EXPECT_NE(r.err.find("unknown method 'bogus'"), std::string::npos) << r.err;
  r = testing::run_lowbit(base + "--group 48");
  EXPECT_NE(r.err.find("group size 48"), std::string::npos) << r.err;
  r = testing::run_lowbit(base + "--method gptq --calib '" + (dir / "calib.txt").string() + "'");
  EXPECT_NE(r.err.find("fewer than one sequence"), std::string::npos) << r.err;
  testing::write_file(dir / "notes.txt", "mine");
  r = testing::run_lowbit("quantize -q -m '" + (dir / "m").string() + "' -o '" +
                          (dir / "notes.txt").string() + "'");
  EXPECT_NE(r.err.find("not overwriting"), std::string::npos) << r.err;
  EXPECT_EQ(testing::read_file(dir / "notes.txt"), "mine");
  EXPECT_FALSE(std::filesystem::exists(dir / "out.lowbit"));
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
}

TEST(CliQuantize, QuantizedModelRunsEverywhere) {
  testing::TempDir dir;
  testing::write_tiny_checkpoint(dir / "m", {});
  std::string text;
  for (int i = 0; i < 60; ++i) text += "Once upon a time there was a little girl. ";
  testing::write_file(dir / "t.txt", text);
  const auto m = q(dir / "m"), out = q(dir / "out.lowbit");
  auto r =
      testing::run_lowbit("quantize -q -m " + m + " -o " + out +
                          " --method duquant+rtn --duquant-block 16 --wbits 4 --abits 8 --calib '" +
                          (dir / "t.txt").string() + "' --calib-samples 4 --calib-len 32");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("peak memory"), std::string::npos);
  r = testing::run_lowbit("perplexity -q -m " + out + " -f '" + (dir / "t.txt").string() +
                          "' --ctx 32");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_library_perplexity(r, dir / "out.lowbit", dir / "t.txt", 32);
  r = testing::run_lowbit("generate -m " + out + " -p Once -n 4");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = testing::run_lowbit("inspect -m " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("packed"), std::string::npos) << r.out;
  r = testing::run_lowbit("eval -m " + m + " -f '" + (dir / "t.txt").string() +
                          "' --ctx 32 --methods rtn,awq --configs W4A16,W8A8 --calib '" +
                          (dir / "t.txt").string() + "' --calib-samples 2 --calib-len 32");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| awq |"), std::string::npos) << r.out;
  {
    // The matrix's baseline row is the library's fp32 perplexity, to its 3 printed decimals.
    LoadedModel fp = load_model(dir / "m");
    const auto ids = tokenize_document(*fp.tokenizer, read_text_file(dir / "t.txt"));
    EXPECT_NEAR(printed_number(r.out, "FP32 perplexity: "),
                evaluate_perplexity(*fp.model, ids, {32, 0, false}).perplexity, 0.5e-3 + 1e-12)
        << r.out;
  }
}

TEST(CliBench, MeasuresEveryFormatInItsOwnProcessInInterleavedRounds) {
  testing::TempDir dir;
  testing::write_tiny_checkpoint(dir / "m", {});
  const auto m = q(dir / "m");
  auto r = testing::run_lowbit("bench -m " + m +
                               " --formats FP32,W4A8,W8A8,W4A16 --prompt 16 --decode 2 --reps 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* row : {"| FP32 | ", "| W4A8 | ", "| W8A8 | ", "| W4A16 | "})
    EXPECT_NE(r.out.find(row), std::string::npos) << row << "\n" << r.out;
  EXPECT_NE(r.out.find("medians of 2 interleaved rounds"), std::string::npos) << r.out;
  // Round 1 measures every format before round 2 starts.
  const size_t last_of_round1 = r.err.find("round 1/2: W4A16");
  const size_t first_of_round2 = r.err.find("round 2/2: FP32");
  ASSERT_NE(last_of_round1, std::string::npos) << r.err;
  ASSERT_NE(first_of_round2, std::string::npos) << r.err;
  EXPECT_LT(last_of_round1, first_of_round2) << r.err;
  // The FP32 row is the base of the per-round ratios.
  EXPECT_NE(r.out.find(" | 1.00 | 1.00 | 1.00 |"), std::string::npos) << r.out;
  r = testing::run_lowbit("bench -m " + m + " --formats W4X8");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("W4X8"), std::string::npos) << r.err;
}

// --bandwidth-mib probes the read bandwidth before each decode pass: --single prints it and the
// decode's fraction of the bound after the peak memory; the table gains a column.
TEST(CliBench, BandwidthProbeReportsDecodeAgainstTheBound) {
  testing::TempDir dir;
  testing::write_tiny_checkpoint(dir / "m", {});
  const auto m = q(dir / "m");
  // One pass: the bound is the median of per-pass ratios, which over several passes of a loaded
  // machine can sit far from the ratio of the medians; over one it is that ratio.
  auto r = testing::run_lowbit("bench -m " + m +
                               " --single --prompt 16 --decode 2 --reps 1 --bandwidth-mib 16");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream row(r.out.substr(r.out.find("bench-row ") + 10));
  double prefill = 0, decode = 0, file = 0, weights = 0, peak = 0, gbs = 0, bound = 0;
  row >> prefill >> decode >> file >> weights >> peak >> gbs >> bound;
  ASSERT_TRUE(row) << r.out;
  EXPECT_GT(gbs, 0.0) << r.out;
  EXPECT_NEAR(bound, decode * weights * 1e-9 / gbs, 0.01 * bound + 1e-4) << r.out;  // as printed
  r = testing::run_lowbit("bench -m " + m +
                          " --formats W4A8 --prompt 16 --decode 2 --reps 1 --bandwidth-mib 16");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| decode / bound |"), std::string::npos) << r.out;
  r = testing::run_lowbit("bench -m " + m + " --single --bandwidth-mib -1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--bandwidth-mib"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace lowbit

namespace lowbit {
namespace {

// Token pruning flags: bad values fail in one line before any work; a quantized file stores the
// calibrated setting and every command runs with it.
TEST(CliPrune, BadPruningFlagsFailInOneLine) {
  testing::TempDir dir;
  testing::write_tiny_checkpoint(dir / "m", {});  // 2 layers: the only start layer is 1
  std::string text;
  for (int i = 0; i < 40; ++i) text += "Once upon a time there was a little girl. ";
  testing::write_file(dir / "t.txt", text);
  const std::string ppl =
      "perplexity -q -m " + q(dir / "m") + " -f " + q(dir / "t.txt") + " --ctx 32 ";
  const std::string calib = " --prune-calib " + q(dir / "t.txt");
  expect_one_line_error(run_lowbit(ppl + "--prune-ratio 1" + calib),
                        "--prune-ratio 1 must be in [0, 1)");
  expect_one_line_error(run_lowbit(ppl + "--prune-ratio=-0.1" + calib), "must be in [0, 1)");
  expect_one_line_error(run_lowbit(ppl + "--prune-ratio 0.2 --prune-start-layer 2" + calib),
                        "--prune-start-layer 2 must be in 1..1");
  expect_one_line_error(run_lowbit(ppl + "--prune-ratio 0.2 --prune-start-layer 0" + calib),
                        "--prune-start-layer 0 must be in 1..1");
  expect_one_line_error(run_lowbit(ppl + "--prune-ratio 0.2"), "give --prune-calib FILE");
  expect_one_line_error(run_lowbit(ppl + "--prune-start-layer 1"), "need --prune-ratio");
  // --nll-out never replaces an input.
  expect_one_line_error(run_lowbit(ppl + "--nll-out " + q(dir / "t.txt")), "--nll-out");
  EXPECT_EQ(testing::read_file(dir / "t.txt"), text);
  expect_one_line_error(run_lowbit("generate -m " + q(dir / "m") + " -p x --prune-ratio 2"),
                        "--prune-ratio 2 must be in [0, 1)");
  expect_one_line_error(
      run_lowbit("bench -m " + q(dir / "m") + " --prompt 0 --prune-ratio 0.2" + calib),
      "--prompt 0 asks for none");
}

TEST(CliPrune, QuantizeStoresThePruningEveryCommandUses) {
  testing::TempDir dir;
  testing::write_tiny_checkpoint(dir / "m", {});
  std::string text;
  for (int i = 0; i < 60; ++i) text += "Once upon a time there was a little girl. ";
  testing::write_file(dir / "t.txt", text);
  const auto out = q(dir / "out.lowbit"), t = q(dir / "t.txt");
  auto r =
      run_lowbit("quantize -q -m " + q(dir / "m") + " -o " + out + " --wbits 4 --abits 8 --calib " +
                 t + " --calib-samples 4 --calib-len 32 --prune-ratio 0.3 --prune-start-layer 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_lowbit("perplexity -q -m " + out + " -f " + t + " --ctx 32");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("token pruning: ratio 0.3 from layer 1 of 2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("stored in the model file"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("scored positions: "), std::string::npos) << r.out;
  const double pruned = printed_number(r.out, "perplexity: ");
  r = run_lowbit("perplexity -q -m " + out + " -f " + t + " --ctx 32 --prune-ratio 0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("scored positions: "), std::string::npos) << r.out;
  EXPECT_NE(printed_number(r.out, "perplexity: "), pruned) << r.out;  // pruning off
  r = run_lowbit("generate -m " + out + " -p 'Once upon a time there was' -n 4 --stats");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("token-layers removed"), std::string::npos) << r.err;
  r = run_lowbit("bench -m " + out + " --prompt 32 --decode 2 --context 8 --reps 1" +
                 " --prune-ratio 0.3 --prune-start-layer 1 --prune-calib " + t);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("pruned 0.3 |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("work removed"), std::string::npos) << r.out;
  // out.lowbit prunes by default: its own row is measured without pruning (an unpruned copy).
  EXPECT_NE(r.err.find("prunes by default; its row is measured from a copy without"),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace lowbit

namespace lowbit {
namespace {

// `lowbit profile`: a table of operator times of a prefill, the projections' activation
// quantization as a part of them; bad lengths fail in one line.
TEST(CliProfile, PrintsTheOperatorTableOfAPrefill) {
  testing::TempDir dir;
  testing::write_tiny_checkpoint(dir / "m", {});
  std::string text;
  for (int i = 0; i < 60; ++i) text += "Once upon a time there was a little girl. ";
  testing::write_file(dir / "t.txt", text);
  auto r = run_lowbit("quantize -q -m " + q(dir / "m") + " -o " + q(dir / "q.lowbit") +
                      " --wbits 4 --abits 8");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_lowbit("profile -m " + q(dir / "q.lowbit") + " --prompt 64 --reps 2 --prompt-file " +
                 q(dir / "t.txt"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* row : {"| attention | ", "| gate/up projections | ", "| output head | ",
                          "| of which activation quantization | ", "prefill of 64 tokens"})
    EXPECT_NE(r.out.find(row), std::string::npos) << row << "\n" << r.out;
  // A serve step: batched decode of 3 sequences.
  r = run_lowbit("profile -m " + q(dir / "q.lowbit") + " --prompt 32 --reps 5 --decode-rows 3");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* row : {"| attention | ", "| KV cache store | ", "| output head | ",
                          "decode step of 3 sequences after 31 tokens"})
    EXPECT_NE(r.out.find(row), std::string::npos) << row << "\n" << r.out;
  expect_one_line_error(run_lowbit("profile -m " + q(dir / "q.lowbit") + " --decode-rows -1"),
                        "--decode-rows must be >= 0");
  expect_one_line_error(run_lowbit("profile -m " + q(dir / "q.lowbit") + " --prompt 1"),
                        "--prompt must be >= 2");
  expect_one_line_error(run_lowbit("profile -m " + q(dir / "q.lowbit") + " --prompt 4096"),
                        "exceeds the model's 128 positions");
}

}  // namespace
}  // namespace lowbit
