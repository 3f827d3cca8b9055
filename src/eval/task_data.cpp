#include "eval/task_data.h"

#include <bzlib.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>

#include "core/error.h"
#include "core/json.h"
#include "core/limits.h"
#include "core/utf8.h"

namespace lowbit {
namespace {

using json = Json;

// ---------------------------------------------------------------------------------------------
// Reading files

std::string bzip2_decompress(const std::string& data, const std::filesystem::path& file) {
  std::string out;
  size_t offset = 0;
  // A file may hold several concatenated streams (pbzip2, or `cat a.bz2 b.bz2`).
  while (offset < data.size()) {
    if (data.size() - offset > (1u << 31)) fail("{}: bzip2 file over 2 GiB", file.string());
    bz_stream s{};
    if (BZ2_bzDecompressInit(&s, 0, 0) != BZ_OK) fail("{}: cannot start bzip2", file.string());
    s.next_in = const_cast<char*>(data.data() + offset);
    s.avail_in = static_cast<unsigned>(data.size() - offset);
    int rc = BZ_OK;
    char buf[1 << 16];
    while (rc == BZ_OK) {
      s.next_out = buf;
      s.avail_out = sizeof(buf);
      rc = BZ2_bzDecompress(&s);
      out.append(buf, sizeof(buf) - s.avail_out);
      if (out.size() > limits::kMaxDecompressedBytes) {  // a bzip2 bomb
        BZ2_bzDecompressEnd(&s);
        fail("{}: decompresses to more than {} bytes", file.string(),
             limits::kMaxDecompressedBytes);
      }
      if (rc == BZ_OK && s.avail_in == 0 && s.avail_out != 0) rc = BZ_UNEXPECTED_EOF;
    }
    const size_t consumed = static_cast<size_t>(s.next_in - (data.data() + offset));
    BZ2_bzDecompressEnd(&s);
    if (rc != BZ_STREAM_END)
      fail("{}: corrupt or truncated bzip2 data (libbz2 error {} at compressed byte {})",
           file.string(), rc, offset + consumed);
    offset += consumed;
    // Trailing bytes that do not start another stream (e.g. zero padding) end the data.
    if (data.compare(offset, 3, "BZh") != 0) break;
  }
  return out;
}

// Splits text into lines (without "\n" or a trailing "\r").
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

bool is_blank(std::string_view s) {
  return s.find_first_not_of(" \t\n\r\f\v") == std::string_view::npos;
}

std::string_view strip(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\n\r\f\v");
  if (b == std::string_view::npos) return {};
  const size_t e = s.find_last_not_of(" \t\n\r\f\v");
  return s.substr(b, e - b + 1);
}

// ---------------------------------------------------------------------------------------------
// JSON Lines with field checks that name file, line and field.

class JsonLine {
 public:
  JsonLine(const std::filesystem::path& file, size_t line, std::string_view text)
      : file_(file), line_(line) {
    // Depth-bounded, duplicate keys rejected; errors read "file:line: invalid JSON: ...".
    obj_ = parse_json(text, fmt::format("{}:{}", file_.string(), line_));
    if (!obj_.is_object()) error("expected a JSON object, got {}", obj_.type_name());
  }

  template <class... Args>
  [[noreturn]] void error(fmt::format_string<Args...> format, Args&&... args) const {
    fail("{}:{}: {}", file_.string(), line_, fmt::format(format, std::forward<Args>(args)...));
  }

  const json& field(const char* name) const {
    const auto it = obj_.find(name);
    if (it == obj_.end()) error("missing field '{}'", name);
    return *it;
  }

  std::string string(const char* name) const {
    const json& v = field(name);
    if (!v.is_string()) error("field '{}' must be a string, got {}", name, v.type_name());
    return v.get<std::string>();
  }

  std::vector<std::string> strings(const char* name, size_t min_count) const {
    const json& v = field(name);
    if (!v.is_array()) error("field '{}' must be an array of strings, got {}", name, v.type_name());
    std::vector<std::string> out;
    for (const auto& e : v) {
      if (!e.is_string())
        error("field '{}' must be an array of strings, element {} is {}", name, out.size(),
              e.type_name());
      out.push_back(e.get<std::string>());
    }
    if (out.size() < min_count)
      error("field '{}' has {} entries, at least {} needed", name, out.size(), min_count);
    return out;
  }

  // An integer index into `count` choices.
  int index(const char* name, size_t count) const {
    const json& v = field(name);
    if (!v.is_number_integer()) error("field '{}' must be an integer, got {}", name, v.dump());
    const auto g = v.get<int64_t>();
    if (g < 0 || g >= static_cast<int64_t>(count))
      error("field '{}' = {} is out of range for {} choices (valid: 0..{})", name, g, count,
            count - 1);
    return static_cast<int>(g);
  }

