// Hugging Face tokenizer.json with a byte-level BPE model (GPT-2, Llama-3, SmolLM2 style).
// Hand-written: Debian packages no C++ port of the Hugging Face tokenizers library.
//
// Encoding: split the text on added tokens (longest match first); run the pre-tokenizers
// (Digits, Split, ByteLevel regex; PCRE2 with Unicode properties for the regexes); map each
// piece's bytes to GPT-2's printable byte alphabet; merge symbol pairs by rank.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "core/error.h"
#include "core/json.h"
#include "core/limits.h"
#include "core/utf8.h"
#include "text/bpe_merge.h"
#include "text/tokenizer.h"

namespace lowbit {
namespace {

constexpr size_t kMaxCachedPiece = 256;  // bytes

constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// Llama-3's and Qwen2's Split patterns (their tokenizer.json files), for is_exact_cut.
constexpr std::string_view kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// GPT-2's reversible byte -> printable code point map (printable bytes map to themselves).
struct ByteAlphabet {
  std::string encoded[256];
  std::unordered_map<std::string, uint8_t> decoded;
  ByteAlphabet() {
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
      append_utf8(encoded[b], printable ? b : next++);
      decoded[encoded[b]] = static_cast<uint8_t>(b);
    }
  }
};

const ByteAlphabet& alphabet() {
  static const ByteAlphabet a;
  return a;
}

size_t utf8_length(unsigned char lead) {
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;
}

struct CodeDeleter {
  void operator()(pcre2_code* c) const { pcre2_code_free(c); }
};
struct MatchDataDeleter {
  void operator()(pcre2_match_data* m) const { pcre2_match_data_free(m); }
};

// A compiled Unicode regex; find_all returns the byte ranges it matches, left to right.
class Regex {
 public:
  Regex(const std::string& pattern, const std::string& where) {
    int err = 0;
    PCRE2_SIZE offset = 0;
    code_.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                              PCRE2_UTF | PCRE2_UCP, &err, &offset, nullptr));
    if (!code_) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      fail("{}: invalid regex at offset {}: {}", where, offset, reinterpret_cast<const char*>(msg));
    }
    pcre2_jit_compile(code_.get(), PCRE2_JIT_COMPLETE);  // falls back to the interpreter
  }

  std::vector<std::pair<size_t, size_t>> find_all(std::string_view s) const {
    std::unique_ptr<pcre2_match_data, MatchDataDeleter> md(
        pcre2_match_data_create_from_pattern(code_.get(), nullptr));
    std::vector<std::pair<size_t, size_t>> out;
    size_t pos = 0;
    while (pos < s.size()) {
      const int rc = pcre2_match(code_.get(), reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), pos,
                                 PCRE2_NO_UTF_CHECK, md.get(), nullptr);
      if (rc < 0) break;
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
      if (ov[1] == ov[0]) {  // empty match: step over one character
        pos = ov[0] + utf8_length(static_cast<unsigned char>(s[ov[0]]));
        continue;
      }
      out.emplace_back(ov[0], ov[1]);
      pos = ov[1];
    }
    return out;
  }

 private:
  std::unique_ptr<pcre2_code, CodeDeleter> code_;
};

// One pre-tokenizer step: splits every piece into smaller pieces.
struct PreTokenizer {
  enum class Kind { kDigits, kSplit, kByteLevelRegex } kind;
  bool individual_digits = false;
  std::shared_ptr<Regex> regex;
};

std::vector<std::string_view> split_digits(std::string_view s, bool individual) {
  std::vector<std::string_view> out;
  size_t start = 0;
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  for (size_t i = 0; i < s.size(); ++i) {
    const bool boundary =
        i > 0 && (is_digit(s[i]) != is_digit(s[i - 1]) || (individual && is_digit(s[i])));
    if (boundary) {
      out.push_back(s.substr(start, i - start));
      start = i;
    }
  }
  if (start < s.size()) out.push_back(s.substr(start));
  return out;
}

