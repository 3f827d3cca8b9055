#include "cli/common.h"

#include <sys/resource.h>

#include <filesystem>

#include "core/error.h"
#include "core/thread_pool.h"

namespace lowbit::cli {

std::string bundled_model() {
  return LOWBIT_BUNDLED_MODEL;
}

void add_model_flags(CLI::App& cmd, ModelFlags& flags, bool bundled_default) {
  auto* m = cmd.add_option(
      "-m,--model", flags.model,
      bundled_default ? "Hugging Face checkpoint folder, lowbit quantized .lowbit file, "
                        ".gguf file or llama2.c .bin (default: the bundled stories260K model)"
                      : "Hugging Face checkpoint folder, lowbit quantized .lowbit file, "
                        ".gguf file or llama2.c .bin");
  if (!bundled_default) m->required();
  cmd.add_flag("--simulate", flags.simulate,
               "quantized models: simulated fp32 path instead of the integer kernels");
  cmd.add_option("--tokenizer", flags.tokenizer,
                 "tokenizer file (default: the one beside the model)");
  cmd.add_option("-t,--threads", flags.threads, "worker threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
}

LoadedModel load_from_flags(const ModelFlags& flags, const HfResidency& residency) {
  set_num_threads(flags.threads);
  if (flags.model.empty()) {
    const std::string bundled = bundled_model();
    if (!std::filesystem::exists(bundled))
      fail(
          "no -m given, and the bundled model {} is missing (it ships in the lowbit repository's "
          "models/ folder)",
          bundled);
    return load_model(bundled, flags.tokenizer, LoadOptions{flags.simulate, residency});
  }
  return load_model(flags.model, flags.tokenizer, LoadOptions{flags.simulate, residency});
}

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

}  // namespace lowbit::cli
