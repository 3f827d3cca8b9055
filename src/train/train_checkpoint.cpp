#include "train/train_checkpoint.h"

#include <nlohmann/json.hpp>

#include <cstring>

#include "core/atomic_file.h"
#include "core/error.h"
#include "io/safetensors.h"

namespace lowbit::train {
namespace {

struct Entry {
  std::string name;
  std::vector<float>* values;
};

std::vector<Entry> entries(TrainWeights<float>& w, AdamW& opt) {
  std::vector<Entry> out;
  auto refs = tensors_of(w);
  for (size_t i = 0; i < refs.size(); ++i) {
    out.push_back({"w." + refs[i].name, refs[i].values});
    if (opt.trained()[i]) {
      out.push_back({"m." + refs[i].name, &opt.first_moments()[i]});
      out.push_back({"v." + refs[i].name, &opt.second_moments()[i]});
    }
  }
  return out;
}

}  // namespace

std::string training_fingerprint(TrainWeights<float>& w, unsigned frozen) {
  const auto& c = w.config;
  nlohmann::json f = {{"dim", c.dim},
                      {"hidden_dim", c.hidden_dim},
                      {"n_layers", c.n_layers},
                      {"n_heads", c.n_heads},
                      {"n_kv_heads", c.n_kv_heads},
                      {"vocab_size", c.vocab_size},
                      {"frozen", frozen},
                      {"kv", w.kv.describe()},
                      {"qk_hadamard", w.qk_hadamard},
                      {"query", w.query.describe()}};
  nlohmann::json tensors = nlohmann::json::object();
  for (const auto& t : tensors_of(w)) tensors[t.name] = t.values->size();
  f["tensors"] = tensors;
  const auto grid = [](const LinearParam<float>& p) {
    return p.grid.spec.describe() + (p.grid.dynamic ? " dynamic" : " fixed") + " / act " +
           p.act.describe() + (p.transform ? " / " + p.transform->describe() : std::string());
  };
  nlohmann::json formats = nlohmann::json::array();
  for (const auto& l : w.layers)
    for (const auto* p : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down})
      formats.push_back(grid(*p));
  formats.push_back(grid(w.head));
  formats.push_back(w.embedding_grid.spec.describe());
  f["formats"] = formats;
  return f.dump();
}

void save_train_checkpoint(const std::filesystem::path& path, TrainWeights<float>& w, AdamW& opt,
                           size_t step, const std::string& fingerprint) {
  const auto list = entries(w, opt);
  nlohmann::json header = nlohmann::json::object();
  size_t offset = 0;
  for (const auto& e : list) {
    const size_t bytes = e.values->size() * sizeof(float);
    header[e.name] = {{"dtype", "F32"},
                      {"shape", {e.values->size()}},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  header["__metadata__"] = {{"step", std::to_string(step)}, {"fingerprint", fingerprint}};
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  write_file_atomically(path, [&](std::ostream& out) {
    char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
    out.write(len, 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    // safetensors orders data by the header's offsets, which follow `list`.
    for (const auto& e : list)
      out.write(reinterpret_cast<const char*>(e.values->data()),
                static_cast<std::streamsize>(e.values->size() * sizeof(float)));
  });
}

size_t load_train_checkpoint(const std::filesystem::path& path, TrainWeights<float>& w, AdamW& opt,
                             const std::string& fingerprint) {
  const SafetensorsFile file(path);
  const auto& meta = file.metadata();
  const auto fp = meta.find("fingerprint");
  const auto st = meta.find("step");
  if (fp == meta.end() || st == meta.end())
    fail("{}: not a lowbit training checkpoint (no step/fingerprint metadata)", path.string());
  if (fp->second != fingerprint) {
    // Name the first field that differs.
    nlohmann::json want = nlohmann::json::parse(fingerprint), got;
    try {
      got = nlohmann::json::parse(fp->second);
    } catch (const nlohmann::json::exception&) {
      fail("{}: unreadable fingerprint metadata", path.string());
    }
    for (const auto& [key, value] : want.items())
      if (!got.contains(key) || got[key] != value)
        fail("{}: checkpoint of another model or format: \"{}\" is {} here, {} in the checkpoint",
             path.string(), key, value.dump().substr(0, 120),
             got.contains(key) ? got[key].dump().substr(0, 120) : "missing");
    fail("{}: checkpoint of another model or format", path.string());
  }
  size_t step = 0;
  try {
    step = std::stoul(st->second);
  } catch (const std::exception&) {
    fail("{}: step \"{}\" is not a number", path.string(), st->second);
  }
  for (const auto& e : entries(w, opt)) {
    if (!file.contains(e.name)) fail("{}: tensor \"{}\" missing", path.string(), e.name);
    std::vector<float> v = file.to_f32(e.name);
    if (v.size() != e.values->size())
      fail("{}: tensor \"{}\" has {} values, expected {}", path.string(), e.name, v.size(),
           e.values->size());
    std::memcpy(e.values->data(), v.data(), v.size() * sizeof(float));
  }
  opt.set_steps_taken(step);
  return step;
}

}  // namespace lowbit::train
