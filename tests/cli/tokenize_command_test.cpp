// lowbit tokenize: ids, pieces and llama-tokenize's "id -> 'text'" lines for a real tokenizer, the
// bundled default model, and one-line errors for bad input.
#include <gtest/gtest.h>

#include <algorithm>

#include "testing/fixtures.h"

namespace lowbit {
namespace {

using testing::run_lowbit;

std::string q(const std::filesystem::path& p) {
  std::string s(1, '\'');
  s.append(p.string()).push_back('\'');
  return s;
}

TEST(TokenizeCommand, IdsPiecesAndLines) {
  const std::string m = "-m " + q(testing::ref_llama_dir());
  // The Llama-2 SentencePiece ids of "Hello world" (with BOS), as the reference library gives.
  auto r = run_lowbit("tokenize " + m + " -p 'Hello world' --ids");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "[1, 15043, 3186]\n");
  r = run_lowbit("tokenize " + m + " -p 'Hello world' --ids --no-bos");
  EXPECT_EQ(r.out, "[15043, 3186]\n");
  r = run_lowbit("tokenize " + m + " -p 'Hello world' --pieces");
  EXPECT_EQ(r.out, "['<s>', '\xE2\x96\x81Hello', '\xE2\x96\x81world']\n");
  testing::TempDir tmp;
  testing::write_file(tmp / "t.txt", "Hello world");
  r = run_lowbit("tokenize " + m + " -f " + q(tmp / "t.txt") + " --ids");
  EXPECT_EQ(r.out, "[1, 15043, 3186]\n");
  testing::write_file(tmp / "n.txt", "Hello world\nit's");
  r = run_lowbit("tokenize " + m + " -f " + q(tmp / "n.txt") + " --show-count");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("     1 -> '<s>'\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  3186 -> ' world'\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" -> '\\n'\n"), std::string::npos) << r.out;  // the newline, escaped
  EXPECT_NE(r.out.find("Total number of tokens: "), std::string::npos) << r.out;
}

TEST(TokenizeCommand, BundledModelByDefault) {
  const auto r = run_lowbit("tokenize -p 'Once upon a time' --pieces");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // llama2.c's tok512.bin stores BOS as "\n<s>\n"; pieces print as stored, escaped.
  EXPECT_EQ(r.out.rfind("['\\n<s>\\n', ' Once', ' upon', ", 0), 0u) << r.out;
}

TEST(TokenizeCommand, BadInputIsOneLine) {
  const std::string m = "-m " + q(testing::ref_llama_dir());
  testing::TempDir tmp;
  testing::write_file(tmp / "bad.txt", "ok \xFF\xFE");
  for (const auto& [args, needle] : std::vector<std::pair<std::string, std::string>>{
           {"tokenize " + m, "give either -p TEXT or -f FILE"},
           {"tokenize " + m + " -f " + q(tmp / "bad.txt"), "invalid UTF-8 at byte offset 3"},
           {"tokenize " + m + " -f " + q(tmp / "missing.txt"), "missing.txt"},
           {"tokenize -m " + q(tmp / "nothing") + " -p x", "nothing"},
           {"tokenize " + m + " -p x --ids --pieces", "excludes"}}) {
    const auto r = run_lowbit(args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << args << ": " << r.err;
  }
}

}  // namespace
}  // namespace lowbit