// "Isolated" split: every match and every stretch of text between matches becomes a piece.
std::vector<std::string_view> split_isolated(std::string_view s, const Regex& re) {
  std::vector<std::string_view> out;
  size_t last = 0;
  for (auto [b, e] : re.find_all(s)) {
    if (b > last) out.push_back(s.substr(last, b - last));
    out.push_back(s.substr(b, e - b));
    last = e;
  }
  if (last < s.size()) out.push_back(s.substr(last));
  return out;
}

class ByteLevelBpe final : public Tokenizer {
 public:
  explicit ByteLevelBpe(const std::filesystem::path& path)
      : ByteLevelBpe(read_json_file(path), path.string()) {}

  // A tokenizer.json document already parsed (built from another format's vocabulary);
  // `name` stands for the file in errors.
  ByteLevelBpe(const Json& j, std::string name) : file_(std::move(name)) {
    const JsonFields root(j, file_);
    load_model(root.object("model"));
    if (root.has("normalizer"))
      fail("{}: normalizer {} is not supported", file_,
           root.object("normalizer").string_or("type", "?"));
    if (root.has("pre_tokenizer")) add_pre_tokenizer(root.object("pre_tokenizer"));
    if (root.has("added_tokens")) load_added_tokens(root.at("added_tokens"));
    newline_cuts_ =
        newline_cuts_ && std::none_of(added_.begin(), added_.end(), [](const auto& token) {
          return token.first.find('\n') != std::string::npos;
        });
  }

  std::vector<int32_t> encode(std::string_view text) const override {
    return encode_text(text, /*continuation=*/false);
  }

  // A continuation's first segment gets no prefix space (ByteLevel add_prefix_space): in the
  // whole text it is the tail of a segment that already has one.
  std::vector<int32_t> encode_continuation(std::string_view text) const override {
    return encode_text(text, /*continuation=*/true);
  }

  // A cut right after a newline is exact for the pre-tokenizer regexes known here (GPT-2's
  // ByteLevel, Llama-3's, Qwen2's; Digits never spans a newline) when what follows the newline
  // cannot join it: one space then an ASCII letter or punctuation (the whitespace run that ends
  // with the newline is one pre-token in the whole text as at the end of a piece: "\s+(?!\S)"
  // backtracks to the newline, "\s*[\r\n]+" ends there), or a non-space right after a newline that
  // itself follows a non-space (else GPT-2's "\s+(?!\S)" splits " \nX" as " ", "\n" but a piece's
  // end as " \n").
  // "[^\r\n...]?\p{L}+" and " ?..." cannot start at a newline. No added token may contain a
  // newline (it could match across the cut). Other Split patterns are not analysed: no cuts.
  // Checked by tests/text/chunked_encode_test.cpp on random text and the reference files.
  bool is_exact_cut(std::string_view text, size_t pos) const override {
    if (!newline_cuts_ || pos < 2 || pos >= text.size() || text[pos - 1] != '\n') return false;
    const auto space = [](char c) {
      return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
    };
    if (text[pos] == ' ') {
      // The space must start " ?\p{L}+" or " ?[^\s\p{L}\p{N}]+": an ASCII letter or punctuation
      // after it. Not a digit: a Digits pre-tokenizer running first cuts "\n 1" before the "1",
      // and the space then ends the newline's pre-token.
      if (pos + 1 >= text.size()) return false;
      const auto next = static_cast<unsigned char>(text[pos + 1]);
      return next > ' ' && next < 0x80 && !(next >= '0' && next <= '9');
    }
    return !space(text[pos]) && !space(text[pos - 2]);
  }

