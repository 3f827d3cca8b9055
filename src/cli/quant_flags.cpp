#include "cli/quant_flags.h"

namespace lowbit::cli {

void add_quant_flags(CLI::App& cmd, QuantFlags& f, bool with_bits) {
  if (with_bits) {
    cmd.add_option(
        "--method", f.method,
        "passes joined by '+': a transform (smoothquant, hadamard, duquant) and a weight "
        "quantizer (rtn, gptq, awq)");
    cmd.add_option("--wbits", f.wbits, "weight bits (2..8, 16 = full precision)");
    cmd.add_option("--abits", f.abits, "activation bits, per-token dynamic (2..8, 16 = off)");
    cmd.add_option("--kvbits", f.kvbits, "KV-cache bits, per token and head (2..8, 16 = off)");
    cmd.add_option("--group", f.group, "weight group size (0 = per output channel)");
  }
  cmd.add_option("--head-bits", f.head_bits,
                 "output-head weight bits (16 = full precision, the papers' protocol)");
  cmd.add_option("--head-abits", f.head_abits, "output-head activation bits (16 = off)");
  cmd.add_option("--head-group", f.head_group,
                 "output-head weight group size (0 = per output channel)");
  cmd.add_option("--act-group", f.act_group, "activation group size (0 = per token)");
  cmd.add_flag("--w-asym", f.w_asym, "asymmetric weights (zero point)");
  cmd.add_flag("--a-asym", f.a_asym, "asymmetric activations");
  cmd.add_flag("--kv-sym", f.kv_sym, "symmetric KV cache (default asymmetric)");
  cmd.add_flag("--no-mse-clip", f.no_mse_clip, "weights: plain min/max range, no MSE clip search");
  cmd.add_option("--a-clip", f.a_clip, "activation clipping ratio in (0, 1]");
  cmd.add_option("--alpha", f.alpha, "smoothing strength of SmoothQuant and DuQuant");
  cmd.add_option("--duquant-block", f.duquant_block, "DuQuant rotation block size");
  cmd.add_option("--duquant-steps", f.duquant_steps, "DuQuant greedy rotation steps per block");
  cmd.add_flag("--duquant-row-rule", f.duquant_row_rule,
               "pick the outlier channel as the authors' code does (row index) instead of the "
               "paper's column rule");
  cmd.add_flag("--act-order", f.act_order, "GPTQ: quantize columns by decreasing Hessian diagonal");
  cmd.add_option("--damp", f.damp, "GPTQ damping, fraction of the mean Hessian diagonal");
  cmd.add_option("--calib", f.calib, "calibration text file");
  cmd.add_option("--calib-samples", f.calib_samples, "calibration sequences");
  cmd.add_option("--calib-len", f.calib_len, "tokens per calibration sequence");
  cmd.add_option("--seed", f.seed, "seed for calibration sampling and random rotations");
}

QuantizeOptions QuantFlags::options(bool progress) const {
  QuantizeOptions o;
  o.method = MethodSpec::parse(method);
  o.weight = QuantSpec{wbits, !w_asym, group, 1.0f, !no_mse_clip};
  o.act = QuantSpec{abits, !a_asym, act_group, a_clip, false};
  o.kv = QuantSpec{kvbits, kv_sym, 0, 1.0f, false};
  o.head_weight = QuantSpec{head_bits, true, head_group, 1.0f, true};
  o.head_act = QuantSpec{head_abits, true, 0, 1.0f, false};
  o.smooth_alpha = alpha;
  o.duquant_block = duquant_block;
  o.duquant_steps = duquant_steps;
  o.duquant_row_rule = duquant_row_rule;
  o.gptq_act_order = act_order;
  o.gptq_damp = damp;
  o.seed = seed;
  o.calib.file = calib;
  o.calib.samples = calib_samples;
  o.calib.seq_len = calib_len;
  o.calib.seed = seed;
  o.calib.progress = progress;
  return o;
}

}  // namespace lowbit::cli
