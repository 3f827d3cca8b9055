// `lowbit eval --tasks`: the table and JSON, and the errors a user can run into.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "testing/fixtures.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

class TaskCli : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_tiny_checkpoint(dir_ / "m", {});
    fs::create_directories(dir_ / "tasks");
    testing::write_file(dir_ / "tasks/piqa.jsonl",
                        R"({"query": "Question: How to open a jar?\n", "choices": ["Twist )"
                        R"(the lid.", "Eat the lid."], "gold": 0})"
                        "\n"
                        R"({"query": "Question: How to dry a shirt?\n", "choices": ["Hang it )"
                        R"(up.", "Put it in a pond."], "gold": 0})"
                        "\n"
                        R"({"query": "Question: How to cool tea?\n", "choices": ["Wait.", )"
                        R"("Boil it."], "gold": 0})"
                        "\n");
    testing::write_file(dir_ / "tasks/lambada_openai.jsonl",
                        R"({"context": "Once upon a time there was a little", "continuation": )"
                        R"("girl"})"
                        "\n"
                        R"({"context": "She went to the", "continuation": "park"})"
                        "\n");
    base_ = "eval -q -m '" + (dir_ / "m").string() + "' --tasks-dir '" + (dir_ / "tasks").string() +
            "' ";
  }
  testing::TempDir dir_;
  std::string base_;
};

TEST_F(TaskCli, PrintsTableAndWritesJson) {
  const auto json = dir_ / "out.json";
  auto r = testing::run_lowbit(base_ + "--tasks piqa,lambada --json '" + json.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| task | metric | value | stderr | n |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| piqa | acc |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| piqa | acc_norm |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| lambada | perplexity |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("items/s"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(testing::read_file(json));
  ASSERT_EQ(j["tasks"].size(), 2u);
  EXPECT_EQ(j["tasks"][0]["n"], 3);
  EXPECT_EQ(j["tasks"][1]["task"], "lambada");
  for (const auto& e : fs::directory_iterator(dir_.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();

  r = testing::run_lowbit(base_ + "--tasks piqa --limit 2 --seed 3");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| 2 |"), std::string::npos) << r.out;
}

TEST_F(TaskCli, ErrorsAreOneLineAndNameTheProblem) {
  auto r =
      testing::run_lowbit(base_ + "--tasks piqa -f '" + (dir_ / "tasks/piqa.jsonl").string() + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot be combined"), std::string::npos) << r.err;
  r = testing::run_lowbit("eval -m '" + (dir_ / "m").string() + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("give -f FILE"), std::string::npos) << r.err;
  r = testing::run_lowbit(base_ + "--tasks piqa --methods rtn");
  EXPECT_NE(r.err.find("--methods/--configs belong to the perplexity matrix"), std::string::npos)
      << r.err;
  r = testing::run_lowbit(base_ + "--tasks mmlu");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("unknown task 'mmlu'"), std::string::npos) << r.err;
  r = testing::run_lowbit(base_ + "--tasks winogrande");
  EXPECT_NE(r.err.find("winogrande.jsonl: no such task file"), std::string::npos) << r.err;
  testing::write_file(dir_ / "bad.jsonl", R"({"query": "q", "choices": ["a", "b"], "gold": 5})");
  r = testing::run_lowbit(base_ + "--tasks 'arc_easy=" + (dir_ / "bad.jsonl").string() + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad.jsonl:1: field 'gold' = 5 is out of range"), std::string::npos)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

}  // namespace
}  // namespace lowbit
