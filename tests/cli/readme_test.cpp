// Every shell block of README.md runs as written (from the repository root, `./build/lowbit` being
// the binary under test), except the set-up and test-suite commands that build the project: a
// README whose commands fail is the first thing a new user meets. The blocks' MODEL and TEXT
// default to the workplace's shared reference model and text; the server block's port 8080 is
// swapped for a free one so a busy machine cannot fail the test.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <regex>
#include <string>
#include <vector>

#include "testing/fixtures.h"

namespace lowbit {
namespace {

std::vector<std::string> shell_blocks(const std::string& md) {
  std::vector<std::string> out;
  const std::regex block("```sh\n([\\s\\S]*?)```");
  for (std::sregex_iterator it(md.begin(), md.end(), block), end; it != end; ++it)
    out.push_back((*it)[1]);
  return out;
}

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

TEST(Readme, LongEveryCommandRuns) {
  const auto blocks =
      shell_blocks(testing::read_file(std::filesystem::path(LOWBIT_SOURCE_DIR) / "README.md"));
  ASSERT_GE(blocks.size(), 5u);
  testing::TempDir tmp;
  int ran = 0;
  for (const auto& original : blocks) {
    if (original.find("scripts/setup.sh") != std::string::npos ||
        original.find("scripts/test.sh") != std::string::npos) {
      // The set-up line's own generate still runs, with the binary under test.
      const size_t at = original.find("./build/lowbit");
      if (at == std::string::npos) continue;
      const std::string rest = original.substr(at);
      const auto r =
          std::system(("cd '" + std::string(LOWBIT_SOURCE_DIR) + "' && " +
                       replace_all(rest, "./build/lowbit", LOWBIT_BINARY) + " > /dev/null")
                          .c_str());
      EXPECT_EQ(r, 0) << rest;
      ++ran;
      continue;
    }
    // The block's own /tmp/ paths and port first: the binary's path may contain either (a
    // checkout under /tmp, as `git clone . /tmp/x` makes).
    std::string script = replace_all(original, "8080", std::to_string(free_port()));
    script = replace_all(script, "/tmp/", tmp.path().string() + "/");
    script = replace_all(script, "./build/lowbit", LOWBIT_BINARY);
    testing::write_file(tmp / "block.sh", "set -e\n" + script);
    const std::string out = (tmp / "block.out").string();
    const int rc =
        std::system(("cd '" + std::string(LOWBIT_SOURCE_DIR) + "' && timeout 900 bash '" +
                     (tmp / "block.sh").string() + "' > '" + out + "' 2>&1")
                        .c_str());
    EXPECT_EQ(rc, 0) << original << "\n--- output:\n" << testing::read_file(out);
    if (original.find("/v1/chat/completions") != std::string::npos) {
      EXPECT_NE(testing::read_file(out).find("\"chat.completion\""), std::string::npos)
          << testing::read_file(out);
    }
    ++ran;
  }
  EXPECT_GE(ran, 5);
}

}  // namespace
}  // namespace lowbit
