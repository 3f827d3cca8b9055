#include "text/chat_template.h"

#include "core/limits.h"
#include "text/jinja_ast.h"
#include "text/jinja_interpreter.h"
#include "text/jinja_json.h"
#include "text/jinja_lexer.h"
#include "text/jinja_parser.h"

namespace lowbit {

namespace {

// The plain format, written as a template so that it goes through the same code as a model's.
constexpr const char* kPlainTemplate =
    "{%- for message in messages -%}\n"
    "{{- message['role'] | capitalize ~ ': ' ~ message['content'] ~ '\\n\\n' -}}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}{{- 'Assistant:' -}}{%- endif -%}\n";

}  // namespace

std::string ChatTemplate::config_token(const nlohmann::ordered_json& config, const char* field,
                                       const std::string& source) {
  if (!config.contains(field) || config[field].is_null()) return "";
  const auto& v = config[field];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  fail("{}: {} must be a string or an object with a string \"content\"", source, field);
}

ChatTemplate::ChatTemplate(std::string source, std::string name)
    : source_(std::move(source)), name_(std::move(name)) {
  if (source_.size() > limits::kMaxChatTemplateBytes)
    throw jinja::TemplateError(fmt::format("chat template {}: {} bytes, more than the {} allowed",
                                           name_, source_.size(), limits::kMaxChatTemplateBytes));
  int line = 1;
  try {
    const auto tokens = jinja::tokenize(source_, line);
    program_ = std::make_shared<const std::vector<jinja::NodePtr>>(jinja::parse(tokens, line));
  } catch (const jinja::Failure& f) {
    throw jinja::TemplateError(fmt::format("chat template {} line {}: {}", name_, line, f.message));
  }
}

bool ChatTemplate::config_has_template(const nlohmann::ordered_json& config) {
  return config.is_object() && config.contains("chat_template") &&
         !config["chat_template"].is_null();
}

ChatTemplate ChatTemplate::from_tokenizer_config_json(const nlohmann::ordered_json& config,
                                                      std::string source_name) {
  if (!config_has_template(config)) fail("{}: no chat_template", source_name);
  const auto& t = config["chat_template"];
  std::string source;
  std::string name = source_name + ":chat_template";
  if (t.is_string()) {
    source = t.get<std::string>();
  } else if (t.is_array()) {
    bool found = false;
    for (const auto& entry : t) {
      if (entry.is_object() && entry.contains("name") && entry["name"] == "default" &&
          entry.contains("template") && entry["template"].is_string()) {
        source = entry["template"].get<std::string>();
        found = true;
        break;
      }
    }
    if (!found)
      fail("{}: chat_template is a list of named templates without a \"default\" one", source_name);
    name += "[default]";
  } else {
    fail("{}: chat_template must be a string or a list of {{name, template}}", source_name);
  }
  ChatTemplate out(std::move(source), std::move(name));
  out.bos_ = config_token(config, "bos_token", source_name);
  out.eos_ = config_token(config, "eos_token", source_name);
  return out;
}

ChatTemplate ChatTemplate::plain() {
  return ChatTemplate(kPlainTemplate, "plain");
}

std::string ChatTemplate::render(const nlohmann::ordered_json& messages,
                                 const ChatRenderOptions& options) const {
  int line = 1;
  try {
    jinja::RenderInput input;
    input.now = options.now.value_or(std::chrono::system_clock::now());
    if (options.extra.is_object())
      for (const auto& [k, v] : options.extra.items()) input.variables.set(k, jinja::from_json(v));
    input.variables.set("messages", jinja::from_json(messages));
    input.variables.set("add_generation_prompt",
                        jinja::Value::boolean(options.add_generation_prompt));
    input.variables.set("bos_token", jinja::Value::string(options.bos_token));
    input.variables.set("eos_token", jinja::Value::string(options.eos_token));
    if (options.tools) input.variables.set("tools", jinja::from_json(*options.tools));
    return jinja::interpret(*program_, input, line);
  } catch (const jinja::Raised& r) {
    throw jinja::TemplateRaised(fmt::format("chat template {} line {}: {}", name_, line, r.message),
                                r.message);
  } catch (const jinja::Failure& f) {
    throw jinja::TemplateError(fmt::format("chat template {} line {}: {}", name_, line, f.message));
  }
}

}  // namespace lowbit
