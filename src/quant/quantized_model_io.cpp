#include "quant/quantized_model_io.h"

#include <fmt/format.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <random>

#include "core/error.h"
#include "io/hf_checkpoint.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "quant/fake_quant_linear.h"

namespace lowbit {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* kLinearNames[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                              "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                              "mlp.down_proj"};

std::unique_ptr<Linear>* linear_slot(LayerWeights& L, int i) {
  std::unique_ptr<Linear>* slots[] = {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down};
  return slots[i];
}

json spec_json(const QuantSpec& s) {
  return {{"bits", s.bits},
          {"symmetric", s.symmetric},
          {"group_size", s.group_size},
          {"clip", s.clip},
          {"mse_clip", s.mse_clip}};
}

QuantSpec spec_from_json(const json& j, const std::string& where) {
  try {
    QuantSpec s;
    s.bits = j.at("bits").get<int>();
    s.symmetric = j.at("symmetric").get<bool>();
    s.group_size = j.at("group_size").get<int>();
    s.clip = j.value("clip", 1.0f);
    s.mse_clip = j.value("mse_clip", false);
    s.validate(where);
    return s;
  } catch (const json::exception& e) {
    fail("{}: invalid quantization spec {}: {}", where, j.dump(), e.what());
  }
}

void write_transform(SafetensorsWriter& w, const std::string& key, const ActivationTransform& t,
                     json& list) {
  json stages = json::array();
  const auto d = static_cast<int64_t>(t.dim());
  if (!t.smooth().empty()) w.add_f32(key + ".smooth", {d}, t.smooth());
  for (size_t i = 0; i < t.stages().size(); ++i) {
    const auto& st = t.stages()[i];
    const std::string name = fmt::format("{}.stage{}", key, i);
    switch (st.kind) {
      case ActivationTransform::Stage::Kind::kBlockRotation: {
        const auto b = static_cast<int64_t>(st.block);
        w.add_f32(name, {d / b, b, b}, st.matrix);
        stages.push_back("rotation");
        break;
      }
      case ActivationTransform::Stage::Kind::kPermutation:
        w.add_i32(name, {d}, st.perm);
        stages.push_back("permutation");
        break;
      case ActivationTransform::Stage::Kind::kHadamard:
        stages.push_back("hadamard");
        break;
    }
  }
  list[key] = {{"dim", t.dim()}, {"smooth", !t.smooth().empty()}, {"stages", stages}};
}

std::shared_ptr<ActivationTransform> read_transform(const SafetensorsFile& f,
                                                    const std::string& key, const json& desc) {
  const std::string where = f.path().string() + ": transform " + key;
  auto t = std::make_shared<ActivationTransform>(desc.at("dim").get<size_t>());
  if (desc.at("smooth").get<bool>()) t->set_smooth(f.to_f32(key + ".smooth"));
  size_t i = 0;
  for (const auto& kind : desc.at("stages")) {
    const std::string name = fmt::format("{}.stage{}", key, i++);
    if (kind == "rotation") {
      const auto& info = f.tensor(name);
      if (info.shape.size() != 3) fail("{}: {} must be [blocks, b, b]", where, name);
      t->add_block_rotation(static_cast<size_t>(info.shape[1]), f.to_f32(name));
    } else if (kind == "permutation") {
      const auto& info = f.tensor(name);
      if (info.dtype != DType::I32) fail("{}: {} must be I32", where, name);
      std::vector<int32_t> perm(static_cast<size_t>(info.numel()));
      std::memcpy(perm.data(), info.data.data(), info.data.size());
      t->add_permutation(std::move(perm));
    } else if (kind == "hadamard") {
      t->add_hadamard();
    } else {
      fail("{}: unknown stage \"{}\"", where, kind.dump());
    }
  }
  return t;
}

void copy_tokenizer_files(const fs::path& from, const fs::path& to) {
  for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer.bin",
                           "tokenizer_config.json", "generation_config.json"})
    if (fs::exists(from / name)) fs::copy_file(from / name, to / name);
}

}  // namespace

