#pragma once
// The OpenAI API's JSON, both ways: requests of /v1/completions and /v1/chat/completions parsed
// and checked into a GenerationRequest (bad JSON, a field of the wrong type or out of range ->
// ApiError, answered as HTTP 400 with an OpenAI-style error body), and the responses and
// server-sent-event chunks built from the engine's TokenEvents.
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/request.h"
#include "text/tokenizer.h"

namespace lowbit::serve {

class ApiError : public std::runtime_error {
 public:
  ApiError(int http_status, const std::string& message, std::string field = {},
           std::string error_type = "invalid_request_error")
      : std::runtime_error(message),
        status(http_status),
        param(std::move(field)),
        type(std::move(error_type)) {}
  int status;
  std::string param, type;
};

// {"error": {"message", "type", "param", "code"}}, as OpenAI answers.
std::string error_body(const std::string& message, const std::string& type,
                       const std::string& param = {});

// What the request parser needs from the server.
struct ApiContext {
  const Tokenizer* tokenizer = nullptr;
  // Chat messages (a JSON array of {role, content}, text parts already flattened) -> prompt ids:
  // the model's chat template rendered and tokenized, with BOS as the model wants it.
  std::function<std::vector<int32_t>(const nlohmann::json& messages)> chat_prompt;
  int context = 0;         // KV positions per sequence: prompt + completion must fit
  int max_tokens = 0;      // the server's cap on max_tokens
  double timeout_s = 600;  // per request
  uint64_t default_seed = 0;
};

struct ParsedRequest {
  bool chat = false;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool logprobs = false;       // any logprobs in the answer
  GenerationRequest generation;
};

// `body` is the raw request body. Throws ApiError.
ParsedRequest parse_request(const std::string& body, bool chat, const ApiContext& ctx);

// The answer to a finished request (not streamed): completion or chat.completion object.
struct ResponseInfo {
  std::string id, model;
  int64_t created = 0;
};
nlohmann::json completion_response(const ParsedRequest& req, const ResponseInfo& info,
                                   const std::vector<TokenEvent>& events,
                                   const RequestState& state);
// One streamed chunk carrying `events` and `tail` (text released at the end), with the finish
// reason on the last one; chat's first chunk carries the role. `offset`: completion text bytes
// streamed so far (logprobs' text_offset), advanced. The usage chunk is separate (no choices).
nlohmann::json stream_chunk(const ParsedRequest& req, const ResponseInfo& info,
                            const std::vector<TokenEvent>& events, const std::string& tail,
                            const char* finish_reason, bool first, size_t& offset);
nlohmann::json usage_json(const RequestState& state);
nlohmann::json usage_chunk(const ParsedRequest& req, const ResponseInfo& info,
                           const RequestState& state);

// Serialises for the wire: invalid UTF-8 (a token that is part of a character) becomes U+FFFD.
std::string dump(const nlohmann::json& j);

}  // namespace lowbit::serve
