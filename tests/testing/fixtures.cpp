#include "testing/fixtures.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "core/error.h"

namespace lowbit::testing {
namespace fs = std::filesystem;

fs::path shared_dir() {
  return fs::path(LOWBIT_SHARED_DIR);
}
fs::path ref_llama_dir() {
  return shared_dir() / "models/ref-llama-s";
}

TempDir::TempDir() {
  static int counter = 0;
  std::random_device rd;
  path_ = fs::temp_directory_path() / ("lowbit-test-" + std::to_string(::getpid()) + "-" +
                                       std::to_string(counter++) + "-" + std::to_string(rd()));
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

RawTensor f32_tensor(std::vector<int64_t> shape, const std::vector<float>& values) {
  RawTensor t{"F32", std::move(shape), {}};
  t.bytes.resize(values.size() * 4);
  std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
  return t;
}

RawTensor bf16_tensor(std::vector<int64_t> shape, const std::vector<float>& values) {
  RawTensor t{"BF16", std::move(shape), {}};
  for (float v : values) {
    const uint32_t bits = std::bit_cast<uint32_t>(v);
    const uint32_t rounded = bits + 0x7fff + ((bits >> 16) & 1);  // round to nearest even
    const auto h = static_cast<uint16_t>(rounded >> 16);
    t.bytes.push_back(static_cast<uint8_t>(h & 0xff));
    t.bytes.push_back(static_cast<uint8_t>(h >> 8));
  }
  return t;
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string safetensors_bytes(const std::map<std::string, RawTensor>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const auto& [name, t] : tensors) {
    header[name] = {{"dtype", t.dtype},
                    {"shape", t.shape},
                    {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
    data.append(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
  }
  header["__metadata__"] = {{"format", "pt"}};
  const std::string h = header.dump();
  std::string out(8, '\0');
  uint64_t len = h.size();
  for (int i = 0; i < 8; ++i)
    out[static_cast<size_t>(i)] = static_cast<char>((len >> (8 * i)) & 0xff);
  return out + h + data;
}

nlohmann::json tiny_config(const TinyModelSpec& s) {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"hidden_size", s.dim},
          {"intermediate_size", s.hidden},
          {"num_hidden_layers", s.layers},
          {"num_attention_heads", s.heads},
          {"num_key_value_heads", s.kv_heads},
          {"vocab_size", s.vocab},
          {"max_position_embeddings", s.max_seq},
          {"rms_norm_eps", 1e-5},
          {"rope_theta", 10000.0},
          {"tie_word_embeddings", s.tied},
          {"attention_bias", s.attention_bias},
          {"mlp_bias", s.mlp_bias},
          {"hidden_act", "silu"},
          {"bos_token_id", 1},
          {"eos_token_id", 2}};
}

std::map<std::string, RawTensor> tiny_tensors(const TinyModelSpec& s) {
  std::mt19937 rng(s.seed);
  std::normal_distribution<float> normal(0.0f, 0.3f);
  const int64_t hd = s.dim / s.heads, q = s.heads * hd, kv = s.kv_heads * hd;
  std::map<std::string, RawTensor> t;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float offset = 0.0f) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = offset + normal(rng);
    t[name] = s.dtype == "BF16" ? bf16_tensor(shape, v) : f32_tensor(shape, v);
  };
  add("model.embed_tokens.weight", {s.vocab, s.dim});
  add("model.norm.weight", {s.dim}, 1.0f);
  if (!s.tied) add("lm_head.weight", {s.vocab, s.dim});
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {s.dim}, 1.0f);
    add(p + "post_attention_layernorm.weight", {s.dim}, 1.0f);
    add(p + "self_attn.q_proj.weight", {q, s.dim});
    add(p + "self_attn.k_proj.weight", {kv, s.dim});
    add(p + "self_attn.v_proj.weight", {kv, s.dim});
    add(p + "self_attn.o_proj.weight", {s.dim, q});
    add(p + "mlp.gate_proj.weight", {s.hidden, s.dim});
    add(p + "mlp.up_proj.weight", {s.hidden, s.dim});
    add(p + "mlp.down_proj.weight", {s.dim, s.hidden});
    if (s.attention_bias) {
      add(p + "self_attn.q_proj.bias", {q});
      add(p + "self_attn.k_proj.bias", {kv});
      add(p + "self_attn.v_proj.bias", {kv});
      add(p + "self_attn.o_proj.bias", {s.dim});
    }
    if (s.mlp_bias) {
      add(p + "mlp.gate_proj.bias", {s.hidden});
      add(p + "mlp.up_proj.bias", {s.hidden});
      add(p + "mlp.down_proj.bias", {s.dim});
    }
  }
  return t;
}

void write_tiny_checkpoint(const fs::path& dir, const TinyModelSpec& spec) {
  fs::create_directories(dir);
  write_file(dir / "config.json", tiny_config(spec).dump(2));
  write_file(dir / "model.safetensors", safetensors_bytes(tiny_tensors(spec)));
  fs::copy_file(shared_dir() / "models/stories260K/tok512.bin", dir / "tokenizer.bin",
                fs::copy_options::overwrite_existing);
}

