#pragma once
// Flags that describe a quantization run, shared by `quantize` and `eval`.
#include <CLI/CLI.hpp>

#include <string>

#include "quant/pipeline.h"

namespace lowbit::cli {

struct QuantFlags {
  std::string method = "rtn";
  int wbits = 4, abits = 16, kvbits = 16;
  int group = 0, act_group = 0;
  int head_bits = 8, head_abits = 8, head_group = 0;
  bool w_asym = false, a_asym = false, kv_sym = false, no_mse_clip = false;
  float a_clip = 1.0f;
  float alpha = 0.5f;
  size_t duquant_block = 128;
  int duquant_steps = 256;
  bool duquant_row_rule = false;
  bool act_order = false;
  double damp = 0.01;
  std::string calib;
  int calib_samples = 128, calib_len = 512;
  uint64_t seed = 0;

  QuantizeOptions options(bool progress) const;
};

void add_quant_flags(CLI::App& cmd, QuantFlags& f, bool with_bits);

}  // namespace lowbit::cli
