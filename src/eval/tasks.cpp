#include "eval/tasks.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/error.h"
#include "core/progress.h"

namespace lowbit {
namespace {

std::string_view trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// Tokenizes and fits every request of the chosen items; errors name the file and line.
std::vector<std::vector<TokenizedRequest>> tokenize_items(const Tokenizer& tokenizer,
                                                          const TaskData& task,
                                                          std::span<const size_t> chosen,
                                                          bool add_bos, size_t max_tokens) {
  std::vector<std::vector<TokenizedRequest>> out(chosen.size());
  for (size_t k = 0; k < chosen.size(); ++k) {
    const TaskItem& item = task.items[chosen[k]];
    for (const auto& req : item.requests) {
      try {
        out[k].push_back(tokenize_request(tokenizer, req.context, req.continuation, add_bos));
        truncate_request(out[k].back(), max_tokens);
      } catch (const Error& e) {
        fail("{}:{}: {}", task.file.string(), item.line, e.what());
      }
    }
  }
  return out;
}

}  // namespace

std::vector<std::string> parse_task_list(std::string_view list, TaskOptions& options) {
  std::vector<std::string> names;
  auto add = [&](const std::string& name) {
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  };
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string_view::npos) end = list.size();
    const std::string_view entry = trim(list.substr(start, end - start));
    start = end + 1;
    if (entry.empty()) continue;
    const size_t eq = entry.find('=');
    const std::string_view name = trim(entry.substr(0, eq));
    if (name == "all" && eq == std::string_view::npos) {
      for (const auto& t : task_registry()) add(t.name);
      continue;
    }
    const TaskInfo& info = task_info(name);
    if (eq != std::string_view::npos) {
      const std::string_view path = trim(entry.substr(eq + 1));
      if (path.empty()) fail("--tasks: '{}' names no file after '='", entry);
      options.files[info.name] = std::string(path);
    }
    add(info.name);
  }
  if (names.empty()) fail("--tasks: no task named in '{}'", list);
  return names;
}

std::filesystem::path task_file(const std::string& name, const TaskOptions& options) {
  const TaskInfo& info = task_info(name);
  if (const auto it = options.files.find(info.name); it != options.files.end()) return it->second;
  return options.tasks_dir / info.file_name;
}

TaskResult evaluate_task(LlamaModel& model, const Tokenizer& tokenizer, const TaskData& task,
                         const TaskOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const bool add_bos = options.add_bos.value_or(tokenizer.add_bos);
  const auto chosen = choose_subset(task.items.size(), options.limit, options.seed);
  const auto requests = tokenize_items(tokenizer, task, chosen, add_bos,
                                       static_cast<size_t>(model.config().max_seq_len));
  size_t longest = 1;
  for (const auto& item : requests)
    for (const auto& r : item)
      longest = std::max(longest, r.context.size() + r.continuation.size() - 1);

  TaskResult result;
  result.task = task.info.name;
  result.file = task.file;
  result.total_items = task.items.size();
  ContinuationScorer scorer(model, options.mode, static_cast<int>(longest));
  Progress progress(task.info.name, chosen.size(), options.progress);
  std::vector<double> normalised;
  for (size_t k = 0; k < chosen.size(); ++k) {
    const TaskItem& item = task.items[chosen[k]];
    const auto scores = scorer.score(requests[k]);
    TaskItemResult r;
    r.line = item.line;
    r.gold = item.gold;
    normalised.clear();
    for (size_t c = 0; c < scores.size(); ++c) {
      r.logprobs.push_back(scores[c].logprob);
      normalised.push_back(scores[c].logprob / item.choice_bytes[c]);
    }
    r.pred = static_cast<int>(argmax_index(r.logprobs));
    r.pred_norm = static_cast<int>(argmax_index(normalised));
    r.greedy = scores.size() == 1 && scores[0].greedy;
    result.items.push_back(std::move(r));
    progress.update(k + 1);
  }
  progress.finish();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.items_per_second =
      result.seconds > 0 ? static_cast<double>(chosen.size()) / result.seconds : 0.0;
  result.forward_passes = scorer.forward_passes();
  result.tokens = scorer.tokens();

  auto add_mean = [&](const std::string& name, auto value_of) {
    std::vector<double> v;
    for (const auto& it : result.items) v.push_back(value_of(it));
    double mean = 0;
    for (double x : v) mean += x;
    mean /= static_cast<double>(std::max<size_t>(1, v.size()));
    result.metrics.push_back({name, mean, mean_stderr(v)});
  };
  if (task.info.kind == TaskKind::kLastWord) {
    add_mean("acc", [](const TaskItemResult& it) { return it.greedy ? 1.0 : 0.0; });
    // perplexity = exp(mean NLL of the continuation); its stderr by the delta method.
    std::vector<double> nll;
    for (const auto& it : result.items) nll.push_back(-it.logprobs[0]);
    double mean = 0;
    for (double x : nll) mean += x;
    mean /= static_cast<double>(std::max<size_t>(1, nll.size()));
    const double ppl = std::exp(mean);
    result.metrics.push_back({"perplexity", ppl, ppl * mean_stderr(nll)});
  } else {
    add_mean("acc", [](const TaskItemResult& it) { return it.pred == it.gold ? 1.0 : 0.0; });
    if (task.info.acc_norm)
      add_mean("acc_norm",
               [](const TaskItemResult& it) { return it.pred_norm == it.gold ? 1.0 : 0.0; });
  }
  return result;
}

