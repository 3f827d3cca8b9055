#include "serve/chat_prompt.h"

#include "core/error.h"
#include "text/document.h"

namespace lowbit::serve {

namespace {

class PlainChatPrompt : public ChatPrompt {
 public:
  explicit PlainChatPrompt(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
  std::vector<int32_t> ids(const nlohmann::json& messages) const override {
    std::string text;
    for (const auto& m : messages) {
      std::string role = m.at("role").get<std::string>();
      if (!role.empty()) role[0] = static_cast<char>(role[0] - 'a' + 'A');
      text += role + ": " + m.at("content").get<std::string>() + "\n\n";
    }
    text += "Assistant:";
    return tokenize_document(tokenizer_, text);
  }
  std::string describe() const override { return "plain format (no chat template)"; }

 private:
  const Tokenizer& tokenizer_;
};

}  // namespace

std::unique_ptr<ChatPrompt> plain_chat_prompt(const Tokenizer& tokenizer) {
  return std::make_unique<PlainChatPrompt>(tokenizer);
}

std::shared_ptr<const ChatPrompt> load_chat_prompt(const std::filesystem::path& model_path,
                                                   const std::filesystem::path& template_file,
                                                   const Tokenizer& tokenizer) {
  (void)model_path;
  if (!template_file.empty())
    fail("--chat-template {}: Jinja chat templates are not supported yet", template_file.string());
  return plain_chat_prompt(tokenizer);
}

}  // namespace lowbit::serve
