#pragma once
// Chat messages -> prompt token ids for /v1/chat/completions: the model's chat template when it
// has one, else a plain documented format (docs/serve.md).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "text/tokenizer.h"

namespace lowbit::serve {

class ChatPrompt {
 public:
  virtual ~ChatPrompt() = default;
  // messages: [{role, content}] with string contents. Throws lowbit::Error (e.g. a template's
  // raise_exception on an unsupported role order).
  virtual std::vector<int32_t> ids(const nlohmann::json& messages) const = 0;
  // For the start-up line: which template is in use.
  virtual std::string describe() const = 0;
};

// The plain format: "System: ...\n\nUser: ...\n\nAssistant: ...\n\n" for the messages, then
// "Assistant:" for the reply, with BOS where the model wants it.
std::unique_ptr<ChatPrompt> plain_chat_prompt(const Tokenizer& tokenizer);

// template_file empty: the chat_template of tokenizer_config.json beside `model_path` (a folder,
// or a file whose folder holds it), else the plain format.
std::shared_ptr<const ChatPrompt> load_chat_prompt(const std::filesystem::path& model_path,
                                                   const std::filesystem::path& template_file,
                                                   const Tokenizer& tokenizer);

}  // namespace lowbit::serve
