#include "serve/openai_api.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <random>

#include "core/error.h"
#include "text/document.h"
#include "text/jinja_error.h"

namespace lowbit::serve {

namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& param, const std::string& message) {
  throw ApiError(400, message, param);
}

// A field that may be absent or null (= absent).
const json* field(const json& body, const char* name) {
  const auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

double number(const json& body, const char* name, double fallback, double lo, double hi) {
  const json* v = field(body, name);
  if (v == nullptr) return fallback;
  if (!v->is_number()) bad(name, fmt::format("'{}' must be a number, got {}", name, v->dump()));
  const double x = v->get<double>();
  if (!(x >= lo && x <= hi))
    bad(name, fmt::format("'{}' must be between {} and {}, got {}", name, lo, hi, x));
  return x;
}

int64_t integer(const json& body, const char* name, int64_t fallback, int64_t lo, int64_t hi) {
  const json* v = field(body, name);
  if (v == nullptr) return fallback;
  if (!v->is_number_integer())
    bad(name, fmt::format("'{}' must be an integer, got {}", name, v->dump()));
  const int64_t x =
      v->is_number_unsigned() && v->get<uint64_t>() > INT64_MAX ? INT64_MAX : v->get<int64_t>();
  if (x < lo || x > hi)
    bad(name, fmt::format("'{}' must be between {} and {}, got {}", name, lo, hi, x));
  return x;
}

bool boolean(const json& body, const char* name, bool fallback) {
  const json* v = field(body, name);
  if (v == nullptr) return fallback;
  if (!v->is_boolean()) bad(name, fmt::format("'{}' must be a boolean, got {}", name, v->dump()));
  return v->get<bool>();
}

std::vector<std::string> stop_strings(const json& body) {
  const json* v = field(body, "stop");
  if (v == nullptr) return {};
  if (v->is_string()) return {v->get<std::string>()};
  if (!v->is_array() || v->size() > 4)
    bad("stop", "'stop' must be a string or an array of up to 4 strings");
  std::vector<std::string> out;
  for (const auto& s : *v) {
    if (!s.is_string()) bad("stop", "'stop' must be a string or an array of up to 4 strings");
    out.push_back(s.get<std::string>());
  }
  return out;
}

// Sampling features lowbit does not implement are refused rather than silently ignored.
void refuse_unsupported(const json& body, bool chat) {
  for (const char* name : {"presence_penalty", "frequency_penalty"})
    if (number(body, name, 0.0, -2.0, 2.0) != 0.0)
      bad(name, fmt::format("'{}' is not supported (only 0)", name));
  if (const json* v = field(body, "logit_bias"); v != nullptr && !v->empty())
    bad("logit_bias", "'logit_bias' is not supported");
  if (integer(body, "n", 1, 1, 128) != 1) bad("n", "'n' must be 1 (one choice per request)");
  if (!chat) {
    if (integer(body, "best_of", 1, 1, 20) != 1) bad("best_of", "'best_of' must be 1");
    if (boolean(body, "echo", false)) bad("echo", "'echo' is not supported");
    if (field(body, "suffix") != nullptr) bad("suffix", "'suffix' is not supported");
  } else {
    for (const char* name : {"tools", "functions"})
      if (const json* v = field(body, name); v != nullptr && !v->empty())
        bad(name, fmt::format("'{}' (function calling) is not supported", name));
    if (const json* v = field(body, "response_format"); v != nullptr)
      if (!v->is_object() || v->value("type", "") != "text")
        bad("response_format", "only response_format {\"type\": \"text\"} is supported");
  }
}

std::vector<int32_t> completion_prompt(const json& body, const ApiContext& ctx) {
  const json* p = field(body, "prompt");
  if (p == nullptr) bad("prompt", "'prompt' is required");
  const Tokenizer& tok = *ctx.tokenizer;
  std::vector<int32_t> ids;
  const auto add_ids = [&](const json& arr) {
    for (const auto& t : arr) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= tok.vocab_size())
        bad("prompt",
            fmt::format("prompt token {} is not an id in [0, {})", t.dump(), tok.vocab_size()));
      ids.push_back(t.get<int32_t>());
    }
  };
  // Text gets BOS where the model wants it (as `generate` and `perplexity` do); token ids are
  // taken as given.
  if (p->is_string()) {
    ids = tokenize_document(tok, p->get<std::string>());
  } else if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) {
    ids = tokenize_document(tok, (*p)[0].get<std::string>());
  } else if (p->is_array() && !p->empty() && (*p)[0].is_number()) {
    add_ids(*p);
  } else if (p->is_array() && p->size() == 1 && (*p)[0].is_array()) {
    add_ids((*p)[0]);
  } else {
    bad("prompt",
        "'prompt' must be a string, an array of one string, or an array of token ids (one "
        "prompt per request)");
  }
  if (ids.empty()) bad("prompt", "the prompt is empty");
  return ids;
}

