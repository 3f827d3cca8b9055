#include "serve/chat_prompt.h"

#include "core/error.h"
#include "core/limits.h"
#include "text/document.h"
#include "text/text_file.h"

namespace lowbit::serve {

namespace {

ChatRenderOptions render_options(const std::string& bos, const std::string& eos) {
  ChatRenderOptions o;
  o.add_generation_prompt = true;
  o.bos_token = bos;
  o.eos_token = eos;
  return o;
}

nlohmann::ordered_json ordered(const nlohmann::json& j) {
  return nlohmann::ordered_json::parse(j.dump());
}

}  // namespace

TemplateChatPrompt::TemplateChatPrompt(ChatTemplate chat_template, const Tokenizer& tokenizer,
                                       std::string bos_token, std::string eos_token)
    : template_(std::move(chat_template)),
      tokenizer_(tokenizer),
      bos_(std::move(bos_token)),
      eos_(std::move(eos_token)) {}

std::string TemplateChatPrompt::text(const nlohmann::json& messages) const {
  return template_.render(ordered(messages), render_options(bos_, eos_));
}

std::vector<int32_t> TemplateChatPrompt::ids(const nlohmann::json& messages) const {
  const std::string t = text(messages);
  std::vector<int32_t> out;
  size_t pos = 0;
  const auto encode_piece = [&](std::string_view piece) {
    if (piece.empty()) return;
    const auto ids = tokenizer_.encode(piece);
    out.insert(out.end(), ids.begin(), ids.end());
  };
  while (pos < t.size()) {
    // The nearest bos/eos string with an id.
    size_t best = std::string::npos, len = 0;
    int32_t id = 0;
    for (const auto& [s, tid] :
         {std::pair{&bos_, tokenizer_.bos_id}, std::pair{&eos_, tokenizer_.eos_id}}) {
      if (s->empty() || !tid) continue;
      const size_t at = t.find(*s, pos);
      if (at < best) {
        best = at;
        len = s->size();
        id = *tid;
      }
    }
    if (best == std::string::npos) {
      encode_piece(std::string_view(t).substr(pos));
      break;
    }
    encode_piece(std::string_view(t).substr(pos, best - pos));
    out.push_back(id);
    pos = best + len;
  }
  return out;
}

std::string TemplateChatPrompt::describe() const {
  return "chat template " + template_.name();
}

PlainChatPrompt::PlainChatPrompt(const Tokenizer& tokenizer)
    : template_(ChatTemplate::plain()), tokenizer_(tokenizer) {}

std::vector<int32_t> PlainChatPrompt::ids(const nlohmann::json& messages) const {
  return tokenize_document(tokenizer_, template_.render(ordered(messages), render_options("", "")));
}

std::shared_ptr<const ChatPrompt> load_chat_prompt(const std::string& tokenizer_config,
                                                   const std::string& config_source,
                                                   const std::filesystem::path& template_file,
                                                   const Tokenizer& tokenizer) {
  nlohmann::ordered_json config = nlohmann::ordered_json::object();
  if (!tokenizer_config.empty()) {
    try {
      config = nlohmann::ordered_json::parse(tokenizer_config);
    } catch (const nlohmann::json::exception& e) {
      fail("{}: not valid JSON: {}", config_source, e.what());
    }
    if (!config.is_object()) fail("{}: must be a JSON object", config_source);
  }
  std::string bos, eos;
  if (!template_file.empty()) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(template_file, ec);
    if (ec) fail("--chat-template {}: cannot read it ({})", template_file.string(), ec.message());
    if (size > limits::kMaxChatTemplateBytes)
      fail("--chat-template {}: {} bytes, more than the {} allowed", template_file.string(), size,
           limits::kMaxChatTemplateBytes);
    std::string source = read_text_file(template_file);
    // bos/eos strings still come from the model's config.
    bos = ChatTemplate::config_token(config, "bos_token", config_source);
    eos = ChatTemplate::config_token(config, "eos_token", config_source);
    return std::make_shared<TemplateChatPrompt>(
        ChatTemplate(std::move(source), template_file.string()), tokenizer, bos, eos);
  }
  if (ChatTemplate::config_has_template(config)) {
    ChatTemplate t = ChatTemplate::from_tokenizer_config_json(config, config_source);
    bos = t.config_bos_token();
    eos = t.config_eos_token();
    return std::make_shared<TemplateChatPrompt>(std::move(t), tokenizer, std::move(bos),
                                                std::move(eos));
  }
  return std::make_shared<PlainChatPrompt>(tokenizer);
}

}  // namespace lowbit::serve
