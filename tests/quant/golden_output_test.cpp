// Quantized files do not change unless a change means them to: RTN files of ref-llama-s, made by
// the CLI with relative paths (the file records its source path) on the scalar kernels, hash to
// the values committed here. RTN and the output head's RTN run no OpenBLAS code, so the hashes
// are portable across x86-64 CPUs; the calibrated methods' are not (OpenBLAS picks kernels per
// CPU) and are compared before/after a change on one machine by scripts/same_outputs.sh instead.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "testing/fixtures.h"

namespace lowbit {
namespace {

std::string run(const std::string& cmd) {
  std::string out;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, pipe) != nullptr) out += buf;
  ::pclose(pipe);
  return out;
}

// SHA-256 of `lowbit quantize --method rtn FLAGS` on ref-llama-s, run from the source folder.
std::string rtn_file_hash(const std::string& flags) {
  const std::filesystem::path root = LOWBIT_SOURCE_DIR;
  testing::TempDir tmp;
  const auto out = (tmp / "model.lowbit").string();
  const std::string cmd = "cd '" + root.string() +
                          "' && LOWBIT_ISA=scalar '" LOWBIT_BINARY
                          "' quantize -q -t 2 -m ../shared/models/ref-llama-s --method rtn " +
                          flags + " -o '" + out + "' >/dev/null && sha256sum '" + out + "'";
  return run(cmd).substr(0, 64);
}

TEST(GoldenOutput, RtnFilesAreByteIdentical) {
  if (!std::filesystem::exists(std::filesystem::path(LOWBIT_SOURCE_DIR) /
                               "../shared/models/ref-llama-s/model.safetensors"))
    GTEST_SKIP() << "ref-llama-s is not beside the source folder";
  EXPECT_EQ(rtn_file_hash("--wbits 4 --abits 4"),
            "b7b33dc02905e6754166656a932a2023f50e8967e71dcb57c7526925f8674a3e");
  EXPECT_EQ(rtn_file_hash("--wbits 4 --abits 16 --group 128"),
            "08372630bae1a710f2267ffeec5d57f1c046e89218a7bf229696566c54c249cd");
}

}  // namespace
}  // namespace lowbit
