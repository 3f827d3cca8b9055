// lowbit command-line interface: one subcommand per job, shared flags, and every error reported as
// one line on stderr with a non-zero exit status.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <new>
#include <string>

#include "cli/build_info.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/signal_cleanup.h"
#include "core/utf8.h"

int main(int argc, char** argv) {
  lowbit::install_signal_cleanup();  // interrupted writes leave no temporary files
  CLI::App app{"lowbit: 4-bit LLM quantization and CPU inference"};
  app.require_subcommand(1);
  // The commit and source tree the binary is built from: results are keyed on them.
  app.set_version_flag(
      "--version", "lowbit 0.1.0 (commit " LOWBIT_BUILD_COMMIT ", source " LOWBIT_BUILD_SOURCE ")");
  lowbit::cli::register_generate(app);
  lowbit::cli::register_perplexity(app);
  lowbit::cli::register_inspect(app);
  lowbit::cli::register_quantize(app);
  lowbit::cli::register_eval(app);
  lowbit::cli::register_bench(app);
  lowbit::cli::register_outliers(app);
  lowbit::cli::register_fixture(app);
  lowbit::cli::register_qat(app);
  lowbit::cli::register_profile(app);
  lowbit::cli::register_serve(app);
  lowbit::cli::register_tokenize(app);
  lowbit::cli::register_export_gguf(app);
  try {
    // CLI11 would only say "A subcommand is required" for a misspelt command; name it instead.
    std::string names;
    bool known = false;
    for (const auto* sub : app.get_subcommands({})) {
      names += (names.empty() ? "" : ", ") + sub->get_name();
      known = known || (argc > 1 && sub->get_name() == argv[1]);
    }
    if (argc > 1 && argv[1][0] != '-' && !known) {
      fmt::print(stderr, "lowbit: error: unknown command '{}' (commands: {})\n", argv[1], names);
      return 2;
    }
    app.parse(argc, argv);
    return 0;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    fmt::print(stderr, "lowbit: error: {}\n", lowbit::escape_nonprintable(e.what()));
    return 2;
  } catch (const lowbit::Error& e) {
    // Messages quote file names, keys and values from inputs: escape what a terminal would act on.
    std::fflush(stdout);
    fmt::print(stderr, "lowbit: error: {}\n", lowbit::escape_nonprintable(e.what()));
    return 1;
  } catch (const std::bad_alloc&) {
    std::fflush(stdout);
    fmt::print(stderr,
               "lowbit: error: out of memory (see docs/input-limits.md for the sizes "
               "lowbit accepts)\n");
    return 1;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    fmt::print(stderr, "lowbit: error: {}\n", lowbit::escape_nonprintable(e.what()));
    return 1;
  }
}
