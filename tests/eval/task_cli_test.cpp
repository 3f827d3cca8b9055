// `lowbit eval --tasks`: the table and JSON, and the errors a user can run into.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "eval/tasks.h"
#include "io/model_loader.h"
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

// The library's results for the same model, task files and options the CLI was given.
std::vector<TaskResult> library_results(const fs::path& dir, const std::string& tasks,
                                        size_t limit = 0, uint64_t seed = 0) {
  TaskOptions opts;
  opts.tasks_dir = dir / "tasks";
  opts.limit = limit;
  opts.seed = seed;
  opts.progress = false;
  const auto names = parse_task_list(tasks, opts);
  LoadedModel m = load_model(dir / "m");
  return evaluate_tasks(*m.model, *m.tokenizer, names, opts);
}

// Every metric row the library computes appears in the printed table with its value and standard
// error equal to the printed precision (3 decimals for perplexity, 4 otherwise) and its item count.
void expect_table_matches(const std::string& out, const std::vector<TaskResult>& results) {
  for (const auto& r : results)
    for (const auto& m : r.metrics) {
      const std::string key = "| " + r.task + " | " + m.name + " | ";
      const size_t at = out.find(key);
      ASSERT_NE(at, std::string::npos) << key << "\n" << out;
      char* end = nullptr;
      const double value = std::strtod(out.c_str() + at + key.size(), &end);
      ASSERT_EQ(std::string(end, 3), " | ") << out.substr(at);
      const double std_error = std::strtod(end + 3, &end);
      ASSERT_EQ(std::string(end, 3), " | ") << out.substr(at);
      const size_t n = std::strtoul(end + 3, &end, 10);
      const double half_unit = 0.5 * (m.name == "perplexity" ? 1e-3 : 1e-4) + 1e-12;
      EXPECT_NEAR(value, m.value, half_unit) << key;
      EXPECT_NEAR(std_error, m.std_error, half_unit) << key;
      EXPECT_EQ(n, r.items.size()) << key;
    }
}

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
  // The numbers are the library's: in the table to the printed digits, in the JSON (which keeps
  // full precision) to 1e-9.
  const auto want = library_results(dir_.path(), "piqa,lambada");
  ASSERT_EQ(want.size(), 2u);
  expect_table_matches(r.out, want);
  for (size_t t = 0; t < want.size(); ++t)
    for (const auto& m : want[t].metrics) {
      const auto& got = j["tasks"][t]["metrics"][m.name];
      EXPECT_NEAR(got["value"].get<double>(), m.value, 1e-9 * (1 + std::fabs(m.value))) << m.name;
      EXPECT_NEAR(got["stderr"].get<double>(), m.std_error, 1e-9 * (1 + m.std_error)) << m.name;
    }

  r = testing::run_lowbit(base_ + "--tasks piqa --limit 2 --seed 3");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| 2 |"), std::string::npos) << r.out;
  expect_table_matches(r.out, library_results(dir_.path(), "piqa", 2, 3));
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
