#pragma once
// OpenAI `stop` sequences over streamed text: generation ends where any stop string first appears,
// and the stop string itself is not returned. Text is released as soon as it can no longer be the
// beginning of a stop string, so a stream never shows a prefix it later has to take back.
#include <string>
#include <string_view>
#include <vector>

namespace lowbit::serve {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  // Adds generated text; returns what may be shown now. After a stop string is found, stopped()
  // is true and the text up to it has been returned.
  std::string push(std::string_view text);
  // The text still held back (generation ended for another reason): returned in full.
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace lowbit::serve
