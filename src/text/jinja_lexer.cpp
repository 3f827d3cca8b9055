#include "text/jinja_lexer.h"

#include <array>
#include <utility>

#include "text/jinja_error.h"
#include "text/jinja_strings.h"

namespace lowbit::jinja {

namespace {

// Source with the preprocessing applied, and the original line of every byte.
struct Preprocessed {
  std::string text;
  std::vector<int> line;
};

bool starts_line_terminator(std::string_view s, size_t i, size_t& len) {
  if (s[i] == '\n' || s[i] == '\r') {
    len = 1;
    return true;
  }
  // U+2028, U+2029 (JavaScript's `^` in multiline mode matches after them too)
  if (i + 2 < s.size() && s[i] == '\xE2' && s[i + 1] == '\x80' &&
      (s[i + 2] == '\xA8' || s[i + 2] == '\xA9')) {
    len = 3;
    return true;
  }
  return false;
}

Preprocessed preprocess(std::string_view source) {
  if (!source.empty() && source.back() == '\n') source.remove_suffix(1);
  Preprocessed a;
  {  // lines
    int line = 1;
    for (char c : source) {
      a.text += c;
      a.line.push_back(line);
      if (c == '\n') ++line;
    }
  }
  // lstrip_blocks: /^[ \t]*({[#%-])/gm -> "$1"
  Preprocessed b;
  bool at_line_start = true;
  for (size_t i = 0; i < a.text.size();) {
    if (at_line_start) {
      size_t j = i;
      while (j < a.text.size() && (a.text[j] == ' ' || a.text[j] == '\t')) ++j;
      if (j + 1 < a.text.size() && a.text[j] == '{' &&
          (a.text[j + 1] == '#' || a.text[j + 1] == '%' || a.text[j + 1] == '-'))
        i = j;
      at_line_start = false;
      continue;
    }
    size_t len = 0;
    if (starts_line_terminator(a.text, i, len)) {
      for (size_t k = 0; k < len; ++k) {
        b.text += a.text[i + k];
        b.line.push_back(a.line[i + k]);
      }
      i += len;
      at_line_start = true;
      continue;
    }
    b.text += a.text[i];
    b.line.push_back(a.line[i]);
    ++i;
  }
  // trim_blocks: /([#%-]})\n/g -> "$1"
  Preprocessed c;
  for (size_t i = 0; i < b.text.size(); ++i) {
    c.text += b.text[i];
    c.line.push_back(b.line[i]);
    if (b.text[i] == '}' && i > 0 && i + 1 < b.text.size() && b.text[i + 1] == '\n' &&
        (b.text[i - 1] == '#' || b.text[i - 1] == '%' || b.text[i - 1] == '-'))
      ++i;  // skip the newline
  }
  return c;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_word(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_';
}

struct Rule {
  std::string_view seq;
  Tok type;
};
// In the reference's order: longer operators before their prefixes.
constexpr std::array<Rule, 29> kRules{{
    {"{%", Tok::OpenStatement},  {"%}", Tok::CloseStatement},
    {"{{", Tok::OpenExpression}, {"}}", Tok::CloseExpression},
    {"(", Tok::OpenParen},       {")", Tok::CloseParen},
    {"{", Tok::OpenCurly},       {"}", Tok::CloseCurly},
    {"[", Tok::OpenSquare},      {"]", Tok::CloseSquare},
    {",", Tok::Comma},           {".", Tok::Dot},
    {":", Tok::Colon},           {"|", Tok::Pipe},
    {"<=", Tok::Comparison},     {">=", Tok::Comparison},
    {"==", Tok::Comparison},     {"!=", Tok::Comparison},
    {"<", Tok::Comparison},      {">", Tok::Comparison},
    {"+", Tok::Additive},        {"-", Tok::Additive},
    {"~", Tok::Additive},        {"**", Tok::Power},
    {"*", Tok::Multiplicative},  {"//", Tok::Multiplicative},
    {"/", Tok::Multiplicative},  {"%", Tok::Multiplicative},
    {"=", Tok::Equals},
}};

class Lexer {
 public:
  explicit Lexer(Preprocessed p) : p_(std::move(p)), src_(p_.text) {}

  std::vector<Token> run(int& line_out) {
    try {
      loop();
    } catch (const Failure&) {
      line_out = line_at(pos_);
      throw;
    }
    return std::move(tokens_);
  }

 private:
  int line_at(size_t i) const {
    if (p_.line.empty()) return 1;
    return p_.line[std::min(i, p_.line.size() - 1)];
  }
  char at(size_t i) const { return i < src_.size() ? src_[i] : '\0'; }
  void push(Tok t, std::string text, size_t where) {
    tokens_.push_back(Token{t, std::move(text), line_at(where)});
  }
  // Like the reference: running out of input inside a tag is an error.
  std::string consume_while(bool (*pred)(char)) {
    const size_t start = pos_;
    while (pred(at(pos_))) {
      if (++pos_ >= src_.size()) fail_eval("unexpected end of template inside a tag");
    }
    return std::string(src_.substr(start, pos_ - start));
  }
  void strip_trailing_whitespace() {
    if (!tokens_.empty() && tokens_.back().type == Tok::Text) {
      tokens_.back().text = std::string(js_trim_end(tokens_.back().text));
      if (tokens_.back().text.empty()) tokens_.pop_back();
    }
  }
  void skip_leading_whitespace() { pos_ = src_.size() - js_trim_start(src_.substr(pos_)).size(); }
  std::string consume_string(char quote) {
    std::string out;
    while (true) {
      if (pos_ >= src_.size()) fail_eval("unterminated string literal");
      const char c = src_[pos_];
      if (c == quote) break;
      ++pos_;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= src_.size()) fail_eval("unterminated string literal");
      const char e = src_[pos_++];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'v':
          out += '\v';
          break;
        case '\'':
          out += '\'';
          break;
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case 'x':
        case 'u': {
          const size_t n = e == 'x' ? 2 : 4;
          uint32_t cp = 0;
          for (size_t k = 0; k < n; ++k) {
            const char h = at(pos_ + k);
            const int d = is_digit(h)              ? h - '0'
                          : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                          : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                                   : -1;
            if (d < 0 || pos_ + k >= src_.size())
              fail_eval(std::string("invalid escape \\") + e + " in a string literal");
            cp = cp * 16 + static_cast<uint32_t>(d);
          }
          pos_ += n;
          if (cp >= 0xD800 && cp <= 0xDFFF)
            fail_eval("a \\u escape of a lone surrogate is not supported");
          if (cp < 0x80) {
            out += static_cast<char>(cp);
          } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
          } else {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
          }
          break;
        }
        default:
          fail_eval(std::string("unknown escape \\") + e + " in a string literal");
      }
    }
    return out;
  }

