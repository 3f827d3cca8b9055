#include "quant/pipeline.h"

#include <chrono>
#include <memory>
#include <optional>

#include "core/progress.h"
#include "quant/output_head.h"
#include "quant/quant_pass.h"

namespace lowbit {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// One pass of the run with the calibration stream that feeds it, if it needs statistics.
struct PassRun {
  const MethodInfo* info;
  std::unique_ptr<QuantPass> pass;
  std::optional<CalibrationStream> stream;
  CalibrationOptions calib;
};

}  // namespace

// Layer by layer: for layer l, every pass in turn (transform, then weight quantizer) edits a
// working copy of the layer, which is then installed into the model; then l + 1. A pass that
// needs statistics reads them from its own calibration stream, which runs the layer as the
// earlier passes left it, in full precision: the first pass's stream runs the original layers
// (a transform's statistics), a later pass's stream the transformed full-precision layers (GPTQ's
// Gram matrices after a transform). Memory beyond the model is one layer's working copy and
// statistics plus one residual stream per pass that needs statistics.
QuantizeReport quantize_model(LlamaModel& model, const Tokenizer& tokenizer,
                              const QuantizeOptions& o, const LayerDone& layer_done) {
  const auto& c = model.config();
  o.validate(c);
  QuantizeReport report;
  const auto t0 = std::chrono::steady_clock::now();
  double calibration = 0.0;

  // Before any work: every projection must be fp32.
  for (size_t l = 0; l < model.weights().layers.size(); ++l)
    check_full_precision(model.weights().layers[l], l);

  std::vector<std::vector<int32_t>> windows;
  if (o.needs_calibration()) {
    windows = sample_calibration_windows(tokenizer, o.calib);
    report.calibration_tokens = windows.size() * windows.front().size();
  }
  calibration += seconds_since(t0);  // reading and tokenizing the calibration text

  // The passes; a weight quantizer runs only when the weights are quantized at all. A pass's
  // stream embeds the windows after the model-wide changes of the passes before it.
  std::vector<PassRun> runs;
  for (const MethodInfo* info : o.method.passes)
    if (info->kind != MethodKind::kWeightQuantizer || o.weight.enabled())
      runs.push_back({info, info->make(o), std::nullopt, o.calib});
  size_t streams = 0;
  // The mean calibration sequence, for passes that fit on it: it is advanced through each layer
  // after the layer is quantized, so later layers see the quantized model's activations.
  std::optional<CalibrationStream> sequence;
  CalibrationOptions sequence_calib = o.calib;
  for (auto& run : runs) {
    if (run.pass->needs_quantized_sequence() && !sequence) {
      const auto t = std::chrono::steady_clock::now();
      sequence.emplace(CalibrationStream::mean_of(model, windows));
      sequence_calib.gram = false;
      sequence_calib.sample_rows = static_cast<int>(sequence->seq_len());  // every row
      calibration += seconds_since(t);
    }
    if (run.info->needs.activation_stats || run.info->needs.gram) {
      const auto t = std::chrono::steady_clock::now();
      run.stream.emplace(model, windows);
      run.calib.gram = run.info->needs.gram;
      calibration += seconds_since(t);
      ++streams;
    }
    run.pass->begin(model);
  }
  for (auto& run : runs)
    if (run.info->needs.training_data) run.pass->begin_training(model, windows);

  // Progress in calibration windows through layers, or in layers when nothing calibrates.
  const size_t per_layer = streams > 0 ? streams * windows.size() : 1;
  Progress progress(streams > 0 ? "calibration" : "quantize",
                    per_layer * static_cast<size_t>(c.n_layers), o.calib.progress);
  size_t done = 0;
  const auto tick = [&] { progress.update(++done); };
  for (int l = 0; l < c.n_layers; ++l) {
    auto& W = model.weights().layers[static_cast<size_t>(l)];
    WorkLayer L = take_layer(W, static_cast<size_t>(l));
    for (size_t i = 0; i < runs.size(); ++i) {
      LayerStats stats, sequence_stats;
      const bool wants_sequence = runs[i].pass->needs_quantized_sequence();
      // The layer as the earlier passes left it, in full precision (their online transforms
      // included: the statistics are of the inputs before them).
      if (i > 0 && (runs[i].stream || wants_sequence)) install_layer(W, L, QuantSpec{});
      const auto t = std::chrono::steady_clock::now();
      if (runs[i].stream) stats = runs[i].stream->run_layer(model, l, runs[i].calib, tick);
      if (wants_sequence) sequence_stats = sequence->observe_layer(model, l, sequence_calib);
      calibration += seconds_since(t);
      LayerContext ctx{c, l, W, L, stats, wants_sequence ? &sequence_stats : nullptr};
      runs[i].pass->apply(ctx);
    }
    install_layer(W, L, o.act);
    if (sequence) {
      const auto t = std::chrono::steady_clock::now();
      sequence->advance_layer(model, l);  // through the quantized layer
      calibration += seconds_since(t);
    }
    if (layer_done) {
      layer_done(l, W);
      W = LayerWeights{};  // streamed out: release it (the source pages went at install_layer)
    }
    if (streams == 0) tick();
  }
  progress.finish();
  runs.clear();

  quantize_output_head(model, o.head_weight, o.head_act);
  QuantSpec kv = o.kv;
  kv.group_size = c.head_dim;
  model.set_kv_quant(kv);
  model.set_attention_quant(
      {.qk_hadamard = kv.enabled() && o.method.rotates_qk(), .query = o.query});
  report.calibration_seconds = calibration;
  report.quantize_seconds = seconds_since(t0) - calibration;
  return report;
}

}  // namespace lowbit
