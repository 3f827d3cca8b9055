// OpenAI request parsing (every malformed field is a 400 naming the field) and response shapes.
#include "serve/openai_api.h"

#include <gtest/gtest.h>

#include "serve/chat_prompt.h"
#include "testing/fixtures.h"

#include <algorithm>
#include <filesystem>

namespace lowbit::serve {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct Api {
  Api()
      : tokenizer(load_llama2c_tokenizer(testing::shared_dir() / "models/stories260K/tok512.bin")),
        chat(std::make_unique<PlainChatPrompt>(*tokenizer)) {
    ctx.tokenizer = tokenizer.get();
    ctx.chat_prompt = [this](const json& m) { return chat->ids(m); };
    ctx.context = 64;
    ctx.max_tokens = 48;
    ctx.default_seed = 7;
  }
  // The ApiError's status and message for a request, or {0, ""} when it parses.
  std::pair<int, std::string> error(const std::string& body, bool chat_endpoint = false) const {
    try {
      parse_request(body, chat_endpoint, ctx);
    } catch (const ApiError& e) {
      return {e.status, e.what()};
    }
    return {0, ""};
  }
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<ChatPrompt> chat;
  ApiContext ctx;
};

TEST(OpenAiApi, ParsesACompletionRequest) {
  Api api;
  const auto r = parse_request(
      R"({"model":"x","prompt":"Once upon a time","max_tokens":5,"temperature":0,"top_p":0.5,)"
      R"("seed":3,"stop":["\n","END"],"logprobs":2,"stream":true,)"
      R"("stream_options":{"include_usage":true}})",
      false, api.ctx);
  EXPECT_FALSE(r.chat);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.generation.max_tokens, 5);
  EXPECT_EQ(r.generation.sampler.temperature, 0.0f);
  EXPECT_EQ(r.generation.sampler.top_p, 0.5f);
  EXPECT_EQ(r.generation.sampler.seed, 3u);
  EXPECT_EQ(r.generation.stop, (std::vector<std::string>{"\n", "END"}));
  EXPECT_EQ(r.generation.top_logprobs, 2);
  ASSERT_FALSE(r.generation.prompt_ids.empty());
  EXPECT_EQ(r.generation.prompt_ids[0], 1);  // BOS, as generate adds it
  // Defaults: OpenAI's (temperature 1, 16 tokens for completions), the server's seed.
  const auto d = parse_request(R"({"prompt":[1,2,3]})", false, api.ctx);
  EXPECT_EQ(d.generation.max_tokens, 16);
  EXPECT_EQ(d.generation.sampler.temperature, 1.0f);
  EXPECT_EQ(d.generation.sampler.seed, 7u);
  EXPECT_EQ(d.generation.prompt_ids, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(d.generation.top_logprobs, -1);
}

TEST(OpenAiApi, ParsesAChatRequest) {
  Api api;
  const auto r = parse_request(
      R"({"messages":[{"role":"system","content":"Be brief."},)"
      R"({"role":"user","content":[{"type":"text","text":"Hi"},{"type":"text","text":"!"}]}],)"
      R"("max_completion_tokens":4,"logprobs":true,"top_logprobs":3})",
      true, api.ctx);
  EXPECT_TRUE(r.chat);
  EXPECT_EQ(r.generation.max_tokens, 4);
  EXPECT_EQ(r.generation.top_logprobs, 3);
  const std::string text = api.tokenizer->decode(r.generation.prompt_ids);
  // The plain format (ChatTemplate::plain(), docs/chat-templates.md), after BOS.
  EXPECT_EQ(r.generation.prompt_ids[0], 1);
  EXPECT_EQ(text, "System: Be brief.\n\nUser: Hi!\n\nAssistant:");
  // Without max_tokens a chat reply may fill the context.
  const auto d = parse_request(R"({"messages":[{"role":"user","content":"Hi"}]})", true, api.ctx);
  EXPECT_EQ(d.generation.max_tokens,
            std::min(48, 64 - static_cast<int>(d.generation.prompt_ids.size())));
  EXPECT_EQ(d.generation.top_logprobs, -1);
}

TEST(OpenAiApi, MalformedRequestsAre400sNamingTheField) {
  Api api;
  const auto expect = [&](const std::string& body, bool chat, const std::string& fragment) {
    const auto [status, message] = api.error(body, chat);
    EXPECT_EQ(status, 400) << body;
    EXPECT_NE(message.find(fragment), std::string::npos) << body << " -> " << message;
  };
  expect("{not json", false, "not valid JSON");
  expect("[1,2]", false, "must be a JSON object");
  expect(R"({})", false, "'prompt' is required");
  expect(R"({"prompt":5})", false, "'prompt' must be");
  expect(R"({"prompt":["a","b"]})", false, "one prompt per request");
  expect(R"({"prompt":[1,99999]})", false, "not an id");
  expect(R"({"prompt":"hi","max_tokens":"5"})", false, "'max_tokens' must be an integer");
  expect(R"({"prompt":"hi","max_tokens":-1})", false, "'max_tokens' must be between");
  expect(R"({"prompt":"hi","max_tokens":49})", false, "'max_tokens' must be between 0 and 48");
  expect(R"({"prompt":"hi","temperature":3})", false, "'temperature' must be between");
  expect(R"({"prompt":"hi","top_p":0})", false, "'top_p' must be above 0");
  expect(R"({"prompt":"hi","logprobs":6})", false, "'logprobs' must be between 0 and 5");
  expect(R"({"prompt":"hi","stop":[1]})", false, "'stop' must be");
  expect(R"({"prompt":"hi","stop":["a","b","c","d","e"]})", false, "up to 4");
  expect(R"({"prompt":"hi","n":2})", false, "'n' must be 1");
  expect(R"({"prompt":"hi","echo":true})", false, "'echo' is not supported");
  expect(R"({"prompt":"hi","frequency_penalty":0.5})", false, "not supported");
  expect(R"({"prompt":"hi","stream_options":{"include_usage":true}})", false,
         "only allowed with stream");
  expect(R"({"prompt":"hi","model":3})", false, "'model' must be a string");
  expect(R"({"prompt":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,
           28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,
           56,57,58,59,60,61,62,63,64]})",
         false, "context is 64 tokens; the prompt has 64");
  expect(R"({"prompt":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20],"max_tokens":45})",
         false, "does not fit");
  expect(R"({"messages":[]})", true, "'messages' must be a non-empty array");
  expect(R"({"messages":[{"content":"x"}]})", true, "messages[0].role is required");
  expect(R"({"messages":[{"role":"wizard","content":"x"}]})", true, "'wizard' is not one of");
  expect(R"({"messages":[{"role":"user"}]})", true, "messages[0].content is required");
  expect(R"({"messages":[{"role":"user","content":[{"type":"image_url"}]}]})", true, "only text");
  expect(R"({"messages":[{"role":"user","content":"x"}],"top_logprobs":2})", true,
         "needs 'logprobs': true");
  expect(R"({"messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":21})", true,
         "between 0 and 20");
  expect(R"({"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function"}]})", true,
         "not supported");
}

