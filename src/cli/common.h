#pragma once
// Flags shared by every subcommand that loads a model.
#include <CLI/CLI.hpp>

#include <string>

#include "io/model_loader.h"

namespace lowbit::cli {

struct ModelFlags {
  std::string model;
  std::string tokenizer;
  int threads = 0;
  bool simulate = false;
};

void add_model_flags(CLI::App& cmd, ModelFlags& flags);
// Sets the thread count and loads the model named by the flags.
LoadedModel load_from_flags(const ModelFlags& flags, const HfResidency& residency = {});

// This process's peak resident memory so far, in MiB.
double peak_rss_mib();

}  // namespace lowbit::cli
