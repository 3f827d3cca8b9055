#pragma once
// Helpers shared by tests: paths into ../shared, temporary folders, and writers for small
// safetensors files and random Hugging Face checkpoints.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "text/tokenizer.h"

namespace lowbit::testing {

std::filesystem::path shared_dir();

// The message of the lowbit::Error that f throws, or "no error" (other exceptions propagate).
std::string error_of(const std::function<void()>& f);
std::filesystem::path ref_llama_dir();

// A fresh, empty folder under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

struct RawTensor {
  std::string dtype = "F32";
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

RawTensor f32_tensor(std::vector<int64_t> shape, const std::vector<float>& values);
RawTensor bf16_tensor(std::vector<int64_t> shape, const std::vector<float>& values);

void write_file(const std::filesystem::path& path, const std::string& bytes);
std::string read_file(const std::filesystem::path& path);
// Serialises tensors in safetensors layout (header, then data in map order).
std::string safetensors_bytes(const std::map<std::string, RawTensor>& tensors);

struct TinyModelSpec {
  int dim = 32, hidden = 48, layers = 2, heads = 4, kv_heads = 2, vocab = 512, max_seq = 128;
  bool tied = true;
  bool attention_bias = false;
  bool mlp_bias = false;
  std::string dtype = "F32";  // or BF16
  uint32_t seed = 1;
};

nlohmann::json tiny_config(const TinyModelSpec& spec);
std::map<std::string, RawTensor> tiny_tensors(const TinyModelSpec& spec);
// config.json + model.safetensors + a copy of the Llama-2 tokenizer.model.
void write_tiny_checkpoint(const std::filesystem::path& dir, const TinyModelSpec& spec);

// A checkpoint with known next-token probabilities: the logits after token t are
// class_logits[token_class[t]] (every o_proj and down_proj is zero, so the residual stream is the
// token's embedding, a one-hot vector picking its class). Vocabulary size = token_class.size();
// each class_logits row has that many entries; at most 32 classes. A copy of tok512.bin makes it
// loadable; pair it with ByteTokenizer.
void write_bigram_checkpoint(const std::filesystem::path& dir, const std::vector<int>& token_class,
                             const std::vector<std::vector<float>>& class_logits);

// Bytes as tokens: id = 3 + byte, BOS 1, EOS 2; prompts start with BOS.
class ByteTokenizer : public Tokenizer {
 public:
  ByteTokenizer();
  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(std::span<const int32_t> ids) const override;
  int32_t vocab_size() const override { return 259; }
  std::string piece(int32_t id) const override;
  static int32_t id(char byte) { return 3 + static_cast<unsigned char>(byte); }
};

// Runs `lowbit ARGS`; captures exit code, stdout and stderr.
struct CommandResult {
  int exit_code;
  std::string out;
  std::string err;
};
CommandResult run_lowbit(const std::string& args);

// A Node package folder in the build tree (build/npm/NAME): `files` copied from `source`, then
// `npm ci NPM_FLAGS` from the committed lockfile unless `marker` (a path inside it) exists. ctest
// -j runs tests that share a folder at the same time, and two `npm ci` in one folder break each
// other, so the check and the install hold an exclusive flock on NAME.lock. Throws lowbit::Error
// with the end of npm's log when the install fails (Node or npm missing fails, never skips).
std::filesystem::path npm_folder(const std::filesystem::path& source, const std::string& name,
                                 const std::vector<std::string>& files, const std::string& marker,
                                 const std::string& npm_flags = "");

}  // namespace lowbit::testing
