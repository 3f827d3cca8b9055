// `lowbit serve` renders chat requests with a Jinja chat template: one given with
// --chat-template, and one from the model folder's tokenizer_config.json (a copy of ref-llama-s,
// which has none, with the Llama-2 template added); a template's refusal is an HTTP 400 with an
// OpenAI-style error body, and the server goes on answering.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "serve/serve_test_util.h"
#include "testing/fixtures.h"

namespace lowbit::serve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path llama2_template() {
  return fs::path(LOWBIT_SOURCE_DIR) / "tests/text/chat_templates/llama-2-chat.jinja";
}

void check_chat(ServerProcess& server) {
  ASSERT_GT(server.port(), 0) << server.log();
  const auto ok =
      http_post(server.port(), "/v1/chat/completions",
                R"({"messages":[{"role":"system","content":"Be brief."},)"
                R"({"role":"user","content":"Hello"}],"max_tokens":4,"temperature":0})");
  ASSERT_EQ(ok.status, 200) << ok.body;
  const json answer = json::parse(ok.body);
  EXPECT_EQ(answer["choices"][0]["message"]["role"], "assistant");
  // "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHello [/INST]": more tokens than the plain format.
  EXPECT_GT(answer["usage"]["prompt_tokens"].get<int>(), 15);

  const auto refused = http_post(server.port(), "/v1/chat/completions",
                                 R"({"messages":[{"role":"user","content":"a"},)"
                                 R"({"role":"user","content":"b"}],"max_tokens":2})");
  EXPECT_EQ(refused.status, 400) << refused.body;
  const json error = json::parse(refused.body);
  EXPECT_EQ(error["error"]["type"], "invalid_request_error");
  EXPECT_EQ(error["error"]["param"], "messages");
  EXPECT_NE(error["error"]["message"].get<std::string>().find("Conversation roles must alternate"),
            std::string::npos)
      << refused.body;
  EXPECT_EQ(http_post(server.port(), "/v1/chat/completions",
                      R"({"messages":[{"role":"user","content":"again"}],"max_tokens":2})")
                .status,
            200);
  EXPECT_EQ(server.stop(), 0) << server.log();
}

TEST(ChatTemplateServe, TemplateFileFlag) {
  ServerProcess server("-m " + testing::ref_llama_dir().string() +
                       " --parallel 1 --ctx 256 --chat-template " + llama2_template().string());
  EXPECT_NE(server.log().find("llama-2-chat.jinja"), std::string::npos) << server.log();
  check_chat(server);
}

TEST(ChatTemplateServe, TemplateFromTheModelsTokenizerConfig) {
  testing::TempDir tmp;
  const fs::path model = tmp / "ref-llama-s-chat";
  fs::create_directories(model);
  for (const auto& e : fs::directory_iterator(testing::ref_llama_dir()))
    if (e.path().filename() != "tokenizer_config.json")
      fs::create_symlink(e.path(), model / e.path().filename());
  json config = json::parse(testing::read_file(testing::ref_llama_dir() / "tokenizer_config.json"));
  config["chat_template"] = testing::read_file(llama2_template());
  testing::write_file(model / "tokenizer_config.json", config.dump(2));
  ServerProcess server("-m " + model.string() + " --parallel 1 --ctx 256");
  EXPECT_NE(server.log().find("tokenizer_config.json:chat_template"), std::string::npos)
      << server.log();
  check_chat(server);
  // A malformed template refuses to start, naming the file and line.
  config["chat_template"] = "{% if %}";
  testing::write_file(model / "tokenizer_config.json", config.dump(2));
  const auto bad = testing::run_lowbit("serve -m " + model.string() + " --port 0");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("tokenizer_config.json:chat_template line 1"), std::string::npos)
      << bad.err;
}

}  // namespace
}  // namespace lowbit::serve