TEST(OpenAiApi, ErrorBodyHasOpenAisShape) {
  const auto j = json::parse(error_body("bad thing", "invalid_request_error", "max_tokens"));
  EXPECT_EQ(j["error"]["message"], "bad thing");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "max_tokens");
  EXPECT_TRUE(j["error"]["code"].is_null());
}

TEST(OpenAiApi, ResponsesCarryTextLogprobsAndUsage) {
  Api api;
  RequestState state;
  state.set_prompt_tokens(3);
  std::vector<TokenEvent> events(2);
  events[0] = {10, " Hi", " Hi", -0.5f, {{" Hi", -0.5f}, {" Yo", -1.5f}}};
  events[1] = {11, "\xE2", "", -0.25f, {}};  // half a UTF-8 character: no text released yet
  for (auto e : events) state.push(e);
  state.finish(FinishReason::kLength, "!");
  ParsedRequest req;
  req.logprobs = true;
  const auto c = completion_response(req, {"cmpl-1", "m", 5}, events, state);
  EXPECT_EQ(c["object"], "text_completion");
  EXPECT_EQ(c["choices"][0]["text"], " Hi!");
  EXPECT_EQ(c["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(c["choices"][0]["logprobs"]["tokens"][0], " Hi");
  EXPECT_EQ(c["choices"][0]["logprobs"]["text_offset"], json({0, 3}));
  EXPECT_EQ(c["choices"][0]["logprobs"]["top_logprobs"][0][" Yo"], -1.5f);
  EXPECT_EQ(c["usage"],
            json({{"prompt_tokens", 3}, {"completion_tokens", 2}, {"total_tokens", 5}}));
  // Invalid UTF-8 in a token's text is replaced on the wire, not an exception.
  EXPECT_NE(dump(c).find("\xEF\xBF\xBD"), std::string::npos);

  req.chat = true;
  const auto m = completion_response(req, {"chatcmpl-1", "m", 5}, events, state);
  EXPECT_EQ(m["object"], "chat.completion");
  EXPECT_EQ(m["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(m["choices"][0]["message"]["content"], " Hi!");
  EXPECT_EQ(m["choices"][0]["logprobs"]["content"][0]["bytes"], json({32, 72, 105}));
  EXPECT_EQ(m["choices"][0]["logprobs"]["content"][0]["top_logprobs"][1]["token"], " Yo");
  size_t offset = 0;
  const auto first = stream_chunk(req, {"chatcmpl-1", "m", 5}, {}, {}, nullptr, true, offset);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"], json({{"role", "assistant"}, {"content", ""}}));
  const auto last = stream_chunk(req, {"chatcmpl-1", "m", 5}, {}, "!", "stop", false, offset);
  EXPECT_EQ(last["choices"][0]["delta"], json({{"content", "!"}}));
  EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(usage_chunk(req, {"chatcmpl-1", "m", 5}, state)["choices"].empty());
}

TEST(OpenAiApi, ChatTemplateRendersAndItsRefusalIsA400) {
  Api api;
  const std::string llama2 = testing::read_file(fs::path(LOWBIT_SOURCE_DIR) /
                                                "tests/text/chat_templates/llama-2-chat.jinja");
  const TemplateChatPrompt prompt(ChatTemplate(llama2, "llama-2-chat.jinja"), *api.tokenizer, "<s>",
                                  "</s>");
  api.ctx.context = 512;
  api.ctx.chat_prompt = [&](const json& m) { return prompt.ids(m); };
  const auto r = parse_request(
      R"({"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"},)"
      R"({"role":"user","content":"Bye"}]})",
      true, api.ctx);
  // "<s>[INST] Hi [/INST] Hello </s><s>[INST] Bye [/INST]": the bos/eos strings are ids.
  const auto& ids = r.generation.prompt_ids;
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], *api.tokenizer->bos_id);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), *api.tokenizer->bos_id), 2);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), *api.tokenizer->eos_id), 1);
  // Decoded: the specials skipped, the second turn's dummy-prefix space kept.
  EXPECT_EQ(api.tokenizer->decode(ids), "[INST] Hi [/INST] Hello  [INST] Bye [/INST]");
  // The template's raise_exception: roles must alternate.
  const auto [status, message] = api.error(
      R"({"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]})", true);
  EXPECT_EQ(status, 400);
  EXPECT_NE(message.find("Conversation roles must alternate"), std::string::npos) << message;
  EXPECT_NE(message.find("llama-2-chat.jinja line 1"), std::string::npos) << message;
}

}  // namespace
}  // namespace lowbit::serve
