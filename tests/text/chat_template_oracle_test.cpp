// Every real chat template in tests/text/chat_templates/ rendered by lowbit's engine and by
// @huggingface/jinja (npm, pinned with a lockfile in chat_templates/oracle/; the renderer
// transformers.js uses) over the same conversations — system/user/assistant turns, with and
// without a generation prompt, tools and tool calls where the template takes them, role orders
// the template refuses — must give byte-identical text, or both refuse. Fails, not skips, when
// Node or npm is missing.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "testing/fixtures.h"
#include "text/chat_template.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

std::string quoted(const std::string& s) {
  std::string q = "'";
  for (const char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

fs::path templates_dir() {
  return fs::path(LOWBIT_SOURCE_DIR) / "tests/text/chat_templates";
}

fs::path oracle_dir() {
  return testing::npm_folder(templates_dir() / "oracle", "chat_template_oracle",
                             {"package.json", "package-lock.json", "render.mjs"},
                             "node_modules/@huggingface/jinja/package.json");
}

ojson msg(const char* role, const std::string& content) {
  return ojson{{"role", role}, {"content", content}};
}

const ojson kTools = ojson::parse(R"([
  {"type": "function", "function": {"name": "get_current_temperature",
    "description": "Get the current temperature at a location.",
    "parameters": {"type": "object", "properties": {
      "location": {"type": "string", "description": "The location, as \"City, Country\"."},
      "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
      "required": ["location"]}}},
  {"type": "function", "function": {"name": "get_wind_speed", "description": "Wind in km/h.",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
      "required": ["location"]}}}
])");

struct Case {
  std::string template_file;
  ojson messages;
  bool add_generation_prompt = true;
  std::optional<ojson> tools;
  ojson extra = ojson::object();
  std::optional<int64_t> now_ms = int64_t{1733221200000};  // 2024-12-03 10:20 UTC
  std::string bos, eos;
};

struct Model {
  const char* file;
  const char* bos;
  const char* eos;
  bool tools;   // takes tools and tool calls (Llama 3.1/3.2, Qwen 2.5)
  bool system;  // accepts a system message
  bool dated;   // reads date_string / strftime_now
};

constexpr Model kModels[] = {
    {"llama-2-chat.jinja", "<s>", "</s>", false, true, false},
    {"llama-3-instruct.jinja", "<|begin_of_text|>", "<|eot_id|>", false, true, false},
    {"llama-3.1-instruct.jinja", "<|begin_of_text|>", "<|eot_id|>", true, true, true},
    {"llama-3.2-instruct.jinja", "<|begin_of_text|>", "<|eot_id|>", true, true, true},
    {"qwen2.5-instruct.jinja", "", "<|im_end|>", true, true, false},
    {"smollm2-instruct.jinja", "<|im_start|>", "<|im_end|>", false, true, false},
    {"mistral-7b-instruct.jinja", "<s>", "</s>", false, false, false},
    {"mixtral-8x7b-instruct.jinja", "<s>", "</s>", false, true, false},
};

std::vector<ojson> conversations(bool with_system) {
  const std::string odd =
      " \xE3\x80\x80"
      "Caf\xC3\xA9 \"quoted\" back\\slash, tab\tand\nnewline\xC2\xA0 ";
  std::vector<ojson> c = {
      ojson::array({msg("user", "Hello, how are you?")}),
      ojson::array({msg("user", "Hi"), msg("assistant", "Hello! How can I help?"),
                    msg("user", "Tell me a joke.")}),
      ojson::array({msg("user", "Hi"), msg("assistant", " Sure thing. ")}),
      ojson::array({msg("user", odd)}),
      ojson::array({msg("user", "one"), msg("user", "two")}),               // not alternating
      ojson::array({msg("assistant", "I start"), msg("user", "then me")}),  // starts wrong
  };
  if (with_system) {
    c.push_back(ojson::array({msg("system", "You are a pirate."), msg("user", "Hello")}));
    c.push_back(ojson::array({msg("system", "  Be brief.  "), msg("user", "Hi"),
                              msg("assistant", "Ahoy."), msg("user", odd)}));
  } else {
    c.push_back(ojson::array({msg("system", "Refused here."), msg("user", "Hello")}));
  }
  return c;
}

std::vector<ojson> tool_conversations() {
  ojson call = ojson::parse(R"({"role": "assistant", "content": "", "tool_calls": [
      {"type": "function", "function": {"name": "get_current_temperature",
        "arguments": {"location": "Paris, France", "unit": "celsius"}}}]})");
  ojson result = ojson::parse(R"({"role": "tool", "name": "get_current_temperature",
      "content": "{\"temperature\": 22.5, \"unit\": \"celsius\"}"})");
  return {
      ojson::array({msg("system", "You answer weather questions."), msg("user", "Paris?")}),
      ojson::array({msg("user", "What is the temperature in Paris?"), call, result}),
      ojson::array({msg("user", "Paris?"), call, result, msg("assistant", "It is 22.5 C."),
                    msg("user", "Thanks")}),
  };
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (const Model& m : kModels) {
    const auto add = [&](ojson messages, bool gen) {
      Case c;
      c.template_file = m.file;
      c.messages = std::move(messages);
      c.add_generation_prompt = gen;
      c.bos = m.bos;
      c.eos = m.eos;
      cases.push_back(c);
      return &cases.back();
    };
    for (const ojson& conv : conversations(m.system))
      for (const bool gen : {true, false}) add(conv, gen);
    if (m.tools)
      for (const ojson& conv : tool_conversations()) add(conv, true)->tools = kTools;
    if (m.dated) {
      add(conversations(true)[0], true)->now_ms = int64_t{1764757200000};  // 2025-12-03 10:20 UTC
      add(conversations(true)[0], true)->extra = ojson{{"date_string", "01 Jan 2025"}};
      Case* c = add(conversations(true)[0], true);
      c->tools = kTools;
      c->extra = ojson{{"tools_in_user_message", false}};
    }
  }
  return cases;
}

