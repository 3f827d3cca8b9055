#pragma once
// Zero-shot task files and their prompts. Each task's file is parsed into items; an item is a set
// of (context, continuation) log-likelihood requests plus the gold answer. The prompt of every task
// is the one lm-evaluation-harness (the "standard harness") uses, written next to its parser in
// task_data.cpp and summarised in docs/tasks.md.
//
// File formats (those of ../shared/data/tasks, see its README):
//   piqa.jsonl, arc_easy.jsonl, arc_challenge.jsonl, boolq.jsonl: {"query", "choices", "gold"}
//   winogrande.jsonl: {"context_options", "continuation", "gold"}
//   lambada_openai.jsonl: {"context", "continuation"}
//   hellaswag_val_full.txt[.bz2]: llama.cpp's format, 6 lines per item (context, gold index,
//     4 endings); bzip2-compressed when the name ends in .bz2.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace lowbit {

enum class TaskKind {
  kMultipleChoice,  // the choice with the highest continuation log-likelihood is the answer
  kLastWord,        // LAMBADA: one continuation, greedy exact match and perplexity
};

// One log-likelihood request: log p(continuation | context).
struct TaskRequest {
  std::string context;
  std::string continuation;
};

struct TaskItem {
  std::vector<TaskRequest> requests;  // one per choice (kLastWord: exactly one)
  // acc_norm denominators: UTF-8 bytes of each choice's text, without the " " that joins it to
  // the context (lm-evaluation-harness divides by len(choice)).
  std::vector<double> choice_bytes;
  int gold = 0;     // index of the correct choice (kLastWord: 0)
  size_t line = 0;  // 1-based line in the file where the item starts
};

struct TaskInfo {
  std::string name;       // as given to --tasks, e.g. "arc_easy"
  std::string file_name;  // default file in the tasks folder
  TaskKind kind = TaskKind::kMultipleChoice;
  bool acc_norm = false;  // report length-normalised accuracy too
  // Reads the task file's items (text already read, decompressed and checked as UTF-8).
  std::vector<TaskItem> (*parse)(const std::filesystem::path& file,
                                 std::string_view text) = nullptr;
};

// The supported tasks, in the order results are reported.
const std::vector<TaskInfo>& task_registry();
// Looks a task up by name ("lambada_openai" is an alias of "lambada"); throws lowbit::Error
// listing the known names.
const TaskInfo& task_info(std::string_view name);

struct TaskData {
  TaskInfo info;
  std::filesystem::path file;
  std::vector<TaskItem> items;
};

// Parses `file` as task `name`. Throws lowbit::Error naming the file, line and field on malformed
// input (bad JSON, missing or mistyped field, gold index out of range, no items).
TaskData load_task(std::string_view name, const std::filesystem::path& file);

// The bytes of a task file, bzip2-decompressed when it starts with the bzip2 magic "BZh".
std::string read_task_file(const std::filesystem::path& file);

// lm-evaluation-harness's HellaSwag text clean-up: strip, " [title]" -> ". ", drop "[...]" spans,
// then one pass of "  " -> " ".
std::string hellaswag_preprocess(std::string_view text);

// Items chosen by --limit: all of them when limit is 0 or >= count, else `limit` indices drawn
// by a seeded shuffle (mt19937_64, partial Fisher-Yates), returned in increasing order so the
// subset is evaluated in file order.
std::vector<size_t> choose_subset(size_t count, size_t limit, uint64_t seed);

}  // namespace lowbit