 private:
  std::vector<int32_t> encode_text(std::string_view text, bool continuation) const {
    // The pre-tokenizer regexes run with PCRE2_NO_UTF_CHECK (and JIT), whose behaviour on invalid
    // UTF-8 is undefined (the fuzzer found a hang): check once here. Hugging Face's tokenizers
    // take Rust strings, valid UTF-8 by construction.
    if (const size_t bad = find_invalid_utf8(text); bad != std::string_view::npos)
      fail("{}: cannot encode text that is not valid UTF-8 (byte offset {})", file_, bad);
    std::vector<int32_t> ids;
    size_t pos = 0;
    // Each added token's next occurrence at or after pos, searched again only once pos passes
    // it: linear in the text per added token, however many occurrences there are.
    std::vector<size_t> next_at(added_.size(), 0);
    std::vector<bool> searched(added_.size(), false);
    while (pos < text.size()) {
      // Next added token at or after pos (longest content first at the same position).
      size_t best_at = text.size(), best_len = 0;
      int32_t best_id = -1;
      for (size_t k = 0; k < added_.size(); ++k) {
        const auto& [content, id] = added_[k];
        if (!searched[k] || (next_at[k] != std::string_view::npos && next_at[k] < pos)) {
          next_at[k] = text.find(content, pos);
          searched[k] = true;
        }
        const size_t at = std::min(next_at[k], text.size());
        if (at < best_at || (at == best_at && at != text.size() && content.size() > best_len)) {
          best_at = at;
          best_len = content.size();
          best_id = id;
        }
      }
      encode_plain(text.substr(pos, best_at - pos), ids, !(continuation && pos == 0));
      if (best_id < 0) break;
      ids.push_back(best_id);
      pos = best_at + best_len;
    }
    return ids;
  }

 public:
  std::string decode(std::span<const int32_t> ids) const override {
    std::string symbols, out;
    for (int32_t id : ids) {
      if (id < 0 || static_cast<size_t>(id) >= pieces_.size())
        fail("token id {} out of range [0, {})", id, pieces_.size());
      if (special_.count(id)) continue;
      if (added_ids_.count(id)) {
        flush(symbols, out);
        out += pieces_[static_cast<size_t>(id)];
      } else {
        symbols += pieces_[static_cast<size_t>(id)];
      }
    }
    flush(symbols, out);
    return out;
  }

  int32_t vocab_size() const override { return static_cast<int32_t>(pieces_.size()); }
  std::string piece(int32_t id) const override {
    if (id < 0 || static_cast<size_t>(id) >= pieces_.size())
      fail("token id {} out of range [0, {})", id, pieces_.size());
    return pieces_[static_cast<size_t>(id)];
  }

  Vocabulary vocabulary() const override {
    Vocabulary v;
    v.model = "gpt2";
    v.tokens = pieces_;
    v.types.assign(pieces_.size(), TokenType::kNormal);
    for (const auto& [id, added] : added_ids_)
      v.types[static_cast<size_t>(id)] =
          special_.count(id) ? TokenType::kControl : TokenType::kUserDefined;
    // By rank (a merge listed twice keeps its later rank, as encoding uses it).
    std::vector<std::pair<int, std::string>> by_rank;
    for (const auto& [pair, rank] : ranks_) by_rank.emplace_back(rank, pair);
    std::sort(by_rank.begin(), by_rank.end());
    for (auto& [rank, pair] : by_rank) v.merges.push_back(std::move(pair));
    return v;
  }