void save_quantized_model(const LlamaModel& model, const fs::path& source_dir,
                          const fs::path& out_dir, const json& info) {
  if (!fs::is_directory(source_dir) || !fs::exists(source_dir / "config.json"))
    fail("{}: quantized models are saved from Hugging Face checkpoint folders",
         source_dir.string());
  const auto& w = model.weights();
  const auto& c = w.config;
  SafetensorsWriter st;
  json meta = info;
  meta["format"] = "lowbit-quantized";
  meta["version"] = kQuantFormatVersion;
  meta["kv"] = spec_json(model.kv_quant());
  json transforms = json::object(), linears = json::object();
  std::map<const ActivationTransform*, std::string> written;

  const int64_t d = c.dim, v = c.vocab_size;
  st.add_f32("model.embed_tokens.weight", {v, d}, *w.embedding);
  st.add_f32("model.norm.weight", {d}, w.final_norm);
  if (!c.tied_embeddings) {
    const auto* head = dynamic_cast<const DenseLinear*>(w.lm_head.get());
    if (head == nullptr) fail("saving: the output head must be full precision");
    st.add_f32("lm_head.weight", {v, d}, head->weight());
  }
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const auto& L = w.layers[l];
    const std::string p = fmt::format("model.layers.{}.", l);
    st.add_f32(p + "input_layernorm.weight", {d}, L.attn_norm);
    st.add_f32(p + "post_attention_layernorm.weight", {d}, L.ffn_norm);
    for (int i = 0; i < 7; ++i) {
      const std::string name = p + kLinearNames[i];
      const Linear* lin = linear_slot(const_cast<LayerWeights&>(L), i)->get();
      const auto* fq = dynamic_cast<const FakeQuantLinear*>(lin);
      if (fq == nullptr) fail("saving: {} is not quantized", name);
      const auto out = static_cast<int64_t>(lin->out_features()),
                 in = static_cast<int64_t>(lin->in_features());
      json entry = {{"act", spec_json(fq->act_spec())}};
      if (const QuantizedMatrix* q = fq->quantized_weight()) {
        const auto groups = static_cast<int64_t>(q->groups_per_row());
        std::vector<float> scales, zeros;
        for (const auto& qp : q->params) {
          scales.push_back(qp.scale);
          zeros.push_back(qp.zero);
        }
        st.add_u8(name + ".qweight", {out, in}, q->codes);
        st.add_f32(name + ".scales", {out, groups}, scales);
        st.add_f32(name + ".zeros", {out, groups}, zeros);
        entry["weight"] = spec_json(q->spec);
      } else {
        st.add_f32(name + ".weight", {out, in}, fq->weight());
        entry["weight"] = spec_json(QuantSpec{});
      }
      if (!fq->bias().empty()) st.add_f32(name + ".bias", {out}, fq->bias());
      if (const auto& t = fq->transform()) {
        auto it = written.find(t.get());
        if (it == written.end()) {
          const std::string key = fmt::format("transform.{}", written.size());
          write_transform(st, key, *t, transforms);
          it = written.emplace(t.get(), key).first;
        }
        entry["transform"] = it->second;
      }
      linears[name] = entry;
    }
  }
  meta["linears"] = linears;
  meta["transforms"] = transforms;

  // Everything goes to a temporary sibling folder that is renamed into place when complete.
  const fs::path parent = fs::absolute(out_dir).parent_path();
  fs::create_directories(parent);
  const fs::path tmp = parent / fmt::format(".{}.tmp-{}-{}", out_dir.filename().string(),
                                            ::getpid(), std::random_device{}());
  try {
    fs::create_directory(tmp);
    st.write(tmp / "model.safetensors");
    json cfg;
    {
      std::ifstream in(source_dir / "config.json");
      cfg = json::parse(in);
    }
    cfg["tie_word_embeddings"] = c.tied_embeddings;
    std::ofstream(tmp / "config.json") << cfg.dump(2) << "\n";
    std::ofstream(tmp / kQuantMetadataFile) << meta.dump(2) << "\n";
    copy_tokenizer_files(source_dir, tmp);
    if (fs::exists(out_dir)) {
      if (!is_quantized_model_dir(out_dir))
        fail("{}: exists and is not a lowbit quantized model; not overwriting", out_dir.string());
      fs::remove_all(out_dir);
    }
    fs::rename(tmp, out_dir);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
}

bool is_quantized_model_dir(const fs::path& dir) {
  return fs::is_directory(dir) && fs::exists(dir / kQuantMetadataFile);
}