  void loop() {
    int curly_depth = 0;
    while (pos_ < src_.size()) {
      const bool have_last = !tokens_.empty();
      const Tok last = have_last ? tokens_.back().type : Tok::Text;
      if (!have_last || last == Tok::CloseStatement || last == Tok::CloseExpression ||
          last == Tok::Comment) {
        size_t end = pos_;
        while (true) {
          end = src_.find('{', end);
          if (end == std::string_view::npos) {
            end = src_.size();
            break;
          }
          const char next = at(end + 1);
          if (next == '%' || next == '{' || next == '#') break;
          ++end;
        }
        if (end > pos_) {
          push(Tok::Text, std::string(src_.substr(pos_, end - pos_)), pos_);
          pos_ = end;
          continue;
        }
      }
      if (src_[pos_] == '{') {
        const char next = at(pos_ + 1);
        if (next == '#') {
          const size_t open = pos_;
          pos_ += 2;
          const bool strip_before = at(pos_) == '-';
          if (strip_before) ++pos_;
          const size_t end = src_.find("#}", pos_);
          if (end == std::string_view::npos) fail_eval("comment {# without #}");
          std::string comment(src_.substr(pos_, end - pos_));
          const bool strip_after = !comment.empty() && comment.back() == '-';
          if (strip_after) comment.pop_back();
          if (strip_before) strip_trailing_whitespace();
          push(Tok::Comment, std::move(comment), open);
          pos_ = end + 2;
          if (strip_after) skip_leading_whitespace();
          continue;
        }
        if (at(pos_ + 2) == '-' && (next == '%' || next == '{')) {
          strip_trailing_whitespace();
          push(next == '%' ? Tok::OpenStatement : Tok::OpenExpression, next == '%' ? "{%" : "{{",
               pos_);
          if (next == '{') curly_depth = 0;
          pos_ += 3;
          continue;
        }
      }
      consume_while([](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); });
      const char c = src_[pos_];
      if (c == '-' && at(pos_ + 2) == '}' && (at(pos_ + 1) == '%' || at(pos_ + 1) == '}')) {
        const bool statement = at(pos_ + 1) == '%';
        push(statement ? Tok::CloseStatement : Tok::CloseExpression, statement ? "%}" : "}}", pos_);
        pos_ += 3;
        skip_leading_whitespace();
        continue;
      }
      if (c == '-' || c == '+') {
        if (!have_last || last == Tok::Text) fail_eval(std::string("unexpected '") + c + "'");
        const bool binary = last == Tok::Identifier || last == Tok::Number || last == Tok::String ||
                            last == Tok::CloseParen || last == Tok::CloseSquare;
        if (!binary) {
          const size_t where = pos_++;
          std::string num = is_digit(at(pos_)) ? consume_while(is_digit) : "";
          if (!num.empty() && at(pos_) == '.' && is_digit(at(pos_ + 1))) {
            ++pos_;
            num += '.';
            num += consume_while(is_digit);
          }
          if (num.empty())
            push(Tok::Unary, std::string(1, c), where);
          else
            push(Tok::Number, num.insert(0, 1, c), where);
          continue;
        }
      }
      bool matched = false;
      for (const Rule& r : kRules) {
        if (r.seq == "}}" && curly_depth > 0) continue;
        if (src_.substr(pos_, r.seq.size()) == r.seq) {
          push(r.type, std::string(r.seq), pos_);
          if (r.type == Tok::OpenExpression) curly_depth = 0;
          if (r.type == Tok::OpenCurly) ++curly_depth;
          if (r.type == Tok::CloseCurly) --curly_depth;
          pos_ += r.seq.size();
          matched = true;
          break;
        }
      }
      if (matched) continue;
      if (c == '\'' || c == '"') {
        const size_t where = pos_++;
        std::string s = consume_string(c);
        ++pos_;
        push(Tok::String, std::move(s), where);
        continue;
      }
      if (is_digit(c)) {
        const size_t where = pos_;
        std::string num = consume_while(is_digit);
        if (last != Tok::Dot && at(pos_) == '.' && is_digit(at(pos_ + 1))) {
          ++pos_;
          num += '.';
          num += consume_while(is_digit);
        }
        push(Tok::Number, std::move(num), where);
        continue;
      }
      if (is_word(c)) {
        const size_t where = pos_;
        push(Tok::Identifier, consume_while(is_word), where);
        continue;
      }
      fail_eval(std::string("unexpected character '") + c + "'");
    }
  }

  Preprocessed p_;
  std::string_view src_;
  size_t pos_ = 0;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source, int& line_out) {
  line_out = 1;
  return Lexer(preprocess(source)).run(line_out);
}

}  // namespace lowbit::jinja
