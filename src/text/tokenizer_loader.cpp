// Finds the tokenizer that belongs to a checkpoint and applies tokenizer_config.json.
#include <optional>

#include "core/error.h"
#include "core/json.h"
#include "text/tokenizer.h"

namespace lowbit {
namespace fs = std::filesystem;

namespace {

// tokenizer_config.json names special tokens either as strings or as {"content": ...} objects.
std::optional<std::string> token_content(const JsonFields& j, const char* field) {
  if (!j.has(field)) return std::nullopt;
  if (j.at(field).is_string()) return j.string(field);
  if (j.at(field).is_object()) {
    const JsonFields token = j.object(field);
    if (token.has("content")) return token.string("content");
  }
  return std::nullopt;
}

// The id of a special token's text, if the tokenizer maps it to exactly one token.
std::optional<int32_t> single_token_id(const Tokenizer& tok, const std::string& text) {
  const auto ids = tok.encode(text);
  if (ids.size() == 1) return ids[0];
  return std::nullopt;
}

void apply_tokenizer_config(Tokenizer& tok, const fs::path& path) {
  const Json doc = read_json_file(path);
  const JsonFields j(doc, path.string());
  if (j.has("add_bos_token")) tok.add_bos = j.boolean("add_bos_token");
  // SentencePiece models know their BOS/EOS; byte-level BPE files learn them from here.
  if (!tok.bos_id)
    if (auto s = token_content(j, "bos_token")) tok.bos_id = single_token_id(tok, *s);
  if (!tok.eos_id)
    if (auto s = token_content(j, "eos_token")) tok.eos_id = single_token_id(tok, *s);
}

}  // namespace

Tokenizer::Vocabulary Tokenizer::vocabulary() const {
  fail("this tokenizer cannot describe its vocabulary");
}

std::unique_ptr<Tokenizer> load_tokenizer_for(const fs::path& model_path) {
  const fs::path dir = fs::is_directory(model_path) ? model_path : model_path.parent_path();
  std::unique_ptr<Tokenizer> tok;
  if (fs::exists(dir / "tokenizer.json")) {
    tok = load_bpe_tokenizer_json(dir / "tokenizer.json");
  } else if (fs::exists(dir / "tokenizer.model")) {
    tok = load_sentencepiece_tokenizer(dir / "tokenizer.model");
  } else if (fs::exists(dir / "tokenizer.bin")) {
    tok = load_llama2c_tokenizer(dir / "tokenizer.bin");
  } else {
    // llama2.c ships tokenizers named after their vocabulary size, e.g. tok512.bin.
    for (const auto& entry : fs::directory_iterator(dir)) {
      const std::string name = entry.path().filename().string();
      if (name.starts_with("tok") && entry.path().extension() == ".bin") {
        tok = load_llama2c_tokenizer(entry.path());
        break;
      }
    }
  }
  if (!tok)
    fail("{}: no tokenizer found (tokenizer.json, tokenizer.model or tokenizer.bin)", dir.string());
  if (fs::exists(dir / "tokenizer_config.json"))
    apply_tokenizer_config(*tok, dir / "tokenizer_config.json");
  return tok;
}

}  // namespace lowbit
