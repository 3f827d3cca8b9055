#pragma once
// Helpers shared by tests: paths into ../shared, temporary folders, and writers for small
// safetensors files and random Hugging Face checkpoints.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lowbit::testing {

std::filesystem::path shared_dir();
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

// Runs `lowbit ARGS`; captures exit code, stdout and stderr.
struct CommandResult {
  int exit_code;
  std::string out;
  std::string err;
};
CommandResult run_lowbit(const std::string& args);

}  // namespace lowbit::testing