std::vector<int32_t> chat_prompt(const json& body, const ApiContext& ctx) {
  const json* m = field(body, "messages");
  if (m == nullptr || !m->is_array() || m->empty())
    bad("messages", "'messages' must be a non-empty array");
  json messages = json::array();
  for (size_t i = 0; i < m->size(); ++i) {
    const json& msg = (*m)[i];
    const std::string where = fmt::format("messages[{}]", i);
    if (!msg.is_object()) bad(where, where + " must be an object");
    const json* role = field(msg, "role");
    if (role == nullptr || !role->is_string()) bad(where + ".role", where + ".role is required");
    const std::string r = role->get<std::string>();
    if (r != "system" && r != "user" && r != "assistant" && r != "developer" && r != "tool")
      bad(where + ".role", fmt::format("{}.role '{}' is not one of system, developer, user, "
                                       "assistant, tool",
                                       where, r));
    // Content: a string, or text parts joined (images and audio are not supported).
    std::string content;
    if (const json* c = field(msg, "content"); c == nullptr) {
      if (r != "assistant") bad(where + ".content", where + ".content is required");
    } else if (c->is_string()) {
      content = c->get<std::string>();
    } else if (c->is_array()) {
      for (const auto& part : *c) {
        if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
            !part["text"].is_string())
          bad(where + ".content",
              where +
                  ".content parts must be {\"type\": \"text\", \"text\": ...} (only text "
                  "is supported)");
        content += part["text"].get<std::string>();
      }
    } else {
      bad(where + ".content", where + ".content must be a string or an array of text parts");
    }
    // "developer" is OpenAI's newer name for the system role.
    messages.push_back({{"role", r == "developer" ? "system" : r}, {"content", content}});
  }
  std::vector<int32_t> ids;
  try {
    ids = ctx.chat_prompt(messages);
  } catch (const jinja::TemplateError& e) {
    // raise_exception (roles that do not alternate, a role the model does not take) or another
    // failure on these messages: the request is refused, the server keeps running.
    bad("messages", e.what());
  }
  if (ids.empty()) bad("messages", "the rendered chat prompt is empty");
  return ids;
}

}  // namespace

std::string error_body(const std::string& message, const std::string& type,
                       const std::string& param) {
  return dump({{"error",
                {{"message", message},
                 {"type", type},
                 {"param", param.empty() ? json(nullptr) : json(param)},
                 {"code", nullptr}}}});
}

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

ParsedRequest parse_request(const std::string& body_text, bool chat, const ApiContext& ctx) {
  json body;
  try {
    body = json::parse(body_text);
  } catch (const json::exception& e) {
    bad("", fmt::format("the request body is not valid JSON: {}", e.what()));
  }
  if (!body.is_object()) bad("", "the request body must be a JSON object");
  if (const json* m = field(body, "model"); m != nullptr && !m->is_string())
    bad("model", "'model' must be a string");
  refuse_unsupported(body, chat);

  ParsedRequest req;
  req.chat = chat;
  req.stream = boolean(body, "stream", false);
  if (const json* so = field(body, "stream_options")) {
    if (!req.stream) bad("stream_options", "'stream_options' is only allowed with stream: true");
    if (!so->is_object()) bad("stream_options", "'stream_options' must be an object");
    req.include_usage = boolean(*so, "include_usage", false);
  }
  GenerationRequest& g = req.generation;
  g.stream = req.stream;
  g.sampler.temperature = static_cast<float>(number(body, "temperature", 1.0, 0.0, 2.0));
  g.sampler.top_p = static_cast<float>(number(body, "top_p", 1.0, 0.0, 1.0));
  if (g.sampler.top_p <= 0.0f) bad("top_p", "'top_p' must be above 0");
  const json* seed = field(body, "seed");
  g.sampler.seed =
      seed == nullptr
          ? (ctx.default_seed != 0 ? ctx.default_seed : std::random_device{}())
          : static_cast<uint64_t>(integer(body, "seed", 0, std::numeric_limits<int64_t>::min(),
                                          std::numeric_limits<int64_t>::max()));
  g.stop = stop_strings(body);
  // An extension (llama.cpp's and vLLM's servers have it too): benchmarks want fixed lengths.
  g.ignore_eos = boolean(body, "ignore_eos", false);
  if (chat) {
    req.logprobs = boolean(body, "logprobs", false);
    const int64_t top = integer(body, "top_logprobs", -1, 0, 20);
    if (top >= 0 && !req.logprobs) bad("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    g.top_logprobs = req.logprobs ? static_cast<int>(std::max<int64_t>(top, 0)) : -1;
  } else {
    const int64_t lp = integer(body, "logprobs", -1, 0, 5);
    req.logprobs = lp >= 0;
    g.top_logprobs = static_cast<int>(lp);
  }
  g.prompt_ids = chat ? chat_prompt(body, ctx) : completion_prompt(body, ctx);
  const int prompt = static_cast<int>(g.prompt_ids.size());
  if (prompt >= ctx.context)
    bad(chat ? "messages" : "prompt",
        fmt::format("this server's context is {} tokens; the prompt has {}", ctx.context, prompt));
  // max_completion_tokens is the chat API's newer name; the legacy default for completions is 16.
  const char* max_name = chat && field(body, "max_completion_tokens") != nullptr
                             ? "max_completion_tokens"
                             : "max_tokens";
  const int64_t room = ctx.context - prompt;
  const int64_t max_tokens = integer(body, max_name, -1, 0, ctx.max_tokens);
  if (max_tokens >= 0 && max_tokens > room)
    bad(max_name, fmt::format("this server's context is {} tokens; the prompt has {} and {} = {} "
                              "does not fit",
                              ctx.context, prompt, max_name, max_tokens));
  g.max_tokens = static_cast<int>(
      max_tokens >= 0 ? max_tokens : std::min<int64_t>(chat ? room : 16, ctx.max_tokens));
  g.deadline = std::chrono::steady_clock::now() +
               std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                   std::chrono::duration<double>(ctx.timeout_s));
  return req;
}

