// A chat template (the `chat_template` of tokenizer_config.json, or --chat-template FILE): parsed,
// then rendered over a fixed conversation with tool calls and tools, as lowbit serve renders it.
#include <chrono>

#include <nlohmann/json.hpp>

#include "fuzz/fuzz_common.h"
#include "text/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto messages = nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": " Hi \u00e9 \"there\"\n"},
    {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "id": "abcdefghi",
      "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}]},
    {"role": "tool", "name": "get_weather", "tool_call_id": "abcdefghi", "content": "{\"t\": 21.5}"},
    {"role": "user", "content": "Thanks"}])");
  static const auto tools = nlohmann::ordered_json::parse(R"([{"type": "function", "function":
    {"name": "get_weather", "description": "Weather.", "parameters": {"type": "object",
    "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])");
  const std::string source(reinterpret_cast<const char*>(data), size);
  lowbit::fuzz::expect_clean([&] {
    const lowbit::ChatTemplate t(source, "fuzz.jinja");
    lowbit::ChatRenderOptions o;
    o.bos_token = "<s>";
    o.eos_token = "</s>";
    o.now = std::chrono::system_clock::time_point(std::chrono::hours(480000));
    (void)t.render(messages, o);
    o.tools = tools;
    o.add_generation_prompt = false;
    (void)t.render(messages, o);
  });
  return 0;
}
