#pragma once
// Flags that describe a quantization run, shared by `quantize` and `eval`. The methods' tuning
// flags (--alpha, --damp, ...) come from the method registry's parameter table.
#include <CLI/CLI.hpp>

#include <map>
#include <optional>
#include <string>

#include "quant/quantize_options.h"

namespace lowbit::cli {

struct QuantFlags {
  std::string method = "rtn";
  int wbits = 4, abits = 16, kvbits = 16, qbits = 16;
  int group = 0, act_group = 0;
  std::string bits_map;  // --bits-map rules (quant/bits_map.h)
  int head_bits = 8, head_abits = 8, head_group = 0;
  bool w_asym = false, a_asym = false, kv_sym = false, no_mse_clip = false;
  float a_clip = 1.0f;
  std::optional<float> w_clip;           // not given: the MSE clip search, unless --no-mse-clip
  std::map<std::string, double> params;  // registry parameters given on the command line
  std::string calib;
  int calib_samples = 128, calib_len = 512;
  uint64_t seed = 0;
  std::string preset;       // --preset: a paper's settings (method_registry.h)
  CLI::App* app = nullptr;  // the command the flags were added to

  // Sets the flags of --preset that the command line did not give; call after parsing.
  void apply_preset();
  QuantizeOptions options(bool progress) const;
};

// with_bits: the bit-width flags and --preset (quantize); eval takes bit widths from --configs.
void add_quant_flags(CLI::App& cmd, QuantFlags& f, bool with_bits);

}  // namespace lowbit::cli
