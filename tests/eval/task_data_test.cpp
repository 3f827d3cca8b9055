// Task files: the prompt each task builds, malformed files (error names file, line and field),
// bzip2, HellaSwag clean-up, subset choice, and the real files in ../shared.
#include <bzlib.h>
#include <gtest/gtest.h>

#include <set>

#include "core/error.h"
#include "eval/task_data.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

// The lowbit::Error message of load_task, or "" when it loads.
std::string load_error(const std::string& task, const fs::path& file) {
  try {
    load_task(task, file);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string bzip2(const std::string& text) {
  std::string out(text.size() + text.size() / 50 + 1024, '\0');
  auto len = static_cast<unsigned>(out.size());
  EXPECT_EQ(BZ2_bzBuffToBuffCompress(out.data(), &len, const_cast<char*>(text.data()),
                                     static_cast<unsigned>(text.size()), 9, 0, 0),
            BZ_OK);
  out.resize(len);
  return out;
}

TEST(TaskData, PromptsFollowTheHarness) {
  testing::TempDir dir;
  testing::write_file(dir / "piqa.jsonl",
                      R"({"query": "Question: How to dry wet shoes?\n", "choices": ["Stuff )"
                      R"(them with paper.", "Soak them."], "gold": 0})"
                      "\n");
  auto piqa = load_task("piqa", dir / "piqa.jsonl");
  ASSERT_EQ(piqa.items.size(), 1u);
  const auto& p = piqa.items[0];
  EXPECT_EQ(p.requests[0].context, "Question: How to dry wet shoes?\nAnswer:");
  EXPECT_EQ(p.requests[0].continuation, " Stuff them with paper.");
  EXPECT_EQ(p.requests[1].continuation, " Soak them.");
  EXPECT_EQ(p.choice_bytes, (std::vector<double>{22, 10}));
  EXPECT_EQ(p.gold, 0);
  EXPECT_EQ(p.line, 1u);

  testing::write_file(dir / "arc.jsonl",
                      "\n"
                      R"({"query": "Question: Which is a gas?", "choices": ["ice", "steam", )"
                      R"("rock", "wood"], "gold": 1})"
                      "\n\n");
  auto arc = load_task("arc_challenge", dir / "arc.jsonl");
  ASSERT_EQ(arc.items.size(), 1u);
  EXPECT_EQ(arc.items[0].requests[0].context, "Question: Which is a gas?\nAnswer:");
  EXPECT_EQ(arc.items[0].requests[3].continuation, " wood");
  EXPECT_EQ(arc.items[0].line, 2u);  // blank lines are skipped but counted

  testing::write_file(dir / "boolq.jsonl",
                      R"({"query": "Passage: Water boils at 100 C.\nQuestion: does water )"
                      R"(boil at 100 c?", "choices": ["no", "yes"], "gold": 1})"
                      "\n");
  auto boolq = load_task("boolq", dir / "boolq.jsonl");
  EXPECT_EQ(boolq.items[0].requests[1].context,
            "Water boils at 100 C.\nQuestion: does water boil at 100 c?\nAnswer:");
  EXPECT_EQ(boolq.items[0].requests[0].continuation, " no");
  EXPECT_EQ(boolq.items[0].requests[1].continuation, " yes");

  testing::write_file(dir / "wino.jsonl",
                      R"({"context_options": ["Sarah helped Maria so Sarah", "Sarah helped )"
                      R"(Maria so Maria"], "continuation": "was thanked.", "gold": 1})"
                      "\n");
  auto wino = load_task("winogrande", dir / "wino.jsonl");
  EXPECT_EQ(wino.items[0].requests[0].context, "Sarah helped Maria so Sarah");
  EXPECT_EQ(wino.items[0].requests[1].context, "Sarah helped Maria so Maria");
  EXPECT_EQ(wino.items[0].requests[0].continuation, " was thanked.");
  EXPECT_EQ(wino.items[0].requests[1].continuation, " was thanked.");
  EXPECT_EQ(wino.info.kind, TaskKind::kMultipleChoice);
  EXPECT_FALSE(wino.info.acc_norm);

  testing::write_file(dir / "lambada.jsonl",
                      R"({"context": "He opened the door and saw his", "continuation": "dog"})"
                      "\r\n");
  auto lambada = load_task("lambada_openai", dir / "lambada.jsonl");
  EXPECT_EQ(lambada.info.name, "lambada");
  EXPECT_EQ(lambada.info.kind, TaskKind::kLastWord);
  ASSERT_EQ(lambada.items[0].requests.size(), 1u);
  EXPECT_EQ(lambada.items[0].requests[0].context, "He opened the door and saw his");
  EXPECT_EQ(lambada.items[0].requests[0].continuation, " dog");

  const std::string hs =
      "Cooking: A man cuts [header] an onion. he\n2\nsings.\nruns  away.\nputs it in a pan.\n"
      "eats [title] it.\nSports: A girl runs. she\n0\njumps.\nfalls.\nsits.\nwaves.\n";
  testing::write_file(dir / "hs.txt", hs);
  auto hella = load_task("hellaswag", dir / "hs.txt");
  ASSERT_EQ(hella.items.size(), 2u);
  EXPECT_EQ(hella.items[0].requests[0].context, "Cooking: A man cuts an onion. he");
  EXPECT_EQ(hella.items[0].requests[1].continuation, " runs away.");
  EXPECT_EQ(hella.items[0].requests[3].continuation, " eats. it.");
  EXPECT_EQ(hella.items[0].gold, 2);
  EXPECT_EQ(hella.items[1].gold, 0);
  EXPECT_EQ(hella.items[1].line, 7u);

  // The same text bzip2-compressed (the shared file's format) gives the same items.
  testing::write_file(dir / "hs.txt.bz2", bzip2(hs));
  auto hella_bz2 = load_task("hellaswag", dir / "hs.txt.bz2");
  ASSERT_EQ(hella_bz2.items.size(), 2u);
  EXPECT_EQ(hella_bz2.items[1].requests[2].continuation, " sits.");
  // Two concatenated streams are read as one text.
  testing::write_file(dir / "two.bz2", bzip2(hs.substr(0, 60)) + bzip2(hs.substr(60)));
  EXPECT_EQ(load_task("hellaswag", dir / "two.bz2").items.size(), 2u);
}

