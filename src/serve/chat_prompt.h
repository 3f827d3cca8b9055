#pragma once
// Chat messages -> prompt token ids for /v1/chat/completions: the model's chat template when it
// has one (TemplateChatPrompt), else the plain documented format (PlainChatPrompt);
// docs/chat-templates.md.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "text/chat_template.h"
#include "text/tokenizer.h"

namespace lowbit::serve {

class ChatPrompt {
 public:
  virtual ~ChatPrompt() = default;
  // messages: [{role, content}] with string contents. Throws jinja::TemplateError (e.g. the
  // template's raise_exception on a role order it refuses: jinja::TemplateRaised).
  virtual std::vector<int32_t> ids(const nlohmann::json& messages) const = 0;
  // For the start-up line: which template is in use.
  virtual std::string describe() const = 0;
};

// A Jinja chat template, tokenized as transformers' apply_chat_template(tokenize=True) does:
// the rendered text is encoded without adding special tokens, and the template's bos_token and
// eos_token strings in it become the BOS and EOS ids (a tokenizer.json tokenizer matches them
// itself; SentencePiece would spell "<s>" out as text). The text between them is encoded piece by
// piece, each with SentencePiece's dummy prefix: "<s>[INST]" is 1, "▁[", "INST", "]", as Meta's
// reference code (which encodes each turn) and transformers' fast Llama tokenizer give.
class TemplateChatPrompt : public ChatPrompt {
 public:
  TemplateChatPrompt(ChatTemplate chat_template, const Tokenizer& tokenizer, std::string bos_token,
                     std::string eos_token);
  std::vector<int32_t> ids(const nlohmann::json& messages) const override;
  std::string describe() const override;
  // The prompt text itself (tests, logs).
  std::string text(const nlohmann::json& messages) const;

 private:
  ChatTemplate template_;
  const Tokenizer& tokenizer_;
  std::string bos_, eos_;
};

// The plain format (ChatTemplate::plain(): "System: ...\n\nUser: ...\n\nAssistant:"), with BOS
// first when the tokenizer wants one.
class PlainChatPrompt : public ChatPrompt {
 public:
  explicit PlainChatPrompt(const Tokenizer& tokenizer);
  std::vector<int32_t> ids(const nlohmann::json& messages) const override;
  std::string describe() const override { return "plain format (no chat template)"; }

 private:
  ChatTemplate template_;
  const Tokenizer& tokenizer_;
};

// template_file non-empty: that file's template (bos/eos strings still from the config);
// else the config's chat_template; else the plain format. `tokenizer_config` is the text of
// tokenizer_config.json ("" when there is none), `config_source` what to call it in errors.
std::shared_ptr<const ChatPrompt> load_chat_prompt(const std::string& tokenizer_config,
                                                   const std::string& config_source,
                                                   const std::filesystem::path& template_file,
                                                   const Tokenizer& tokenizer);

}  // namespace lowbit::serve