 private:
  const std::filesystem::path& file_;
  size_t line_;
  json obj_;
};

template <class ParseItem>
std::vector<TaskItem> parse_jsonl(const std::filesystem::path& file, std::string_view text,
                                  ParseItem parse_item) {
  std::vector<TaskItem> items;
  const auto lines = split_lines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (is_blank(lines[i])) continue;
    const JsonLine obj(file, i + 1, lines[i]);
    TaskItem item = parse_item(obj);
    item.line = i + 1;
    items.push_back(std::move(item));
  }
  return items;
}

// " " + text (spelt out: GCC 12 warns falsely about operator+ here).
std::string prefixed_by_space(std::string_view text) {
  std::string out(1, ' ');
  out.append(text);
  return out;
}

// "... \nAnswer:" cue after a question, whether or not the stored query ends with a newline.
std::string with_answer_cue(std::string query) {
  if (!query.ends_with('\n')) query += '\n';
  return query + "Answer:";
}

TaskItem multiple_choice(const std::string& context, const std::vector<std::string>& choices,
                         int gold) {
  TaskItem item;
  item.gold = gold;
  for (const auto& c : choices) {
    item.requests.push_back({context, prefixed_by_space(c)});
    item.choice_bytes.push_back(static_cast<double>(std::max<size_t>(1, c.size())));
  }
  return item;
}

// ---------------------------------------------------------------------------------------------
// The tasks. Each prompt is lm-evaluation-harness's; `+` joins context and continuation, and the
// continuation's log-likelihood is what is scored.

// PIQA (lm-eval `piqa`): "Question: {goal}\nAnswer:" + " {solution}", acc and acc_norm.
// The stored query is already "Question: {goal}\n".
TaskItem parse_piqa(const JsonLine& o) {
  const auto choices = o.strings("choices", 2);
  return multiple_choice(with_answer_cue(o.string("query")), choices,
                         o.index("gold", choices.size()));
}

// ARC-Easy / ARC-Challenge (lm-eval `arc_easy`, `arc_challenge`):
// "Question: {question}\nAnswer:" + " {choice text}", acc and acc_norm. The stored query is
// "Question: {question}".
TaskItem parse_arc(const JsonLine& o) {
  const auto choices = o.strings("choices", 2);
  return multiple_choice(with_answer_cue(o.string("query")), choices,
                         o.index("gold", choices.size()));
}

// BoolQ (lm-eval `boolq`): "{passage}\nQuestion: {question}?\nAnswer:" + " no" / " yes", acc.
// The stored query is "Passage: {passage}\nQuestion: {question}?"; the "Passage: " label, which
// lm-eval does not have, is removed. Choices come from the file ([no, yes]).
TaskItem parse_boolq(const JsonLine& o) {
  std::string query = o.string("query");
  if (query.starts_with("Passage: ")) query.erase(0, 9);
  const auto choices = o.strings("choices", 2);
  return multiple_choice(with_answer_cue(query), choices, o.index("gold", choices.size()));
}

// WinoGrande (lm-eval `winogrande`, the partial scoring rule of Trinh & Le 2018): the sentence
// is cut at the blank; each option fills it to give one context, "{sentence before _}{option}",
// and the scored continuation is the same for all: " {sentence after _, stripped}". The option
// whose context makes that shared continuation most likely wins (acc only). The stored
// context_options are the filled contexts and continuation is the text after the blank.
TaskItem parse_winogrande(const JsonLine& o) {
  const auto contexts = o.strings("context_options", 2);
  const std::string continuation = prefixed_by_space(strip(o.string("continuation")));
  TaskItem item;
  item.gold = o.index("gold", contexts.size());
  for (const auto& c : contexts) {
    item.requests.push_back({c, continuation});
    item.choice_bytes.push_back(static_cast<double>(continuation.size() - 1));
  }
  return item;
}

// LAMBADA, OpenAI's version (lm-eval `lambada_openai`): context "{text without its last word}",
// continuation " {last word}". acc: every continuation token is the greedy (argmax) token;
// perplexity: exp(-mean over items of log p(continuation | context)).
TaskItem parse_lambada(const JsonLine& o) {
  TaskItem item;
  const std::string word = o.string("continuation");
  if (strip(word).empty()) o.error("field 'continuation' is empty");
  item.requests.push_back({o.string("context"), prefixed_by_space(strip(word))});
  item.choice_bytes.push_back(static_cast<double>(strip(word).size()));
  return item;
}

// HellaSwag (lm-eval `hellaswag`): context preprocess("{activity_label}: {ctx}"), continuation
// " " + preprocess(ending), acc and acc_norm. llama.cpp's file has, per item, the context line
// ("{activity_label}: {ctx_a} {ctx_b}"), the gold index and 4 endings. lm-eval capitalises the
// first letter of ctx_b; the file does not say where ctx_b starts, so the context is kept as
// stored (as llama.cpp scores it).
std::vector<TaskItem> parse_hellaswag(const std::filesystem::path& file, std::string_view text) {
  auto lines = split_lines(text);
  while (!lines.empty() && is_blank(lines.back())) lines.pop_back();
  constexpr size_t kLines = 6, kEndings = 4;
  std::vector<TaskItem> items;
  for (size_t i = 0; i < lines.size(); i += kLines) {
    if (lines.size() - i < kLines)
      fail(
          "{}:{}: incomplete item: HellaSwag items are {} lines (context, gold index, {} "
          "endings), the file ends after {}",
          file.string(), i + 1, kLines, kEndings, lines.size() - i);
    const std::string_view gold_text = strip(lines[i + 1]);
    int gold = -1;
    if (gold_text.size() == 1 && gold_text[0] >= '0' && gold_text[0] < '0' + int{kEndings})
      gold = gold_text[0] - '0';
    if (gold < 0)
      fail(
          "{}:{}: gold index '{}' is not an integer in 0..{} (line 2 of the item starting at "
          "line {})",
          file.string(), i + 2, lines[i + 1], kEndings - 1, i + 1);
    const std::string context = hellaswag_preprocess(lines[i]);
    if (context.empty()) fail("{}:{}: empty context", file.string(), i + 1);
    std::vector<std::string> endings;
    for (size_t e = 0; e < kEndings; ++e) {
      endings.push_back(hellaswag_preprocess(lines[i + 2 + e]));
      if (endings.back().empty()) fail("{}:{}: empty ending", file.string(), i + 3 + e);
    }
    TaskItem item = multiple_choice(context, endings, gold);
    item.line = i + 1;
    items.push_back(std::move(item));
  }
  return items;
}

// A JSON-lines task with one item per line.
template <TaskItem (*ParseItem)(const JsonLine&)>
std::vector<TaskItem> jsonl(const std::filesystem::path& file, std::string_view text) {
  return parse_jsonl(file, text, ParseItem);
}

}  // namespace

