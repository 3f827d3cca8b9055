// lowbit tokenize: what the model sees, printed as llama.cpp's llama-tokenize prints it
// ("    id -> 'text'" per token), or as an id list (--ids) or vocabulary pieces (--pieces).
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/utf8.h"
#include "text/document.h"
#include "text/text_file.h"

namespace lowbit::cli {
namespace {

struct TokenizeFlags {
  ModelFlags model;
  std::string prompt;
  std::string file;
  bool ids = false;
  bool pieces = false;
  bool no_bos = false;
  bool show_count = false;
};

// A Hugging Face folder's tokenizer loads without its weights (a 7B model's 14 GB); .lowbit files
// and llama2.c checkpoints are memory-mapped or small, so they load as models.
std::unique_ptr<Tokenizer> tokenizer_for(const ModelFlags& f) {
  if (std::filesystem::is_directory(f.model) && f.tokenizer.empty())
    return load_tokenizer_for(f.model);
  return std::move(load_from_flags(f).tokenizer);
}

// Python-style quoting of a piece: backslash, quote and control bytes escaped.
std::string python_quoted(const std::string& s) {
  std::string out = "'";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\\' || c == '\'')
      out += std::string("\\") + c;
    else if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c == '\r')
      out += "\\r";
    else if (u < 0x20 || u == 0x7f)
      out += fmt::format("\\x{:02x}", u);
    else
      out += c;
  }
  return out + "'";
}

void run_tokenize(const TokenizeFlags& f) {
  if (f.prompt.empty() == f.file.empty()) fail("tokenize: give either -p TEXT or -f FILE");
  const std::string text = f.file.empty() ? f.prompt : read_text_file(f.file);
  if (const size_t bad = find_invalid_utf8(text); bad != std::string::npos)
    fail("{} is not valid UTF-8 (byte offset {})", f.file.empty() ? "prompt" : f.file, bad);
  const auto tok = tokenizer_for(f.model);
  const std::vector<int32_t> ids = f.no_bos ? tok->encode(text) : tokenize_document(*tok, text);
  std::string out;
  if (f.ids) {
    out = "[";
    for (size_t i = 0; i < ids.size(); ++i) out += fmt::format("{}{}", i ? ", " : "", ids[i]);
    out += "]\n";
  } else if (f.pieces) {
    out = "[";
    for (size_t i = 0; i < ids.size(); ++i)
      out += (i ? ", " : "") + python_quoted(tok->piece(ids[i]));
    out += "]\n";
  } else {
    // Each token's text in context (a piece's leading space shows after other text, as the
    // model's decoder writes it); special tokens, which decode to nothing, show their piece.
    std::string before;
    for (size_t i = 0; i < ids.size(); ++i) {
      const size_t from = i < 4 ? 0 : i - 4;
      const std::span<const int32_t> ctx(ids.data() + from, i - from);
      const std::string a = tok->decode(ctx);
      std::vector<int32_t> with(ctx.begin(), ctx.end());
      with.push_back(ids[i]);
      const std::string b = tok->decode(with);
      std::string piece = b.compare(0, a.size(), a) == 0 ? b.substr(a.size()) : b;
      if (piece.empty()) piece = tok->piece(ids[i]);
      out += fmt::format("{:6} -> {}\n", ids[i], python_quoted(piece));
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (f.show_count) fmt::print("Total number of tokens: {}\n", ids.size());
}

}  // namespace

void register_tokenize(CLI::App& app) {
  auto flags = std::make_shared<TokenizeFlags>();
  auto* cmd = app.add_subcommand("tokenize", "print the tokens a model sees for a text");
  add_model_flags(*cmd, flags->model, /*bundled_default=*/true);
  auto* p = cmd->add_option("-p,--prompt", flags->prompt, "text to tokenize");
  auto* f = cmd->add_option("-f,--file", flags->file, "file to tokenize");
  p->excludes(f);
  auto* ids = cmd->add_flag("--ids", flags->ids, "print only the ids, as a list");
  auto* pieces = cmd->add_flag("--pieces", flags->pieces, "print the vocabulary pieces, as a list");
  ids->excludes(pieces);
  cmd->add_flag("--no-bos", flags->no_bos, "do not add BOS (by default added as the model does)");
  cmd->add_flag("--show-count", flags->show_count, "print the number of tokens at the end");
  cmd->callback([flags] { run_tokenize(*flags); });
}

}  // namespace lowbit::cli