TEST(TaskData, MalformedFilesNameFileLineAndField) {
  testing::TempDir dir;
  const std::string good = R"({"query": "Question: q", "choices": ["a", "b"], "gold": 0})";
  struct Case {
    std::string task, text, expected;
  };
  const std::vector<Case> cases = {
      {"piqa", good + "\n{\"query\": \"Question: q\", \"choices\": [\"a\"\n" + good + "\n",
       ":2: invalid JSON"},
      {"piqa", good + "\n" + good + "\n" + R"({"query": "q", "choices": ["a", "b"]})" + "\n",
       ":3: missing field 'gold'"},
      {"arc_easy", R"({"choices": ["a", "b"], "gold": 0})", ":1: missing field 'query'"},
      {"piqa", R"({"query": "q", "choices": ["a", "b"], "gold": 2})",
       ":1: field 'gold' = 2 is out of range for 2 choices"},
      {"piqa", R"({"query": "q", "choices": ["a", "b"], "gold": -1})", "out of range"},
      {"piqa", R"({"query": "q", "choices": ["a", "b"], "gold": "0"})",
       ":1: field 'gold' must be an integer"},
      {"piqa", R"({"query": "q", "choices": "a", "gold": 0})",
       ":1: field 'choices' must be an array of strings"},
      {"piqa", R"({"query": "q", "choices": ["a"], "gold": 0})",
       ":1: field 'choices' has 1 entries, at least 2 needed"},
      {"boolq", R"({"query": 3, "choices": ["no", "yes"], "gold": 0})",
       ":1: field 'query' must be a string"},
      {"winogrande", R"({"context_options": ["a", "b"], "gold": 1})",
       ":1: missing field 'continuation'"},
      {"lambada", R"({"context": "a b"})", ":1: missing field 'continuation'"},
      {"lambada", R"(["context", "continuation"])", ":1: expected a JSON object"},
      {"piqa", "", "empty file"},
      {"piqa", "\n  \n", "empty file"},
      {"hellaswag", "ctx\n1\na\nb\nc\nd\nctx\n0\na\n", ":7: incomplete item"},
      {"hellaswag", "ctx\n4\na\nb\nc\nd\n", ":2: gold index '4' is not an integer in 0..3"},
      {"hellaswag", "ctx\nx\na\nb\nc\nd\n", ":2: gold index 'x'"},
      {"piqa", std::string("{\"query\": \"q\xff\", \"choices\": [\"a\", \"b\"], \"gold\": 0}"),
       ":1: invalid UTF-8"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto file = dir / ("case" + std::to_string(i) + ".jsonl");
    testing::write_file(file, cases[i].text);
    const std::string err = load_error(cases[i].task, file);
    EXPECT_NE(err.find(file.string()), std::string::npos) << "case " << i << ": " << err;
    EXPECT_NE(err.find(cases[i].expected), std::string::npos) << "case " << i << ": " << err;
  }
  testing::write_file(dir / "bad.bz2", "BZh91AY&SY garbage");
  EXPECT_NE(load_error("hellaswag", dir / "bad.bz2").find("corrupt or truncated bzip2"),
            std::string::npos);
  EXPECT_NE(load_error("piqa", dir / "missing.jsonl").find("no such task file"), std::string::npos);
  EXPECT_NE(load_error("mmlu", dir / "case0.jsonl").find("unknown task 'mmlu' (known: piqa,"),
            std::string::npos);
}

TEST(TaskData, HellaswagPreprocessMatchesHarness) {
  EXPECT_EQ(hellaswag_preprocess("  A [title] B  "), "A. B");
  EXPECT_EQ(hellaswag_preprocess("see [www.x.org] now"), "see now");
  EXPECT_EQ(hellaswag_preprocess("a [b [c] d] e"), "a d] e");  // non-greedy, as re.sub
  EXPECT_EQ(hellaswag_preprocess("x   y"), "x  y");            // one pass of "  " -> " "
  EXPECT_EQ(hellaswag_preprocess("open [ bracket"), "open [ bracket");
}

TEST(TaskData, SubsetIsSeededSortedAndDistinct) {
  EXPECT_EQ(choose_subset(5, 0, 1), (std::vector<size_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(choose_subset(5, 9, 1).size(), 5u);
  const auto a = choose_subset(1000, 50, 7), b = choose_subset(1000, 50, 7);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, choose_subset(1000, 50, 8));
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_EQ(std::set<size_t>(a.begin(), a.end()).size(), 50u);
  EXPECT_LT(a.back(), 1000u);
  EXPECT_GT(a.back(), 500u);  // spread over the file, not the first 50
}

TEST(TaskData, SharedTaskFilesLoad) {
  const fs::path tasks = testing::shared_dir() / "data/tasks";
  if (!fs::exists(tasks)) GTEST_SKIP() << tasks << " not found";
  const std::vector<std::pair<std::string, size_t>> expected = {
      {"piqa", 1838},       {"arc_easy", 2376}, {"arc_challenge", 1172}, {"boolq", 3270},
      {"winogrande", 1267}, {"lambada", 5153},  {"hellaswag", 10042}};
  for (const auto& [name, count] : expected) {
    const auto task = load_task(name, tasks / task_info(name).file_name);
    EXPECT_EQ(task.items.size(), count) << name;
    for (const auto& item : task.items) {
      ASSERT_FALSE(item.requests.empty());
      ASSERT_EQ(item.requests.size(), item.choice_bytes.size());
      ASSERT_LT(static_cast<size_t>(item.gold), item.requests.size());
    }
  }
}

}  // namespace
}  // namespace lowbit
