#include "cli/quant_flags.h"

#include <fmt/format.h>

#include "core/error.h"

namespace lowbit::cli {

void add_quant_flags(CLI::App& cmd, QuantFlags& f, bool with_bits) {
  f.app = &cmd;
  if (with_bits) {
    std::string presets;
    for (const MethodPreset& p : method_presets())
      presets += fmt::format("{}{} ({})", presets.empty() ? "" : ", ", p.name, p.source);
    cmd.add_option(
        "--preset", f.preset,
        "a paper's method and quantizer settings, overridden by flags given here: " + presets);
    cmd.add_option("--method", f.method, "passes joined by '+': " + describe_method_kinds());
    cmd.add_option("--wbits", f.wbits, "weight bits (2..8, 16 = full precision)");
    cmd.add_option("--abits", f.abits, "activation bits, per-token dynamic (2..8, 16 = off)");
    cmd.add_option("--kvbits", f.kvbits, "KV-cache bits, per token and head (2..8, 16 = off)");
    cmd.add_option("--qbits", f.qbits,
                   "query bits after RoPE, per token and head (2..8, 16 = off; symmetric unless "
                   "--a-asym)");
    cmd.add_option("--group", f.group, "weight group size (0 = per output channel)");
    cmd.add_option("--bits-map", f.bits_map,
                   "per-layer weight bits overriding --wbits: comma-separated PATTERN=BITS rules, "
                   "PATTERN a projection (down_proj) or layers.L.PROJ (L a number, A-B or *; PROJ "
                   "q_proj..down_proj or *), BITS 2..8 or 16; later rules win, e.g. "
                   "\"down_proj=6,layers.0-1.*=8\"");
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
  cmd.add_option("--w-clip", f.w_clip,
                 "weights: a fixed clipping ratio in (0, 1] instead of the MSE clip search");
  cmd.add_option("--a-clip", f.a_clip, "activation clipping ratio in (0, 1]");
  // The methods' tuning parameters, from the registry.
  for (const MethodParam& p : method_params()) {
    const std::string flag = "--" + std::string(p.name), name(p.name);
    if (p.type == MethodParam::Type::kSwitch) {
      cmd.add_flag_callback(
          flag, [&f, name] { f.params[name] = 1.0; }, std::string(p.help));
    } else {
      cmd.add_option_function<double>(
             flag, [&f, name](const double& v) { f.params[name] = v; }, std::string(p.help))
          ->type_name(p.type == MethodParam::Type::kInteger ? "INT" : "FLOAT")
          ->default_str(fmt::format("{}", p.default_value));
    }
  }
  cmd.add_option("--calib", f.calib, "calibration text file");
  cmd.add_option("--calib-samples", f.calib_samples, "calibration sequences");
  cmd.add_option("--calib-len", f.calib_len, "tokens per calibration sequence");
  cmd.add_option("--seed", f.seed, "seed for calibration sampling and random rotations");
}

void QuantFlags::apply_preset() {
  if (preset.empty()) return;
  const MethodPreset& p = find_preset(preset);
  for (std::string_view setting : p.flags) {
    const size_t eq = setting.find('=');
    const std::string flag(setting.substr(0, eq));
    const std::string value(eq == std::string_view::npos ? "true" : setting.substr(eq + 1));
    CLI::Option* opt = app->get_option_no_throw(flag);
    if (opt == nullptr)
      fail("--preset {}: sets {}, which this command does not take", preset, flag);
    if (opt->count() > 0) continue;  // given on the command line
    opt->add_result(value);
    opt->run_callback();
  }
}

QuantizeOptions QuantFlags::options(bool progress) const {
  QuantizeOptions o;
  o.method = MethodSpec::parse(method);
  if (!(a_clip > 0.0f && a_clip <= 1.0f)) fail("--a-clip must be in (0, 1], got {}", a_clip);
  const bool fixed_clip = w_clip.has_value();
  if (fixed_clip && !(*w_clip > 0.0f && *w_clip <= 1.0f))
    fail("--w-clip must be in (0, 1], got {}", *w_clip);
  o.weight = {.bits = wbits,
              .symmetric = !w_asym,
              .group_size = group,
              .clip = w_clip.value_or(1.0f),
              .mse_clip = !no_mse_clip && !fixed_clip};
  o.act = {.bits = abits, .symmetric = !a_asym, .group_size = act_group, .clip = a_clip};
  o.kv = {.bits = kvbits, .symmetric = kv_sym};
  o.query = {.bits = qbits, .symmetric = !a_asym};
  o.head_weight = {
      .bits = head_bits, .symmetric = true, .group_size = head_group, .mse_clip = true};
  o.head_act = {.bits = head_abits, .symmetric = true};
  if (!bits_map.empty()) o.bits_map = BitsMap::parse(bits_map);
  for (const auto& [name, value] : params) o.params.set(name, value);
  o.seed = seed;
  o.calib.file = calib;
  o.calib.samples = calib_samples;
  o.calib.seq_len = calib_len;
  o.calib.seed = seed;
  o.calib.progress = progress;
  return o;
}

}  // namespace lowbit::cli
