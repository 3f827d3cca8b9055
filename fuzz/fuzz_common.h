#pragma once
// Shared by the fuzz targets (fuzz/targets/*.cpp). Each target defines LLVMFuzzerTestOneInput:
// built with clang's libFuzzer (scripts/fuzz.sh) it fuzzes; built with g++ against
// fuzz/replay_main.cpp it replays a corpus as a regression test (ctest FuzzReplay.*).
//
// The contract every target checks: a parser given any bytes either succeeds or throws
// lowbit::Error. Anything else — a crash, a sanitizer report, another exception type (a raw JSON
// or stream exception names nothing), a hang — is a finding.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <new>
#include <string>
#include <string_view>

#include "core/error.h"

namespace lowbit::fuzz {

// A private folder for the files the parsers read (removed at exit). It lives in /dev/shm where
// there is one: every execution writes its input there, and a memory file system makes that a
// copy rather than a disk write (several times the executions per second).
inline const std::filesystem::path& scratch_dir() {
  struct Dir {
    std::filesystem::path path;
    Dir() {
      std::error_code ec;
      const bool shm = std::filesystem::is_directory("/dev/shm", ec);
      const auto base = shm ? std::filesystem::path("/dev/shm") : std::filesystem::temp_directory_path();
      path = base / ("lowbit-fuzz-" + std::to_string(::getpid()));
      std::filesystem::create_directories(path);
    }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static Dir dir;
  return dir.path;
}

// Writes the input to `name` in the scratch folder and returns its path.
inline std::filesystem::path write_input(const std::string& name, const uint8_t* data,
                                         size_t size) {
  const auto p = scratch_dir() / name;
  std::ofstream(p, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return p;
}

// The folder of the shared models and data (LOWBIT_SHARED, else the build's default).
inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("LOWBIT_SHARED")) return env;
#ifdef LOWBIT_SHARED_DIR
  return LOWBIT_SHARED_DIR;
#else
  return "../shared";
#endif
}

// Runs `parse`; lowbit::Error is the expected way to reject input, anything else aborts (the
// fuzzer records the input).
template <class F>
void expect_clean(F&& parse) {
  try {
    parse();
  } catch (const Error&) {
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "fuzz: std::bad_alloc escaped (an unchecked size)\n");
    std::abort();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: non-lowbit exception escaped: %s\n", e.what());
    std::abort();
  }
}

}  // namespace lowbit::fuzz
