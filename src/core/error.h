#pragma once
// lowbit reports every user-facing problem (bad file, bad flag, bad config) as lowbit::Error with a
// message that names the file, field and value. The CLI prints it as one line and exits non-zero.
#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace lowbit {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace lowbit
