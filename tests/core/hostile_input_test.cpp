// Files and messages under hostile input: FIFOs refused at once (never a hang), pipes readable as
// text, outputs that would replace an input refused, temporary files removed on a signal, and
// non-printable bytes escaped in messages.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "core/signal_cleanup.h"
#include "core/utf8.h"
#include "testing/fixtures.h"
#include "text/text_file.h"

namespace lowbit {
namespace {

using testing::error_of;

namespace fs = std::filesystem;

TEST(HostileFiles, MappingAFifoFailsAtOnce) {
  testing::TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "model.bin").c_str(), 0600), 0);
  // Before: open() waited for a writer forever.
  EXPECT_NE(error_of([&] { MappedFile f(dir / "model.bin"); }).find("not a regular file"),
            std::string::npos);
}

TEST(HostileFiles, TextMayComeFromAPipe) {
  testing::TempDir dir;
  const fs::path fifo = dir / "text";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::thread writer([&] { std::ofstream(fifo) << "streamed text\n"; });
  EXPECT_EQ(read_text_file(fifo), "streamed text\n");
  writer.join();
  EXPECT_NE(error_of([&] { read_text_file(dir.path()); }).find("not a regular file or a pipe"),
            std::string::npos);
}

TEST(HostileFiles, AnOutputNeverReplacesAnInput) {
  testing::TempDir dir;
  testing::write_file(dir / "task.jsonl", "{}\n");
  testing::write_file(dir / "config.json", "{}");
  const std::vector<fs::path> inputs = {dir / "task.jsonl", dir.path()};
  EXPECT_NE(error_of([&] {
              check_not_an_input(dir / "task.jsonl", inputs, "--json");
            }).find("--json " + (dir / "task.jsonl").string() + ": is an input"),
            std::string::npos);
  // The same file by another name.
  fs::create_symlink(dir / "task.jsonl", dir / "alias.jsonl");
  EXPECT_NE(error_of([&] {
              check_not_an_input(dir / "alias.jsonl", inputs, "--json");
            }).find("is an input"),
            std::string::npos);
  // A checkpoint file of an input folder.
  EXPECT_NE(error_of([&] {
              check_not_an_input(dir / "config.json", inputs, "-o");
            }).find("is a file of the input folder"),
            std::string::npos);
  EXPECT_NE(
      error_of([&] { check_not_an_input(dir.path(), inputs, "-o"); }).find("not a regular file"),
      std::string::npos);
  EXPECT_NO_THROW(check_not_an_input(dir / "new.json", inputs, "--json"));
  testing::write_file(dir / "results.json", "old");
  EXPECT_NO_THROW(check_not_an_input(dir / "results.json", inputs, "--json"));
}

TEST(HostileFiles, TemporaryFilesAreRemovedOnSignals) {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    testing::TempDir dir;
    const fs::path folder = dir / "extract", file = folder / "tokenizer.json";
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      install_signal_cleanup();
      fs::create_directory(folder);
      const RemoveOnSignal a(folder, /*directory=*/true);
      std::ofstream(file) << "x";
      const RemoveOnSignal b(file);
      std::raise(sig);
      ::_exit(0);  // not reached: the handler re-raises with the default action
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == sig) << sig;
    EXPECT_FALSE(fs::exists(file)) << sig;
    EXPECT_FALSE(fs::exists(folder)) << sig;
  }
}

TEST(HostileFiles, AtomicWriteInterruptedBySignalLeavesNothing) {
  testing::TempDir dir;
  const fs::path out = dir / "model.lowbit";
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    install_signal_cleanup();
    write_file_atomically(out, [](std::ostream& o) {
      o << "partial";
      o.flush();
      std::raise(SIGTERM);
    });
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_TRUE(fs::is_empty(dir.path())) << "a temporary file was left behind";
}

TEST(Messages, NonPrintableBytesAreEscaped) {
  EXPECT_EQ(escape_nonprintable("plain é ✓"), "plain é ✓");
  EXPECT_EQ(escape_nonprintable("a\x1b[2Jb"), "a\\x1b[2Jb");
  EXPECT_EQ(escape_nonprintable("bell\a tab\t nl\n del\x7f"),
            "bell\\x07 tab\\x09 nl\\x0a del\\x7f");
  EXPECT_EQ(escape_nonprintable("bad \xff\xfe end"), "bad \\xff\\xfe end");
  EXPECT_EQ(escape_nonprintable("c1 \xc2\x9b"), "c1 \\xc2\\x9b");  // U+009B, a C1 control
  EXPECT_EQ(escape_nonprintable("cut \xe2\x9c"), "cut \\xe2\\x9c");
}

}  // namespace
}  // namespace lowbit
