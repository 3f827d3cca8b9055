#pragma once
// Each subcommand registers its flags and a callback that runs it; callbacks throw lowbit::Error.
#include <CLI/CLI.hpp>

namespace lowbit::cli {

void register_generate(CLI::App& app);
void register_perplexity(CLI::App& app);
void register_inspect(CLI::App& app);
void register_quantize(CLI::App& app);
void register_eval(CLI::App& app);
void register_bench(CLI::App& app);
void register_outliers(CLI::App& app);
void register_fixture(CLI::App& app);
void register_qat(CLI::App& app);
void register_profile(CLI::App& app);
void register_serve(CLI::App& app);
void register_tokenize(CLI::App& app);
void register_export_gguf(CLI::App& app);

}  // namespace lowbit::cli