 private:
  void load_model(const JsonFields& m) {
    if (m.string_or("type", "") != "BPE")
      fail("{}: model.type \"{}\" is not supported (supported: BPE)", file_,
           m.string_or("type", ""));
    for (const char* field : {"dropout", "continuing_subword_prefix", "end_of_word_suffix"})
      if (m.has(field))
        fail("{}: model.{} = {} is not supported", file_, field, m.at(field).dump());
    if (m.boolean_or("byte_fallback", false))
      fail("{}: model.byte_fallback is not supported", file_);
    // Llama-3: a pre-token that is itself in the vocabulary is one token, whatever the merges
    // would make of it (Hugging Face tokenizers' BPE::ignore_merges).
    ignore_merges_ = m.boolean_or("ignore_merges", false);
    const JsonFields vocab = m.object("vocab");
    for (const auto& [piece, id] : vocab.json().items()) {
      const auto i = static_cast<size_t>(
          json_integer(id, 0, limits::kMaxVocab - 1, file_, "model.vocab[\"" + piece + "\"]"));
      if (pieces_.size() <= i) pieces_.resize(i + 1);
      pieces_[i] = piece;
      vocab_[piece] = static_cast<int32_t>(i);
    }
    const Json& merges = m.at("merges");
    if (!merges.is_array()) fail("{}: model.merges is not an array", file_);
    int rank = 0;
    for (const auto& mg : merges) {
      std::string a, b;
      if (mg.is_string()) {
        const std::string s = mg.get<std::string>();
        const size_t sp = s.find(' ');
        if (sp == std::string::npos || sp == 0 || sp + 1 >= s.size())
          fail("{}: model.merges[{}]: expected \"a b\", got {}", file_, rank, mg.dump());
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (mg.is_array() && mg.size() == 2 && mg[0].is_string() && mg[1].is_string()) {
        a = mg[0].get<std::string>();
        b = mg[1].get<std::string>();
      } else {
        fail("{}: model.merges[{}]: expected \"a b\" or [a, b], got {}", file_, rank, mg.dump());
      }
      if (!vocab_.count(a) || !vocab_.count(b) || !vocab_.count(a + b))
        fail("{}: model.merges[{}] \"{} {}\" uses a token missing from the vocab", file_, rank, a,
             b);
      ranks_[a + ' ' + b] = rank++;
    }
  }

  void add_pre_tokenizer(const JsonFields& p) {
    const std::string type = p.string_or("type", "");
    if (type == "Sequence") {
      // Recursion is bounded by the parser's nesting limit (limits::kMaxJsonDepth).
      const Json& list = p.at("pretokenizers");
      if (!list.is_array()) fail("{}: {} is not an array", file_, p.field_name("pretokenizers"));
      for (size_t i = 0; i < list.size(); ++i)
        add_pre_tokenizer(
            JsonFields(list[i], file_, p.field_name("pretokenizers[" + std::to_string(i) + "]")));
    } else if (type == "Digits") {
      pre_.push_back(
          {PreTokenizer::Kind::kDigits, p.boolean_or("individual_digits", false), nullptr});
    } else if (type == "ByteLevel") {
      if (p.boolean_or("add_prefix_space", false)) add_prefix_space_ = true;
      if (p.boolean_or("use_regex", true))
        pre_.push_back({PreTokenizer::Kind::kByteLevelRegex, false,
                        std::make_shared<Regex>(std::string(kGpt2Pattern), file_ + ": ByteLevel")});
    } else if (type == "Split") {
      const std::string behavior = p.string_or("behavior", "Isolated");
      if (behavior != "Isolated")
        fail("{}: pre_tokenizer Split behavior \"{}\" is not supported", file_, behavior);
      if (!p.has("pattern") || !p.object("pattern").has("Regex"))
        fail("{}: pre_tokenizer Split needs pattern.Regex", file_);
      if (p.boolean_or("invert", false))
        fail("{}: pre_tokenizer Split with invert is not supported", file_);
      const std::string pattern = p.object("pattern").string("Regex");
      if (pattern != kLlama3Pattern && pattern != kQwen2Pattern && pattern != kGpt2Pattern)
        newline_cuts_ = false;
      pre_.push_back(
          {PreTokenizer::Kind::kSplit, false, std::make_shared<Regex>(pattern, file_ + ": Split")});
    } else {
      fail("{}: pre_tokenizer type \"{}\" is not supported", file_, type);
    }
  }

  void load_added_tokens(const Json& list) {
    if (!list.is_array()) fail("{}: added_tokens is not an array", file_);
    for (size_t k = 0; k < list.size(); ++k) {
      const JsonFields t(list[k], file_, "added_tokens[" + std::to_string(k) + "]");
      const auto id = static_cast<int32_t>(t.integer("id", 0, limits::kMaxVocab - 1));
      const auto content = t.string("content");
      if (pieces_.size() <= static_cast<size_t>(id)) pieces_.resize(static_cast<size_t>(id) + 1);
      pieces_[static_cast<size_t>(id)] = content;
      if (!content.empty()) added_.emplace_back(content, id);
      added_ids_.insert({id, true});
      if (t.boolean_or("special", false)) special_.insert({id, true});
    }
  }

  void encode_plain(std::string_view text, std::vector<int32_t>& ids, bool prefix_space) const {
    if (text.empty()) return;
    std::string prefixed;
    if (prefix_space && add_prefix_space_ && text.front() != ' ') {
      prefixed.reserve(text.size() + 1);
      prefixed.push_back(' ');
      prefixed.append(text);
      text = prefixed;
    }
    std::vector<std::string_view> pieces = {text};
    for (const auto& p : pre_) {
      std::vector<std::string_view> next;
      for (auto s : pieces) {
        std::vector<std::string_view> parts;
        switch (p.kind) {
          case PreTokenizer::Kind::kDigits:
            parts = split_digits(s, p.individual_digits);
            break;
          case PreTokenizer::Kind::kSplit:
          case PreTokenizer::Kind::kByteLevelRegex:
            parts = split_isolated(s, *p.regex);
            break;
        }
        next.insert(next.end(), parts.begin(), parts.end());
      }
      pieces.swap(next);
    }
    for (auto s : pieces) bpe(s, ids);
  }

  // Merges the byte symbols of one piece by rank; cached per piece.
  void bpe(std::string_view piece, std::vector<int32_t>& ids) const {
    {
      std::lock_guard lock(cache_mutex_);
      auto it = cache_.find(std::string(piece));
      if (it != cache_.end()) {
        ids.insert(ids.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    std::vector<std::string> sym;
    for (unsigned char b : piece) sym.push_back(alphabet().encoded[b]);
    if (ignore_merges_) {
      std::string word;
      for (const auto& s : sym) word += s;
      if (const auto it = vocab_.find(word); it != vocab_.end()) {
        ids.push_back(it->second);
        return;
      }
    }
    // The lowest-ranked merge first, the leftmost among equal ranks (O(n log n); see bpe_merge.h).
    std::string key;
    sym = bpe_merge(std::move(sym),
                    [&](const std::string& a,
                        const std::string& b) -> std::optional<MergeCandidate<std::string>> {
                      key.assign(a).append(1, ' ').append(b);
                      const auto it = ranks_.find(key);
                      if (it == ranks_.end()) return std::nullopt;
                      return MergeCandidate<std::string>{static_cast<double>(it->second), a + b};
                    });
    std::vector<int32_t> out;
    for (const auto& s : sym) {
      auto it = vocab_.find(s);
      if (it == vocab_.end()) fail("{}: no token for \"{}\" and no byte fallback", file_, s);
      out.push_back(it->second);
    }
    ids.insert(ids.end(), out.begin(), out.end());
    // Long pieces are not cached (as Hugging Face's reference): they are rare and would pin
    // their text in memory.
    if (piece.size() > kMaxCachedPiece) return;
    std::lock_guard lock(cache_mutex_);
    if (cache_.size() < 100000) cache_.emplace(std::string(piece), std::move(out));
  }

  // Maps accumulated byte-level symbols back to bytes.
  void flush(std::string& symbols, std::string& out) const {
    for (size_t i = 0; i < symbols.size();) {
      const size_t len =
          std::min(utf8_length(static_cast<unsigned char>(symbols[i])), symbols.size() - i);
      auto it = alphabet().decoded.find(symbols.substr(i, len));
      if (it != alphabet().decoded.end())
        out.push_back(static_cast<char>(it->second));
      else
        out.append(symbols, i, len);
      i += len;
    }
    symbols.clear();
  }

  std::string file_;
  std::vector<std::string> pieces_;
  std::unordered_map<std::string, int32_t> vocab_;
  bool ignore_merges_ = false;
  std::unordered_map<std::string, int> ranks_;
  std::vector<PreTokenizer> pre_;
  bool add_prefix_space_ = false;
  bool newline_cuts_ = true;  // see is_exact_cut
  std::vector<std::pair<std::string, int32_t>> added_;
  std::unordered_map<int32_t, bool> added_ids_, special_;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_bpe_tokenizer_json(const std::filesystem::path& json_file) {
  return std::make_unique<ByteLevelBpe>(json_file);
}

std::unique_ptr<Tokenizer> make_bpe_tokenizer(const nlohmann::json& tokenizer_json,
                                              const std::string& name) {
  return std::make_unique<ByteLevelBpe>(tokenizer_json, name);
}

}  // namespace lowbit