std::string hellaswag_preprocess(std::string_view text) {
  std::string s(strip(text));
  for (size_t p; (p = s.find(" [title]")) != std::string::npos;) s.replace(p, 8, ". ");
  for (size_t from = 0;;) {  // re.sub(r"\[.*?\]", "", s)
    const size_t open = s.find('[', from);
    if (open == std::string::npos) break;
    const size_t close = s.find(']', open);
    if (close == std::string::npos) break;
    s.erase(open, close - open + 1);
    from = open;
  }
  std::string out;  // str.replace("  ", " "): one left-to-right pass
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    out += s[i];
    if (s[i] == ' ' && i + 1 < s.size() && s[i + 1] == ' ') ++i;
  }
  return out;
}

const std::vector<TaskInfo>& task_registry() {
  static const std::vector<TaskInfo> tasks = {
      {"piqa", "piqa.jsonl", TaskKind::kMultipleChoice, true, jsonl<parse_piqa>},
      {"arc_easy", "arc_easy.jsonl", TaskKind::kMultipleChoice, true, jsonl<parse_arc>},
      {"arc_challenge", "arc_challenge.jsonl", TaskKind::kMultipleChoice, true, jsonl<parse_arc>},
      {"hellaswag", "hellaswag_val_full.txt.bz2", TaskKind::kMultipleChoice, true, parse_hellaswag},
      {"winogrande", "winogrande.jsonl", TaskKind::kMultipleChoice, false, jsonl<parse_winogrande>},
      {"boolq", "boolq.jsonl", TaskKind::kMultipleChoice, false, jsonl<parse_boolq>},
      {"lambada", "lambada_openai.jsonl", TaskKind::kLastWord, false, jsonl<parse_lambada>},
  };
  return tasks;
}

const TaskInfo& task_info(std::string_view name) {
  if (name == "lambada_openai") name = "lambada";
  std::string known;
  for (const auto& t : task_registry()) {
    if (t.name == name) return t;
    known += (known.empty() ? "" : ", ") + t.name;
  }
  fail("unknown task '{}' (known: {})", name, known);
}

std::string read_task_file(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec))
    fail("{}: no such task file (--tasks-dir names the folder holding the task files)",
         file.string());
  std::ifstream in(file, std::ios::binary);
  if (!in) fail("{}: cannot open", file.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string data = ss.str();
  if (data.starts_with("BZh")) data = bzip2_decompress(data, file);
  if (is_blank(data)) fail("{}: empty file, no items", file.string());
  if (const size_t bad = find_invalid_utf8(data); bad != std::string::npos) {
    const size_t line = 1 + static_cast<size_t>(std::count(data.begin(), data.begin() + bad, '\n'));
    fail("{}:{}: invalid UTF-8 (byte offset {})", file.string(), line, bad);
  }
  return data;
}

TaskData load_task(std::string_view name, const std::filesystem::path& file) {
  TaskData task{task_info(name), file, {}};
  const std::string text = read_task_file(file);
  task.items = task.info.parse(file, text);
  if (task.items.empty()) fail("{}: empty file, no items", file.string());
  return task;
}

std::vector<size_t> choose_subset(size_t count, size_t limit, uint64_t seed) {
  std::vector<size_t> idx(count);
  for (size_t i = 0; i < count; ++i) idx[i] = i;
  if (limit == 0 || limit >= count) return idx;
  std::mt19937_64 rng(seed);  // its output sequence is fixed by the standard
  for (size_t i = 0; i < limit; ++i) std::swap(idx[i], idx[i + rng() % (count - i)]);
  idx.resize(limit);
  std::sort(idx.begin(), idx.end());
  return idx;
}

}  // namespace lowbit
