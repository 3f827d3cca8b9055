// Hugging Face tokenizer.json with a byte-level BPE model (GPT-2, Llama-3, SmolLM2 style).
// Hand-written: Debian packages no C++ port of the Hugging Face tokenizers library.
//
// Encoding: split the text on added tokens (longest match first); run the pre-tokenizers
// (Digits, Split, ByteLevel regex; PCRE2 with Unicode properties for the regexes); map each
// piece's bytes to GPT-2's printable byte alphabet; merge symbol pairs by rank.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "core/error.h"
#include "text/tokenizer.h"

namespace lowbit {
namespace {

using nlohmann::json;

constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

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
  explicit ByteLevelBpe(const std::filesystem::path& path) : file_(path.string()) {
    std::ifstream in(path);
    if (!in) fail("{}: cannot open", file_);
    json j;
    try {
      j = json::parse(in);
    } catch (const json::exception& e) {
      fail("{}: invalid JSON: {}", file_, e.what());
    }
    if (!j.is_object() || !j.contains("model") || !j["model"].is_object())
      fail("{}: missing object \"model\"", file_);
    load_model(j["model"]);
    if (j.contains("normalizer") && !j["normalizer"].is_null())
      fail("{}: normalizer {} is not supported", file_, j["normalizer"].value("type", "?"));
    if (j.contains("pre_tokenizer") && !j["pre_tokenizer"].is_null())
      add_pre_tokenizer(j["pre_tokenizer"]);
    if (j.contains("added_tokens")) load_added_tokens(j["added_tokens"]);
  }

  std::vector<int32_t> encode(std::string_view text) const override {
    std::vector<int32_t> ids;
    size_t pos = 0;
    while (pos < text.size()) {
      // Next added token at or after pos (longest content first at the same position).
      size_t best_at = text.size(), best_len = 0;
      int32_t best_id = -1;
      for (const auto& [content, id] : added_) {
        const size_t at = text.find(content, pos);
        if (at < best_at || (at == best_at && at != text.size() && content.size() > best_len)) {
          best_at = at;
          best_len = content.size();
          best_id = id;
        }
      }
      encode_plain(text.substr(pos, best_at - pos), ids);
      if (best_id < 0) break;
      ids.push_back(best_id);
      pos = best_at + best_len;
    }
    return ids;
  }

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

 private:
  void load_model(const json& m) {
    if (m.value("type", "") != "BPE")
      fail("{}: model.type \"{}\" is not supported (supported: BPE)", file_, m.value("type", ""));
    for (const char* field : {"dropout", "continuing_subword_prefix", "end_of_word_suffix"})
      if (m.contains(field) && !m[field].is_null())
        fail("{}: model.{} = {} is not supported", file_, field, m[field].dump());
    if (m.value("byte_fallback", false)) fail("{}: model.byte_fallback is not supported", file_);
    if (!m.contains("vocab") || !m["vocab"].is_object())
      fail("{}: model.vocab is not an object", file_);
    for (const auto& [piece, id] : m["vocab"].items()) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > (1 << 24))
        fail("{}: model.vocab[\"{}\"] is not a valid id: {}", file_, piece, id.dump());
      const auto i = static_cast<size_t>(id.get<int64_t>());
      if (pieces_.size() <= i) pieces_.resize(i + 1);
      pieces_[i] = piece;
      vocab_[piece] = static_cast<int32_t>(i);
    }
    if (!m.contains("merges") || !m["merges"].is_array())
      fail("{}: model.merges is not an array", file_);
    int rank = 0;
    for (const auto& mg : m["merges"]) {
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

  void add_pre_tokenizer(const json& p) {
    const std::string type = p.value("type", "");
    if (type == "Sequence") {
      for (const auto& q : p.at("pretokenizers")) add_pre_tokenizer(q);
    } else if (type == "Digits") {
      pre_.push_back({PreTokenizer::Kind::kDigits, p.value("individual_digits", false), nullptr});
    } else if (type == "ByteLevel") {
      if (p.value("add_prefix_space", false)) add_prefix_space_ = true;
      if (p.value("use_regex", true))
        pre_.push_back({PreTokenizer::Kind::kByteLevelRegex, false,
                        std::make_shared<Regex>(kGpt2Pattern, file_ + ": ByteLevel")});
    } else if (type == "Split") {
      const std::string behavior = p.value("behavior", "Isolated");
      if (behavior != "Isolated")
        fail("{}: pre_tokenizer Split behavior \"{}\" is not supported", file_, behavior);
      if (!p.contains("pattern") || !p["pattern"].contains("Regex"))
        fail("{}: pre_tokenizer Split needs pattern.Regex", file_);
      if (p.value("invert", false))
        fail("{}: pre_tokenizer Split with invert is not supported", file_);
      pre_.push_back(
          {PreTokenizer::Kind::kSplit, false,
           std::make_shared<Regex>(p["pattern"]["Regex"].get<std::string>(), file_ + ": Split")});
    } else {
      fail("{}: pre_tokenizer type \"{}\" is not supported", file_, type);
    }
  }

  void load_added_tokens(const json& list) {
    if (!list.is_array()) fail("{}: added_tokens is not an array", file_);
    for (const auto& t : list) {
      if (!t.is_object() || !t.contains("id") || !t.contains("content") ||
          !t["content"].is_string())
        fail("{}: added_tokens entry {} needs id and content", file_, t.dump());
      const auto id = t["id"].get<int32_t>();
      const auto content = t["content"].get<std::string>();
      if (id < 0) fail("{}: added token \"{}\" has id {}", file_, content, id);
      if (pieces_.size() <= static_cast<size_t>(id)) pieces_.resize(static_cast<size_t>(id) + 1);
      pieces_[static_cast<size_t>(id)] = content;
      if (!content.empty()) added_.emplace_back(content, id);
      added_ids_.insert({id, true});
      if (t.value("special", false)) special_.insert({id, true});
    }
  }

  void encode_plain(std::string_view text, std::vector<int32_t>& ids) const {
    if (text.empty()) return;
    std::string prefixed;
    if (add_prefix_space_ && text.front() != ' ') {
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
    while (sym.size() > 1) {
      int best = -1;
      size_t at = 0;
      for (size_t i = 0; i + 1 < sym.size(); ++i) {
        auto it = ranks_.find(sym[i] + ' ' + sym[i + 1]);
        if (it != ranks_.end() && (best < 0 || it->second < best)) {
          best = it->second;
          at = i;
        }
      }
      if (best < 0) break;
      sym[at] += sym[at + 1];
      sym.erase(sym.begin() + static_cast<std::ptrdiff_t>(at) + 1);
    }
    std::vector<int32_t> out;
    for (const auto& s : sym) {
      auto it = vocab_.find(s);
      if (it == vocab_.end()) fail("{}: no token for \"{}\" and no byte fallback", file_, s);
      out.push_back(it->second);
    }
    ids.insert(ids.end(), out.begin(), out.end());
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
  std::unordered_map<std::string, int> ranks_;
  std::vector<PreTokenizer> pre_;
  bool add_prefix_space_ = false;
  std::vector<std::pair<std::string, int32_t>> added_;
  std::unordered_map<int32_t, bool> added_ids_, special_;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_bpe_tokenizer_json(const std::filesystem::path& json_file) {
  return std::make_unique<ByteLevelBpe>(json_file);
}

}  // namespace lowbit
