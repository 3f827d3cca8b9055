// `lowbit qat`: knowledge-distillation quantization-aware training from a PTQ initialisation
// (src/train/kd_qat.h), written out as an ordinary .lowbit file.
#include <fmt/format.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/quant_flags.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "io/quantized_model_io.h"
#include "quant/pipeline.h"
#include "text/document.h"
#include "text/text_file.h"
#include "train/gradient_norms.h"
#include "train/kd_qat.h"
#include "train/student.h"

namespace lowbit::cli {
namespace {

struct QatFlags {
  ModelFlags model;
  QuantFlags quant;
  train::QatOptions qat;
  std::string freeze, data, heldout, out, checkpoint, report, grad_plot, grid = "dynamic";
  size_t generate = 0;  // --data generate: sequences sampled from the teacher
  bool quiet = false, lwc = false;
};

std::vector<int32_t> tokens_of(const Tokenizer& tok, const std::string& file, const char* flag) {
  if (file.empty()) fail("{}: no file given", flag);
  const std::string text = read_text_file(file);
  return tokenize_document(tok, text);
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  write_file_atomically(path, [&](std::ostream& out) { out << text; });
}

// Training holds hundreds of 1-50 MB tensors for the whole run (weights, gradients, both moments)
// beside scratch that comes and goes. glibc raises its mmap threshold up to 32 MB after the first
// large free, and from then on such tensors come from the heap, where freed scratch stays mapped
// between them; a fixed threshold keeps every buffer of 4 MB or more in its own mapping, returned
// to the system when freed (docs/training.md, memory at scale).
void keep_large_buffers_in_their_own_mappings() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
#endif
}

void run_qat(QatFlags& f) {
  keep_large_buffers_in_their_own_mappings();
  auto& o = f.qat;
  o.frozen = train::parse_freeze(f.freeze);
  if (o.steps == 0) fail("--steps must be at least 1");
  if (o.batch == 0) fail("--batch must be at least 1");
  if (f.out.empty()) fail("-o/--output is required");
  const std::filesystem::path out(f.out);
  if (std::filesystem::is_directory(out)) fail("{}: is a folder; give a file name", f.out);
  const bool generate = f.data == "generate";
  if (f.data.empty()) f.data = f.quant.calib;
  if (f.data.empty())
    fail("--data: no training text (give --data FILE, --data generate or --calib)");
  if (f.heldout.empty() && !generate) {
    const auto beside = std::filesystem::path(f.data).parent_path() / "heldout.txt";
    if (std::filesystem::exists(beside)) f.heldout = beside.string();
  }
  if (f.heldout.empty()) fail("--heldout: no held-out text for --eval-every (give a file)");
  {
    std::vector<std::filesystem::path> inputs = {f.model.model, f.heldout};
    if (!generate) inputs.push_back(f.data);
    if (!f.quant.calib.empty()) inputs.push_back(f.quant.calib);
    check_not_an_input(out, inputs, "-o");
    for (const auto* extra : {&f.report, &f.grad_plot})
      if (!extra->empty()) check_not_an_input(*extra, inputs, "--report/--grad-plot");
  }
  if (std::filesystem::exists(out) && !is_quantized_model_file(out))
    fail("{}: exists and is not a lowbit model; not overwriting", f.out);
  o.checkpoint = std::filesystem::path(f.checkpoint.empty() ? f.out + ".ckpt" : f.checkpoint);
  if (o.resume && !std::filesystem::exists(o.checkpoint))
    fail("--resume: no checkpoint at {}", o.checkpoint.string());
  o.progress = !f.quiet;

  // Teacher: the full-precision model. Student: a second copy, quantized by the PTQ method.
  LoadedModel teacher = load_from_flags(f.model);
  const auto& c = teacher.model->config();
  if (static_cast<int>(o.seq) > c.max_seq_len)
    fail("--seq {} exceeds the model's context of {} tokens", o.seq, c.max_seq_len);
  const std::vector<int32_t> heldout = tokens_of(*teacher.tokenizer, f.heldout, "--heldout");
  if (heldout.size() < o.seq)
    fail("{}: {} tokens, too short for one window of --seq {}", f.heldout, heldout.size(), o.seq);
  std::vector<int32_t> data;
  if (!generate) {
    data = tokens_of(*teacher.tokenizer, f.data, "--data");
    if (data.size() < o.seq + 1)
      fail("{}: {} tokens, too short for one window of --seq {}", f.data, data.size(), o.seq);
  }
  const QuantizeOptions qopts = f.quant.options(!f.quiet);
  LoadedModel student_model = load_from_flags(f.model);
  quantize_model(*student_model.model, *student_model.tokenizer, qopts);
  train::TrainWeights<float> student = train::student_from_model(*student_model.model);
  train::release_weights(*student_model.model);
  train::set_dynamic_grids(student, f.grid == "dynamic");
  if (f.lwc) train::enable_learned_clipping(student);
  if (generate) {
    const size_t count = f.generate ? f.generate : std::max<size_t>(o.batch * 8, 64);
    data = train::generate_teacher_data(*teacher.model, count, o.seq, o.seed, !f.quiet);
  }

  const train::QatReport report = train::run_kd_qat(*teacher.model, student, data, heldout, o);
  train::install_student(student, *student_model.model);
  nlohmann::json info = {{"method", qopts.method.name() + "+kd-qat"},
                         {"source", f.model.model},
                         {"qat",
                          {{"init", qopts.method.name()},
                           {"steps", o.steps},
                           {"batch", o.batch},
                           {"seq", o.seq},
                           {"lr", o.adam.lr},
                           {"freeze", f.freeze},
                           {"grid", f.grid},
                           {"lwc", f.lwc},
                           {"ce_weight", o.loss.ce_weight},
                           {"temperature", o.loss.temperature},
                           {"data", generate ? "generate" : f.data},
                           {"seed", o.seed}}}};
  save_quantized_model(*student_model.model, f.model.model, out, info);

  const auto stats = train::gradient_norm_stats(report, static_cast<size_t>(c.n_layers));
  const double step_tokens = static_cast<double>(report.tokens);
  fmt::print("init: {}\nweights: {}\nactivations: {}\nfrozen: {}\n", qopts.method.name(),
             qopts.weight.describe(), qopts.act.describe(), f.freeze.empty() ? "none" : f.freeze);
  fmt::print("steps: {} ({} x {} tokens), {:.1f} s, {:.0f} tokens/s ({:.1f} s in the teacher)\n",
             report.steps.size(), o.batch, o.seq, report.seconds,
             report.seconds > 0 ? step_tokens / report.seconds : 0.0, report.teacher_seconds);
  for (const auto& e : report.evals)
    fmt::print("held-out perplexity at step {}: {:.3f}\n", e.step, e.perplexity);
  fmt::print("squared gradient norms (mean over steps, coefficient of variation):\n{}",
             train::gradient_norm_table(stats));
  fmt::print("peak memory: {:.0f} MiB\nwrote: {}\n", peak_rss_mib(), f.out);
  if (!f.grad_plot.empty())
    write_text(f.grad_plot, train::gradient_norm_svg(report, static_cast<size_t>(c.n_layers)));
  if (!f.report.empty()) {
    nlohmann::json j = info;
    j["seconds"] = report.seconds;
    j["teacher_seconds"] = report.teacher_seconds;
    j["tokens"] = report.tokens;
    for (const auto& s : report.steps)
      j["steps"].push_back({{"step", s.step},
                            {"lr", s.lr},
                            {"loss", s.loss},
                            {"kl", s.kl},
                            {"ce", s.ce},
                            {"grad_norm", s.grad_norm}});
    for (const auto& e : report.evals)
      j["evals"].push_back({{"step", e.step}, {"perplexity", e.perplexity}, {"tokens", e.tokens}});
    j["grad_sq_mean"] = stats.mean;
    j["grad_sq_cv"] = stats.cv;
    write_text(f.report, j.dump(1) + "\n");
  }
}

}  // namespace

