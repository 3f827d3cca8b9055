// lowbit export-gguf: a weight-only .lowbit model as a llama.cpp GGUF file (io/gguf_export.h,
// docs/gguf.md). What GGUF cannot hold is refused with one line naming the quantize flags that
// would make an exportable file; nothing is written then.
#include <fmt/format.h>

#include <string>

#include "cli/commands.h"
#include "io/gguf_export.h"

namespace lowbit::cli {
namespace {

struct ExportGgufFlags {
  std::string model;
  std::string out;
};

void run_export_gguf(const ExportGgufFlags& f) {
  const GgufExportSummary s = export_gguf(f.model, f.out);
  std::string types;
  for (const auto& [type, n] : s.tensors_by_type)
    types += fmt::format("{}{} {}", types.empty() ? "" : ", ", n, type);
  fmt::print("wrote {}: {} tensors ({}), {:.1f} MiB\n", f.out, s.tensors, types,
             static_cast<double>(s.file_bytes) / (1024.0 * 1024.0));
  for (const std::string& note : s.notes) fmt::print(stderr, "note: {}\n", note);
}

}  // namespace

void register_export_gguf(CLI::App& app) {
  auto flags = std::make_shared<ExportGgufFlags>();
  auto* cmd = app.add_subcommand("export-gguf",
                                 "write a weight-only .lowbit model as a GGUF file for llama.cpp");
  cmd->add_option("-m,--model", flags->model, "the .lowbit model (from lowbit quantize)")
      ->required();
  cmd->add_option("-o,--out", flags->out, "the GGUF file to write")->required();
  cmd->callback([flags] { run_export_gguf(*flags); });
}

}  // namespace lowbit::cli