namespace {

json bytes_of(const std::string& s) {
  json b = json::array();
  for (const char c : s) b.push_back(static_cast<unsigned char>(c));
  return b;
}

// Completions' logprobs object for a run of events; offsets continue from `offset` (bytes of
// completion text before them).
json completion_logprobs(const std::vector<TokenEvent>& events, size_t& offset) {
  json lp = {{"tokens", json::array()},
             {"token_logprobs", json::array()},
             {"top_logprobs", json::array()},
             {"text_offset", json::array()}};
  for (const auto& e : events) {
    lp["tokens"].push_back(e.token_text);
    lp["token_logprobs"].push_back(e.logprob);
    json top = json::object();
    for (const auto& [text, logp] : e.top)
      if (!top.contains(text)) top[text] = logp;  // the likelier of two equal texts
    lp["top_logprobs"].push_back(top);
    lp["text_offset"].push_back(offset);
    offset += e.token_text.size();
  }
  return lp;
}

json chat_logprobs(const std::vector<TokenEvent>& events) {
  json content = json::array();
  for (const auto& e : events) {
    json top = json::array();
    for (const auto& [text, logp] : e.top)
      top.push_back({{"token", text}, {"logprob", logp}, {"bytes", bytes_of(text)}});
    content.push_back({{"token", e.token_text},
                       {"logprob", e.logprob},
                       {"bytes", bytes_of(e.token_text)},
                       {"top_logprobs", top}});
  }
  return {{"content", content}, {"refusal", nullptr}};
}

std::string text_of(const std::vector<TokenEvent>& events, const std::string& tail) {
  std::string s;
  for (const auto& e : events) s += e.text;
  return s + tail;
}

}  // namespace

json usage_json(const RequestState& state) {
  return {{"prompt_tokens", state.prompt_tokens()},
          {"completion_tokens", state.completion_tokens()},
          {"total_tokens", state.prompt_tokens() + state.completion_tokens()}};
}

json completion_response(const ParsedRequest& req, const ResponseInfo& info,
                         const std::vector<TokenEvent>& events, const RequestState& state) {
  const std::string text = text_of(events, state.tail());
  json choice = {{"index", 0}, {"finish_reason", finish_reason_name(state.reason())}};
  json out = {{"id", info.id}, {"created", info.created}, {"model", info.model}};
  if (req.chat) {
    out["object"] = "chat.completion";
    choice["message"] = {{"role", "assistant"}, {"content", text}, {"refusal", nullptr}};
    choice["logprobs"] = req.logprobs ? chat_logprobs(events) : json(nullptr);
  } else {
    out["object"] = "text_completion";
    choice["text"] = text;
    size_t offset = 0;
    choice["logprobs"] = req.logprobs ? completion_logprobs(events, offset) : json(nullptr);
  }
  out["choices"] = json::array({choice});
  out["usage"] = usage_json(state);
  return out;
}

json stream_chunk(const ParsedRequest& req, const ResponseInfo& info,
                  const std::vector<TokenEvent>& events, const std::string& tail,
                  const char* finish_reason, bool first, size_t& offset) {
  const std::string text = text_of(events, tail);
  json choice = {{"index", 0},
                 {"finish_reason", finish_reason ? json(finish_reason) : json(nullptr)}};
  json out = {{"id", info.id}, {"created", info.created}, {"model", info.model}};
  if (req.chat) {
    out["object"] = "chat.completion.chunk";
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!text.empty() || (first && finish_reason == nullptr)) delta["content"] = text;
    choice["delta"] = delta;
    choice["logprobs"] = req.logprobs && !events.empty() ? chat_logprobs(events) : json(nullptr);
  } else {
    out["object"] = "text_completion";
    choice["text"] = text;
    choice["logprobs"] =
        req.logprobs && !events.empty() ? completion_logprobs(events, offset) : json(nullptr);
  }
  out["choices"] = json::array({choice});
  return out;
}

json usage_chunk(const ParsedRequest& req, const ResponseInfo& info, const RequestState& state) {
  return {{"id", info.id},
          {"object", req.chat ? "chat.completion.chunk" : "text_completion"},
          {"created", info.created},
          {"model", info.model},
          {"choices", json::array()},
          {"usage", usage_json(state)}};
}

}  // namespace lowbit::serve
