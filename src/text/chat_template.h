#pragma once
// A model's chat template: the Jinja program in tokenizer_config.json's `chat_template` that turns
// a list of messages into the model's prompt text, rendered as transformers' apply_chat_template
// does (variables messages, add_generation_prompt, bos_token, eos_token, tools, and any extra).
//
// The engine (text/jinja_*) is written here because no C++ Jinja engine is packaged for Debian;
// it implements the subset real chat templates use, with the semantics of @huggingface/jinja
// (the renderer transformers.js uses), and a test renders every template in
// tests/text/chat_templates/ with both and requires the same bytes (docs/chat-templates.md).
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "text/jinja_error.h"

namespace lowbit {

namespace jinja {
struct Node;
}

struct ChatRenderOptions {
  bool add_generation_prompt = true;
  std::string bos_token;
  std::string eos_token;
  // The request's tools (a JSON list); absent: `tools` is undefined in the template.
  std::optional<nlohmann::ordered_json> tools;
  // Further variables (a JSON object), e.g. date_string; they may not replace the above.
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
  // What strftime_now() reads (UTC); unset: the clock. Tests fix it.
  std::optional<std::chrono::system_clock::time_point> now;
};

class ChatTemplate {
 public:
  // Parses `source`; `name` (a file, "model.json:chat_template") names it in every error.
  // Throws jinja::TemplateError on a malformed template or one over limits::kMaxChatTemplateBytes.
  ChatTemplate(std::string source, std::string name);

  // The `chat_template` of a parsed tokenizer_config.json (a string, or a list of {name, template}
  // from which "default" is taken) with its bos_token/eos_token (strings or {"content": ...}).
  // Throws lowbit::Error when there is no chat template or it is malformed.
  static ChatTemplate from_tokenizer_config_json(const nlohmann::ordered_json& config,
                                                 std::string source_name);
  // A config's bos_token/eos_token text ("" when absent); throws when it is neither a string nor
  // {"content": string}.
  static std::string config_token(const nlohmann::ordered_json& config, const char* field,
                                  const std::string& source_name);
  // Whether the config has a chat_template at all.
  static bool config_has_template(const nlohmann::ordered_json& config);

  // The documented plain format (docs/chat-templates.md): "System: ...\n\nUser: ...\n\n"... then
  // "Assistant:" when a reply is asked for. It is itself a template, rendered by the same engine.
  static ChatTemplate plain();

  // messages: a JSON list of {role, content, ...}. Throws jinja::TemplateRaised when the template
  // refuses the messages (raise_exception), jinja::TemplateError on any other failure; both name
  // the template and line.
  std::string render(const nlohmann::ordered_json& messages,
                     const ChatRenderOptions& options) const;

  const std::string& name() const { return name_; }
  const std::string& source() const { return source_; }
  // bos/eos strings found in the tokenizer config (empty when none or not from a config).
  const std::string& config_bos_token() const { return bos_; }
  const std::string& config_eos_token() const { return eos_; }

 private:
  std::string source_;
  std::string name_;
  std::string bos_;
  std::string eos_;
  std::shared_ptr<const std::vector<std::unique_ptr<jinja::Node>>> program_;
};

}  // namespace lowbit
