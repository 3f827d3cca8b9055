#pragma once
// Zero-shot task evaluation (PIQA, ARC-Easy/Challenge, HellaSwag, WinoGrande, BoolQ, LAMBADA) the
// way lm-evaluation-harness scores them; prompts in task_data.cpp, scoring in task_scoring.h,
// protocol in docs/tasks.md.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/task_data.h"
#include "eval/task_scoring.h"
#include "text/tokenizer.h"
#include "model/llama.h"

namespace lowbit {

struct TaskOptions {
  std::filesystem::path tasks_dir = "../shared/data/tasks";
  // Per-task files that replace tasks_dir / TaskInfo::file_name.
  std::map<std::string, std::filesystem::path> files;
  size_t limit = 0;   // 0: every item; else a seeded random subset of this many (choose_subset)
  uint64_t seed = 0;  // seed of that subset
  std::optional<bool> add_bos;  // start every context with BOS; default: the tokenizer's add_bos
  ScoringMode mode = ScoringMode::kShared;
  bool progress = true;  // progress bar with ETA on stderr
};

struct TaskMetric {
  std::string name;  // "acc", "acc_norm", "perplexity"
  double value = 0;
  double std_error = 0;  // standard error of value
};

struct TaskItemResult {
  size_t line = 0;               // where the item starts in the task file
  int gold = 0;                  // multiple choice: the correct choice
  std::vector<double> logprobs;  // per request (choice); kLastWord: one
  int pred = 0;                  // argmax of logprobs
  int pred_norm = 0;             // argmax of logprobs / choice bytes
  bool greedy = false;           // kLastWord: the continuation is the greedy one
};

struct TaskResult {
  std::string task;
  std::filesystem::path file;
  size_t total_items = 0;  // in the file
  std::vector<TaskMetric> metrics;
  std::vector<TaskItemResult> items;  // evaluated items, in file order
  double seconds = 0;
  double items_per_second = 0;
  int64_t forward_passes = 0;
  int64_t tokens = 0;  // tokens run through the model
};

// Task names from a comma-separated list: "all" expands to every task, "name=PATH" sets that
// task's file in options.files; duplicates are dropped. Throws on an unknown name.
std::vector<std::string> parse_task_list(std::string_view list, TaskOptions& options);

// The file evaluate_tasks reads for `name`.
std::filesystem::path task_file(const std::string& name, const TaskOptions& options);

// Scores every item of `task` (or the subset options.limit picks).
TaskResult evaluate_task(LlamaModel& model, const Tokenizer& tokenizer, const TaskData& task,
                         const TaskOptions& options);

// Loads every named task first (so a malformed file fails before any model work), then
// evaluates them in order.
std::vector<TaskResult> evaluate_tasks(LlamaModel& model, const Tokenizer& tokenizer,
                                       const std::vector<std::string>& names,
                                       const TaskOptions& options);

// Markdown table: | task | metric | value | stderr | n |.
std::string format_task_table(const std::vector<TaskResult>& results);
// Metrics, timing and per-item log-likelihoods.
nlohmann::json task_results_json(const std::vector<TaskResult>& results);

}  // namespace lowbit
