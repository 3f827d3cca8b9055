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

// bundled_default: -m may be left out, meaning the model bundled in the repository
// (models/stories260K, see bundled_model()).
void add_model_flags(CLI::App& cmd, ModelFlags& flags, bool bundled_default = false);
// The bundled model's path (in the source tree the binary was built from).
std::string bundled_model();
// Sets the thread count and loads the model named by the flags.
LoadedModel load_from_flags(const ModelFlags& flags, const HfResidency& residency = {});

// This process's peak resident memory so far, in MiB.
double peak_rss_mib();

}  // namespace lowbit::cli
