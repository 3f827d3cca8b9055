#include "cli/common.h"

#include <sys/resource.h>

#include "core/thread_pool.h"

namespace lowbit::cli {

void add_model_flags(CLI::App& cmd, ModelFlags& flags) {
  cmd.add_option("-m,--model", flags.model,
                 "Hugging Face checkpoint folder, lowbit quantized .lowbit file or llama2.c .bin")
      ->required();
  cmd.add_flag("--simulate", flags.simulate,
               "quantized models: simulated fp32 path instead of the integer kernels");
  cmd.add_option("--tokenizer", flags.tokenizer,
                 "tokenizer file (default: the one beside the model)");
  cmd.add_option("-t,--threads", flags.threads, "worker threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
}

LoadedModel load_from_flags(const ModelFlags& flags, const HfResidency& residency) {
  set_num_threads(flags.threads);
  return load_model(flags.model, flags.tokenizer, LoadOptions{flags.simulate, residency});
}

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

}  // namespace lowbit::cli