TEST(ChatTemplateOracle, EveryFixtureMatchesHuggingFaceJinjaByteForByte) {
  const fs::path dir = oracle_dir();
  const std::vector<Case> cases = all_cases();
  ojson input = ojson::array();
  std::vector<std::string> ours;
  std::vector<std::string> our_errors;
  for (const Case& c : cases) {
    const std::string source = testing::read_file(templates_dir() / c.template_file);
    ojson vars = c.extra;
    vars["messages"] = c.messages;
    vars["add_generation_prompt"] = c.add_generation_prompt;
    vars["bos_token"] = c.bos;
    vars["eos_token"] = c.eos;
    if (c.tools) vars["tools"] = *c.tools;
    ojson entry{{"template", source}, {"vars", vars}};
    if (c.now_ms) entry["now_ms"] = *c.now_ms;
    input.push_back(entry);

    ChatRenderOptions o;
    o.add_generation_prompt = c.add_generation_prompt;
    o.bos_token = c.bos;
    o.eos_token = c.eos;
    o.tools = c.tools;
    o.extra = c.extra;
    o.now = std::chrono::system_clock::time_point(std::chrono::milliseconds(c.now_ms.value_or(0)));
    try {
      ours.push_back(ChatTemplate(source, c.template_file).render(c.messages, o));
      our_errors.emplace_back();
    } catch (const jinja::TemplateRaised& e) {
      ours.emplace_back();
      our_errors.push_back("raised: " + e.message());
    } catch (const Error& e) {
      ours.emplace_back();
      our_errors.push_back(std::string("error: ") + e.what());
    }
  }
  testing::TempDir tmp;
  testing::write_file(tmp / "cases.json", input.dump());
  const std::string cmd = "cd " + quoted(dir.string()) + " && TZ=UTC node render.mjs " +
                          quoted((tmp / "cases.json").string()) + " " +
                          quoted((tmp / "results.json").string()) + " > " +
                          quoted((tmp / "node.log").string()) + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << testing::read_file(tmp / "node.log");
  const ojson results = ojson::parse(testing::read_file(tmp / "results.json"));
  ASSERT_EQ(results.size(), cases.size());
  int rendered = 0, refused = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& r = results[i];
    const std::string where = cases[i].template_file + " case " + std::to_string(i) + " " +
                              cases[i].messages.dump() +
                              (cases[i].add_generation_prompt ? " +gen" : " -gen");
    if (r["ok"].get<bool>()) {
      EXPECT_EQ(our_errors[i], "") << where;
      EXPECT_EQ(ours[i], r["output"].get<std::string>()) << where;
      ++rendered;
    } else {
      // The reference refused: so must we, and a raise_exception must carry the same words.
      EXPECT_NE(our_errors[i], "") << where << "\nreference error: " << r["error"];
      if (our_errors[i].rfind("raised: ", 0) == 0) {
        EXPECT_EQ(our_errors[i].substr(8), r["error"].get<std::string>()) << where;
      }
      ++refused;
    }
  }
  // The conversations exercise both paths of every template family.
  EXPECT_GT(rendered, 100);
  EXPECT_GT(refused, 5);
}

}  // namespace
}  // namespace lowbit