void write_bigram_checkpoint(const fs::path& dir, const std::vector<int>& token_class,
                             const std::vector<std::vector<float>>& class_logits) {
  TinyModelSpec spec;
  spec.vocab = static_cast<int>(token_class.size());
  spec.tied = false;
  const auto dim = static_cast<size_t>(spec.dim), vocab = token_class.size();
  auto tensors = tiny_tensors(spec);
  auto zeros = [](const RawTensor& t) {
    size_t n = 1;
    for (auto d : t.shape) n *= static_cast<size_t>(d);
    return f32_tensor(t.shape, std::vector<float>(n, 0.0f));
  };
  for (int l = 0; l < spec.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    for (const char* name : {"self_attn.o_proj.weight", "mlp.down_proj.weight"})
      tensors[p + name] = zeros(tensors[p + name]);
  }
  // Embedding of t: e_{class}; the final RMSNorm scales it by 1 / sqrt(1/dim + eps), which the
  // head undoes, so logits[v] = class_logits[class][v].
  std::vector<float> embed(vocab * dim, 0.0f), head(vocab * dim, 0.0f);
  for (size_t t = 0; t < vocab; ++t) embed[t * dim + static_cast<size_t>(token_class[t])] = 1.0f;
  const double undo = std::sqrt(1.0 / static_cast<double>(dim) + 1e-5);
  for (size_t c = 0; c < class_logits.size(); ++c)
    for (size_t v = 0; v < vocab; ++v)
      head[v * dim + c] = static_cast<float>(class_logits[c][v] * undo);
  const auto d = static_cast<int64_t>(dim), n = static_cast<int64_t>(vocab);
  tensors["model.embed_tokens.weight"] = f32_tensor({n, d}, embed);
  tensors["lm_head.weight"] = f32_tensor({n, d}, head);
  tensors["model.norm.weight"] = f32_tensor({d}, std::vector<float>(dim, 1.0f));
  fs::create_directories(dir);
  write_file(dir / "config.json", tiny_config(spec).dump(2));
  write_file(dir / "model.safetensors", safetensors_bytes(tensors));
  fs::copy_file(shared_dir() / "models/stories260K/tok512.bin", dir / "tokenizer.bin",
                fs::copy_options::overwrite_existing);
}

ByteTokenizer::ByteTokenizer() {
  bos_id = 1;
  eos_id = 2;
  add_bos = true;
}

std::vector<int32_t> ByteTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  for (char c : text) ids.push_back(id(c));
  return ids;
}

std::string ByteTokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  for (int32_t i : ids)
    if (i >= 3) out += static_cast<char>(i - 3);
  return out;
}

std::string ByteTokenizer::piece(int32_t id) const {
  if (id < 0 || id >= vocab_size()) throw Error("token id out of range");
  if (id < 3) return id == 0 ? "<unk>" : id == 1 ? "<s>" : "</s>";
  return std::string(1, static_cast<char>(id - 3));
}

CommandResult run_lowbit(const std::string& args) {
  TempDir tmp;
  const std::string cmd = std::string(LOWBIT_BINARY) + " " + args + " >" + (tmp / "out").string() +
                          " 2>" + (tmp / "err").string() + " </dev/null";
  const int status = std::system(cmd.c_str());
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return {code, read_file(tmp / "out"), read_file(tmp / "err")};
}

namespace {
// Holds an exclusive flock on a file for its lifetime.
class FileLock {
 public:
  explicit FileLock(const fs::path& path) : fd_(::open(path.c_str(), O_CREAT | O_RDWR, 0644)) {
    if (fd_ < 0) throw Error("cannot open lock file " + path.string());
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        ::close(fd_);
        throw Error("cannot lock " + path.string());
      }
    }
  }
  ~FileLock() { ::close(fd_); }  // closing releases the lock
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};
}  // namespace

fs::path npm_folder(const fs::path& source, const std::string& name,
                    const std::vector<std::string>& files, const std::string& marker,
                    const std::string& npm_flags) {
  const fs::path root = fs::path(LOWBIT_BINARY).parent_path() / "npm";
  const fs::path dir = root / name;
  fs::create_directories(dir);
  FileLock lock(root / (name + ".lock"));
  for (const auto& f : files)
    fs::copy_file(source / f, dir / f, fs::copy_options::overwrite_existing);
  if (fs::exists(dir / marker)) return dir;
  std::string cmd = "cd '" + dir.string() + "' && npm ci ";
  cmd.append(npm_flags).append(" --silent --no-audit --no-fund > npm-ci.log 2>&1");
  if (std::system(cmd.c_str()) != 0 || !fs::exists(dir / marker)) {
    std::string log = fs::exists(dir / "npm-ci.log") ? read_file(dir / "npm-ci.log") : "";
    if (log.size() > 2000) log = log.substr(log.size() - 2000);
    throw Error("npm ci failed in " + dir.string() + ":\n" + log);
  }
  return dir;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace lowbit::testing