std::vector<TaskResult> evaluate_tasks(LlamaModel& model, const Tokenizer& tokenizer,
                                       const std::vector<std::string>& names,
                                       const TaskOptions& options) {
  std::vector<TaskData> tasks;
  for (const auto& name : names) tasks.push_back(load_task(name, task_file(name, options)));
  std::vector<TaskResult> results;
  for (const auto& task : tasks) results.push_back(evaluate_task(model, tokenizer, task, options));
  return results;
}

std::string format_task_table(const std::vector<TaskResult>& results) {
  std::string out = "| task | metric | value | stderr | n |\n| --- | --- | --- | --- | --- |\n";
  for (const auto& r : results)
    for (const auto& m : r.metrics) {
      const bool ppl = m.name == "perplexity";
      out += fmt::format("| {} | {} | {:.{}f} | {:.{}f} | {} |\n", r.task, m.name, m.value,
                         ppl ? 3 : 4, m.std_error, ppl ? 3 : 4, r.items.size());
    }
  return out;
}

nlohmann::json task_results_json(const std::vector<TaskResult>& results) {
  nlohmann::json tasks = nlohmann::json::array();
  for (const auto& r : results) {
    nlohmann::json metrics = nlohmann::json::object();
    for (const auto& m : r.metrics) metrics[m.name] = {{"value", m.value}, {"stderr", m.std_error}};
    nlohmann::json items = nlohmann::json::array();
    const bool last_word = task_info(r.task).kind == TaskKind::kLastWord;
    for (const auto& it : r.items) {
      nlohmann::json j = {{"line", it.line}, {"logprobs", it.logprobs}};
      if (last_word) {
        j["greedy"] = it.greedy;
      } else {
        j["gold"] = it.gold;
        j["pred"] = it.pred;
        j["pred_norm"] = it.pred_norm;
      }
      items.push_back(std::move(j));
    }
    tasks.push_back({{"task", r.task},
                     {"file", r.file.string()},
                     {"n", r.items.size()},
                     {"total_items", r.total_items},
                     {"metrics", metrics},
                     {"seconds", r.seconds},
                     {"items_per_second", r.items_per_second},
                     {"forward_passes", r.forward_passes},
                     {"tokens", r.tokens},
                     {"items", items}});
  }
  return {{"tasks", tasks}};
}

}  // namespace lowbit