LlamaWeights load_quantized_weights(const fs::path& dir, QuantSpec& kv_spec, json& info) {
  const fs::path meta_path = dir / kQuantMetadataFile;
  {
    std::ifstream in(meta_path);
    try {
      info = json::parse(in);
    } catch (const json::exception& e) {
      fail("{}: invalid JSON: {}", meta_path.string(), e.what());
    }
  }
  const std::string where = meta_path.string();
  if (info.value("format", "") != "lowbit-quantized")
    fail("{}: format is not lowbit-quantized", where);
  if (info.value("version", 0) != kQuantFormatVersion)
    fail("{}: version {} is not supported (expected {})", where, info.value("version", 0),
         kQuantFormatVersion);
  ModelConfig c = read_hf_config(dir / "config.json");
  SafetensorsFile f(dir / "model.safetensors");
  try {
    kv_spec = spec_from_json(info.at("kv"), where + ": kv");
    LlamaWeights w;
    w.config = c;
    const int64_t d = c.dim, v = c.vocab_size;
    auto checked = [&](const std::string& name, std::vector<int64_t> shape) {
      if (f.tensor(name).shape != shape)
        fail("{}: tensor \"{}\" has the wrong shape", f.path().string(), name);
      return f.to_f32(name);
    };
    auto emb =
        std::make_shared<const std::vector<float>>(checked("model.embed_tokens.weight", {v, d}));
    w.embedding = emb;
    w.final_norm = checked("model.norm.weight", {d});
    w.lm_head =
        c.tied_embeddings
            ? std::make_unique<DenseLinear>(c.dim, c.vocab_size, emb)
            : std::make_unique<DenseLinear>(
                  c.dim, c.vocab_size,
                  std::make_shared<const std::vector<float>>(checked("lm_head.weight", {v, d})));
    std::map<std::string, std::shared_ptr<ActivationTransform>> transforms;
    const auto& tdesc = info.at("transforms");
    for (const auto& [key, desc] : tdesc.items()) transforms[key] = read_transform(f, key, desc);
    const auto& linears = info.at("linears");
    for (int l = 0; l < c.n_layers; ++l) {
      LayerWeights L;
      const std::string p = fmt::format("model.layers.{}.", l);
      L.attn_norm = checked(p + "input_layernorm.weight", {d});
      L.ffn_norm = checked(p + "post_attention_layernorm.weight", {d});
      for (int i = 0; i < 7; ++i) {
        const std::string name = p + kLinearNames[i];
        const json& e = linears.at(name);
        const QuantSpec act = spec_from_json(e.at("act"), where + ": " + name);
        const QuantSpec wspec = spec_from_json(e.at("weight"), where + ": " + name);
        std::shared_ptr<const ActivationTransform> t;
        if (e.contains("transform")) {
          auto it = transforms.find(e["transform"].get<std::string>());
          if (it == transforms.end()) fail("{}: {} names an unknown transform", where, name);
          t = it->second;
        }
        std::vector<float> bias =
            f.contains(name + ".bias") ? f.to_f32(name + ".bias") : std::vector<float>{};
        if (wspec.enabled()) {
          QuantizedMatrix q;
          const auto& codes = f.tensor(name + ".qweight");
          if (codes.dtype != DType::U8 || codes.shape.size() != 2)
            fail("{}: {}.qweight must be U8 [out, in]", f.path().string(), name);
          q.rows = static_cast<size_t>(codes.shape[0]);
          q.cols = static_cast<size_t>(codes.shape[1]);
          q.spec = wspec;
          wspec.validate(where + ": " + name, q.cols);
          q.codes.resize(q.rows * q.cols);
          std::memcpy(q.codes.data(), codes.data.data(), q.codes.size());
          const auto groups = static_cast<int64_t>(q.groups_per_row());
          const auto scales = checked(name + ".scales", {codes.shape[0], groups});
          const auto zeros = checked(name + ".zeros", {codes.shape[0], groups});
          for (size_t k = 0; k < scales.size(); ++k) q.params.push_back({scales[k], zeros[k]});
          for (uint8_t code : q.codes)
            if (code > wspec.qmax() - wspec.qmin())
              fail("{}: {} has a code out of range", where, name);
          *linear_slot(L, i) =
              std::make_unique<FakeQuantLinear>(std::move(q), std::move(bias), act, t);
        } else {
          const auto& info_w = f.tensor(name + ".weight");
          if (info_w.shape.size() != 2) fail("{}: {}.weight must be 2-D", f.path().string(), name);
          *linear_slot(L, i) = std::make_unique<FakeQuantLinear>(
              static_cast<int>(info_w.shape[1]), static_cast<int>(info_w.shape[0]),
              f.to_f32(name + ".weight"), std::move(bias), act, t);
        }
      }
      w.layers.push_back(std::move(L));
    }
    return w;
  } catch (const json::exception& e) {
    fail("{}: missing or malformed entry: {}", where, e.what());
  }
}

}  // namespace lowbit