void register_qat(CLI::App& app) {
  auto flags = std::make_shared<QatFlags>();
  auto* cmd = app.add_subcommand(
      "qat",
      "quantization-aware training with knowledge distillation from the full-precision model");
  add_model_flags(*cmd, flags->model);
  add_quant_flags(*cmd, flags->quant, true);
  auto& o = flags->qat;
  cmd->add_option("--init", flags->quant.method,
                  "PTQ method the student starts from (same as --method): rtn, gptq, awq, ...");
  cmd->add_option("--steps", o.steps, "optimizer steps")->required();
  cmd->add_option("--batch", o.batch, "windows per step")->capture_default_str();
  cmd->add_option("--seq", o.seq, "tokens per window")->capture_default_str();
  cmd->add_option("--lr", o.adam.lr, "peak learning rate (AdamW)")->capture_default_str();
  cmd->add_option("--warmup", o.adam.warmup, "linear warm-up steps")->capture_default_str();
  cmd->add_option("--min-lr-ratio", o.adam.min_lr_ratio, "cosine decay floor, as a ratio of --lr")
      ->capture_default_str();
  cmd->add_option("--weight-decay", o.adam.weight_decay, "AdamW decoupled weight decay")
      ->capture_default_str();
  cmd->add_option("--clip-norm", o.adam.clip_norm, "global gradient-norm clip (0: none)")
      ->capture_default_str();
  cmd->add_option("--grid", flags->grid,
                  "weight grid while training: dynamic (min-max from the current weights, "
                  "straight-through gradient) or fixed (the initialisation's scales, clipped STE)")
      ->check(CLI::IsMember({"dynamic", "fixed"}))
      ->capture_default_str();
  cmd->add_flag("--lwc", flags->lwc,
                "learned weight clipping (OmniQuant's LWC) trained along with the weights");
  cmd->add_option("--clip-lr", o.adam.clip_lr, "peak learning rate of the --lwc clipping logits")
      ->capture_default_str();
  cmd->add_option("--temperature", o.loss.temperature, "distillation temperature")
      ->capture_default_str();
  cmd->add_option("--ce-weight", o.loss.ce_weight,
                  "weight of next-token cross-entropy against KL (0: pure KL, 1: pure CE)")
      ->capture_default_str();
  cmd->add_option("--freeze", flags->freeze,
                  "parts kept at their quantized start: q,k,v,o,gate,up,down,norm,embed,head "
                  "(ov-freeze: o,v)");
  cmd->add_option("--data", flags->data,
                  "training text (default: --calib), or 'generate' for text sampled from the "
                  "teacher (LLM-QAT's data-free variant)");
  cmd->add_option("--generate-sequences", flags->generate,
                  "sequences sampled from the teacher for --data generate (default max(64, 8 x "
                  "--batch))");
  cmd->add_option("--heldout", flags->heldout,
                  "held-out text for --eval-every (default: heldout.txt beside --data)");
  cmd->add_option("--eval-every", o.eval_every,
                  "held-out perplexity every K steps (0: start, end)");
  cmd->add_option("--eval-windows", o.eval_windows, "held-out windows per evaluation")
      ->capture_default_str();
  cmd->add_option("--checkpoint-every", o.checkpoint_every, "write a checkpoint every K steps");
  cmd->add_option("--checkpoint", flags->checkpoint, "checkpoint file (default: OUT.ckpt)");
  cmd->add_flag("--resume", o.resume, "continue from the checkpoint");
  cmd->add_flag("--recompute", o.recompute,
                "recompute each layer's activations in the backward pass (less memory)");
  cmd->add_option("--train-seed", o.seed, "seed of the training windows")->capture_default_str();
  cmd->add_option("--report", flags->report, "write the training log (JSON)");
  cmd->add_option("--grad-plot", flags->grad_plot, "write the gradient-norm chart (SVG)");
  cmd->add_option("-o,--output", flags->out, "output .lowbit file (written atomically)")
      ->required();
  cmd->add_flag("-q,--quiet", flags->quiet, "no progress bar");
  cmd->callback([flags] {
    flags->quant.apply_preset();
    run_qat(*flags);
  });
}

}  // namespace lowbit::cli
