// Chat prompts to ids: the template's bos/eos strings become ids (the Llama-2 SentencePiece
// tokenizer would spell "<s>" out as text), the text between them keeps SentencePiece's dummy
// prefix as Meta's reference code encodes each turn; the plain format starts with BOS.
#include "serve/chat_prompt.h"

#include <gtest/gtest.h>

#include "testing/fixtures.h"

namespace lowbit::serve {
namespace {

using nlohmann::json;

std::unique_ptr<Tokenizer> llama2_tokenizer() {
  auto t =
      load_sentencepiece_tokenizer(testing::shared_dir() / "tokenizers/llama2/tokenizer.model");
  t->bos_id = 1;
  t->eos_id = 2;
  t->add_bos = true;
  return t;
}

ChatTemplate llama2_template() {
  return ChatTemplate(testing::read_file(std::filesystem::path(LOWBIT_SOURCE_DIR) /
                                         "tests/text/chat_templates/llama-2-chat.jinja"),
                      "llama-2-chat.jinja");
}

TEST(ChatPrompt, Llama2TemplateIdsMatchMetasEncoding) {
  const auto tok = llama2_tokenizer();
  const TemplateChatPrompt p(llama2_template(), *tok, "<s>", "</s>");
  const json one = json::parse(R"([{"role": "user", "content": "Hi"}])");
  EXPECT_EQ(p.text(one), "<s>[INST] Hi [/INST]");
  // [BOS] + encode("[INST] Hi [/INST]"): "▁[", "INST", "]", ... as in Meta's chat_completion.
  std::vector<int32_t> expect{1};
  const auto body = tok->encode("[INST] Hi [/INST]");
  expect.insert(expect.end(), body.begin(), body.end());
  EXPECT_EQ(p.ids(one), expect);
  EXPECT_EQ(std::vector<int32_t>(expect.begin(), expect.begin() + 4),
            (std::vector<int32_t>{1, 518, 25580, 29962}));

  const json three = json::parse(R"([{"role": "user", "content": "Hi"},
      {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"}])");
  EXPECT_EQ(p.text(three), "<s>[INST] Hi [/INST] Hello </s><s>[INST] Bye [/INST]");
  std::vector<int32_t> want{1};
  for (const auto& [piece, special] : std::vector<std::pair<std::string, int32_t>>{
           {"[INST] Hi [/INST] Hello ", 2}, {"", 1}, {"[INST] Bye [/INST]", -1}}) {
    const auto ids = tok->encode(piece);
    want.insert(want.end(), ids.begin(), ids.end());
    if (special >= 0) want.push_back(special);
  }
  EXPECT_EQ(p.ids(three), want);
  // No "<", "s", ">" pieces: every bos/eos string became its id.
  EXPECT_EQ(std::count(want.begin(), want.end(), 1), 2);
  EXPECT_EQ(std::count(want.begin(), want.end(), 2), 1);
}

TEST(ChatPrompt, PlainFormatStartsWithBos) {
  const auto tok = llama2_tokenizer();
  const PlainChatPrompt p(*tok);
  const auto ids = p.ids(json::parse(R"([{"role": "user", "content": "Hi"}])"));
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], 1);
  EXPECT_EQ(tok->decode(ids), "User: Hi\n\nAssistant:");
}

TEST(ChatPrompt, LoadsTheConfigsTemplateOrTheFlagsOrThePlainFormat) {
  const auto tok = llama2_tokenizer();
  const json config = {
      {"bos_token", "<s>"}, {"eos_token", "</s>"}, {"chat_template", "{{ bos_token }}X"}};
  EXPECT_EQ(load_chat_prompt(config.dump(), "tc.json", {}, *tok)->describe(),
            "chat template tc.json:chat_template");
  EXPECT_EQ(load_chat_prompt("", "", {}, *tok)->describe(), "plain format (no chat template)");
  const auto file =
      std::filesystem::path(LOWBIT_SOURCE_DIR) / "tests/text/chat_templates/llama-2-chat.jinja";
  EXPECT_EQ(load_chat_prompt(config.dump(), "tc.json", file, *tok)->describe(),
            "chat template " + file.string());
  EXPECT_NE(
      testing::error_of([&] { load_chat_prompt("{oops", "tc.json", {}, *tok); }).find("tc.json"),
      std::string::npos);
  EXPECT_NE(testing::error_of([&] {
              load_chat_prompt("", "", "/nonexistent.jinja", *tok);
            }).find("/nonexistent.jinja"),
            std::string::npos);
  const json bad = {{"chat_template", "{% for %}"}};
  EXPECT_NE(testing::error_of([&] {
              load_chat_prompt(bad.dump(), "tc.json", {}, *tok);
            }).find("tc.json:chat_template line 1"),
            std::string::npos);
}

}  // namespace
}  // namespace lowbit::serve
