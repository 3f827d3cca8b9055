#include "io/quantized_model_io.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <random>

#include "core/error.h"
#include "core/json.h"
#include "core/limits.h"
#include "core/mapped_file.h"
#include "core/signal_cleanup.h"
#include "io/hf_checkpoint.h"
#include "io/lowbit_file.h"
#include "layers/fake_quant_linear.h"
#include "layers/packed_linear.h"

namespace lowbit {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kFormatName = "lowbit-quantized";
const char* kLinearNames[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                              "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                              "mlp.down_proj"};
const char* kTokenizerFiles[] = {"tokenizer.json", "tokenizer.model", "tokenizer.bin",
                                 "tokenizer_config.json", "generation_config.json"};

json spec_json(const QuantSpec& s) {
  json j = {{"bits", s.bits},
            {"symmetric", s.symmetric},
            {"group_size", s.group_size},
            {"clip", s.clip},
            {"mse_clip", s.mse_clip}};
  if (s.uses_codebook()) j["codebook"] = codebook_name(s.codebook);  // absent: the integer grid
  return j;
}

QuantSpec spec_from_json(const json& j, const std::string& where) {
  const JsonFields f(j, where);
  QuantSpec s;
  s.bits = static_cast<int>(f.integer("bits", 1, 32));
  s.symmetric = f.boolean("symmetric");
  s.group_size = static_cast<int>(f.integer("group_size", 0, limits::kMaxModelWidth));
  s.clip = static_cast<float>(f.real_or("clip", 1.0));
  s.mse_clip = f.boolean_or("mse_clip", false);
  s.codebook = parse_codebook(f.string_or("codebook", "none"), where + ": codebook");
  s.validate(where);
  return s;
}

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) fail("{}: cannot read", p.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_transform(LowbitFileWriter& w, const std::string& key, const ActivationTransform& t,
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

std::vector<float> to_vector(std::span<const float> s) {
  return {s.begin(), s.end()};
}

std::shared_ptr<ActivationTransform> read_transform(const LowbitFile& f, const std::string& key,
                                                    const json& desc) {
  const std::string where = f.path().string() + ": transform " + key;
  const JsonFields fields(desc, where);
  const auto dim = static_cast<size_t>(fields.integer("dim", 1, limits::kMaxModelWidth));
  auto t = std::make_shared<ActivationTransform>(dim);
  if (fields.boolean("smooth")) {
    const auto& s = f.tensor(key + ".smooth");
    if (s.elements() != dim)
      fail("{}: smoothing has {} values, expected {}", where, s.elements(), dim);
    t->set_smooth(to_vector(s.f32()));
  }
  size_t i = 0;
  const Json& stages = fields.at("stages");
  if (!stages.is_array()) fail("{}: stages is not a list", where);
  for (const auto& kind : stages) {
    const std::string name = fmt::format("{}.stage{}", key, i++);
    if (kind == "rotation") {
      const auto& r = f.tensor(name);
      if (r.shape.size() != 3 || r.shape[1] != r.shape[2] ||
          static_cast<size_t>(r.shape[0] * r.shape[1]) != dim)
        fail("{}: {} must be [dim / b, b, b]", where, name);
      t->add_block_rotation(static_cast<size_t>(r.shape[1]), to_vector(r.f32()));
    } else if (kind == "permutation") {
      const auto p = f.tensor(name).i32();
      if (p.size() != dim) fail("{}: {} must have {} entries", where, name, dim);
      t->add_permutation({p.begin(), p.end()});
    } else if (kind == "hadamard") {
      t->add_hadamard();
    } else {
      fail("{}: unknown stage {}", where, kind.dump());
    }
  }
  return t;
}

std::vector<int32_t> as_i32(std::span<const uint32_t> v) {
  return {v.begin(), v.end()};
}

// Side data (layers/weight_extras.h): fp16 values, int32 indices (the sparse part's columns in
// uint16 when they fit: WeightExtras::bytes), listed in the entry.
void write_extras(LowbitFileWriter& w, const std::string& name, const WeightExtras& ex,
                  json& entry) {
  json parts = json::array();
  if (!ex.outliers.empty()) {
    const auto nc = static_cast<int64_t>(ex.outliers.cols.size());
    w.add_i32(name + ".outliers.cols", {nc}, as_i32(ex.outliers.cols));
    w.add_f16(name + ".outliers.weight", {static_cast<int64_t>(ex.outliers.weight.size()) / nc, nc},
              ex.outliers.weight);
    entry["outlier_threshold"] = ex.outliers.threshold;
    parts.push_back("outliers");
  }
  if (!ex.sparse.empty()) {
    w.add_i32(name + ".sparse.row_ptr", {static_cast<int64_t>(ex.sparse.row_ptr.size())},
              as_i32(ex.sparse.row_ptr));
    const auto nnz = static_cast<int64_t>(ex.sparse.nnz());
    if (ex.sparse.narrow_columns())
      w.add_u16(name + ".sparse.col", {nnz},
                std::vector<uint16_t>(ex.sparse.col.begin(), ex.sparse.col.end()));
    else
      w.add_i32(name + ".sparse.col", {nnz}, as_i32(ex.sparse.col));
    w.add_f16(name + ".sparse.value", {static_cast<int64_t>(ex.sparse.nnz())}, ex.sparse.value);
    parts.push_back("sparse");
  }
  if (!ex.low_rank.empty()) {
    const auto r = static_cast<int64_t>(ex.low_rank.rank);
    w.add_f16(name + ".low_rank.u", {static_cast<int64_t>(ex.low_rank.u.size()) / r, r},
              ex.low_rank.u);
    w.add_f16(name + ".low_rank.v", {r, static_cast<int64_t>(ex.low_rank.v.size()) / r},
              ex.low_rank.v);
    parts.push_back("low_rank");
  }
  entry["extras"] = parts;
}

std::vector<uint32_t> as_u32(std::span<const int32_t> v, const std::string& where) {
  std::vector<uint32_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] < 0) fail("{}: index {} is negative ({})", where, i, v[i]);
    out[i] = static_cast<uint32_t>(v[i]);
  }
  return out;
}

std::vector<float> f16_tensor(const LowbitFile& f, const std::string& name,
                              std::vector<int64_t> shape, const std::string& where) {
  const auto& t = f.tensor(name);
  if (t.shape != shape) fail("{}: tensor \"{}\" has the wrong shape", where, name);
  return t.f16_as_f32();
}

std::shared_ptr<const WeightExtras> read_extras(const LowbitFile& f, const std::string& name,
                                                const json& list, size_t out, size_t in,
                                                const json& entry, const std::string& where) {
  if (!list.is_array()) fail("{}: {}.extras is not a list", where, name);
  auto ex = std::make_shared<WeightExtras>();
  for (const auto& part : list) {
    if (part == "outliers") {
      const auto cols = f.tensor(name + ".outliers.cols");
      ex->outliers.cols = as_u32(cols.i32(), where + ": " + name + ".outliers.cols");
      const auto nc = static_cast<int64_t>(ex->outliers.cols.size());
      ex->outliers.weight =
          f16_tensor(f, name + ".outliers.weight", {static_cast<int64_t>(out), nc}, where);
      const json& t = entry.contains("outlier_threshold") ? entry["outlier_threshold"] : json();
      if (!t.is_number()) fail("{}: {}.outlier_threshold is missing or not a number", where, name);
      ex->outliers.threshold = t.get<float>();
    } else if (part == "sparse") {
      ex->sparse.row_ptr =
          as_u32(f.tensor(name + ".sparse.row_ptr").i32(), where + ": " + name + ".sparse.row_ptr");
      const auto& col = f.tensor(name + ".sparse.col");
      if (col.dtype == LowbitDType::kU16)
        ex->sparse.col.assign(col.u16().begin(), col.u16().end());
      else
        ex->sparse.col = as_u32(col.i32(), where + ": " + name + ".sparse.col");
      ex->sparse.value = f16_tensor(f, name + ".sparse.value",
                                    {static_cast<int64_t>(ex->sparse.col.size())}, where);
    } else if (part == "low_rank") {
      const auto& u = f.tensor(name + ".low_rank.u");
      if (u.shape.size() != 2 || u.shape[1] <= 0)
        fail("{}: {}.low_rank.u must be [out, rank]", where, name);
      const int64_t r = u.shape[1];
      ex->low_rank.rank = static_cast<size_t>(r);
      ex->low_rank.u = f16_tensor(f, name + ".low_rank.u", {static_cast<int64_t>(out), r}, where);
      ex->low_rank.v = f16_tensor(f, name + ".low_rank.v", {r, static_cast<int64_t>(in)}, where);
    } else {
      fail("{}: {}: unknown side data {}", where, name, part.dump());
    }
  }
  ex->validate(out, in, where + ": " + name);
  return ex;
}

// Stores one projection (or the head): packed codes when quantized, else fp32.
// Transforms already written, by identity; each entry keeps its transform alive, so a released
// layer's address cannot be reused by a later transform and mistaken for it.
using WrittenTransforms =
    std::map<const ActivationTransform*,
             std::pair<std::shared_ptr<const ActivationTransform>, std::string>>;

json write_linear(LowbitFileWriter& w, const std::string& name, const Linear& lin,
                  WrittenTransforms& written, json& transforms) {
  const auto* fq = dynamic_cast<const FakeQuantLinear*>(&lin);
  if (fq == nullptr) fail("saving: {} is not a quantized layer", name);
  json entry = {{"act", spec_json(fq->act_spec())}};
  if (const QuantizedMatrix* q = fq->quantized_weight()) {
    const auto packed = pack_quantized(*q);
    w.add(name + ".packed", LowbitDType::kPacked, {static_cast<int64_t>(packed.bytes().size())},
          packed.bytes());
    entry["weight"] = spec_json(q->spec);
    if (const auto f = zero_fractions(*q); !f.empty()) {
      w.add_f32(name + ".zero_fraction",
                {static_cast<int64_t>(q->rows), static_cast<int64_t>(q->groups_per_row())}, f);
      entry["zero_fraction"] = true;
    }
    if (const auto& ex = fq->extras()) write_extras(w, name, *ex, entry);
  } else {
    w.add_f32(name + ".weight", {lin.out_features(), lin.in_features()}, fq->weight());
    entry["weight"] = spec_json(QuantSpec{});
  }
  if (!fq->bias().empty()) w.add_f32(name + ".bias", {lin.out_features()}, fq->bias());
  if (const auto& t = fq->transform()) {
    auto it = written.find(t.get());
    if (it == written.end()) {
      const std::string key = fmt::format("transform.{}", written.size());
      write_transform(w, key, *t, transforms);
      it = written.emplace(t.get(), std::make_pair(t, key)).first;
    }
    entry["transform"] = it->second.second;
  }
  return entry;
}

// A private folder holding config.json and the tokenizer files while they are parsed.
std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size())
    s.replace(at, from.size(), to);
  return s;
}

class ScratchDir {
 public:
  ScratchDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / fmt::format("lowbit-{}-{:x}", ::getpid(), rd());
    fs::create_directories(path_);
    guards_.push_back(std::make_unique<RemoveOnSignal>(path_, /*directory=*/true));
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  // Writes `bytes` to the file `name` in the folder (removed with it, also on a signal).
  void write(const std::string& name, std::string_view bytes) {
    const fs::path p = path_ / name;
    guards_.push_back(std::make_unique<RemoveOnSignal>(p));
    std::ofstream out(p, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) fail("{}: cannot write (temporary folder full?)", p.string());
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  std::vector<std::unique_ptr<RemoveOnSignal>> guards_;
};

json token_pruning_json(const TokenPruning& p) {
  return {{"ratio", p.ratio},
          {"start_layer", p.start_layer},
          {"thresholds", p.thresholds},
          {"calib_windows", p.calib_windows},
          {"calib_len", p.calib_len}};
}

}  // namespace

struct QuantizedModelWriter::State {
  explicit State(const fs::path& spill_dir) : w(spill_dir) {}
  LowbitFileWriter w;
  json transforms = json::object(), linears = json::object();
  WrittenTransforms written;
  json cfg, tokenizer_files = json::array();
};

QuantizedModelWriter::QuantizedModelWriter(const fs::path& source_dir, const fs::path& out_file)
    : source_dir_(source_dir), out_file_(out_file) {
  if (!fs::is_directory(source_dir) || !fs::exists(source_dir / "config.json"))
    fail("{}: quantized models are saved from Hugging Face checkpoint folders",
         source_dir.string());
  if (fs::is_directory(out_file)) fail("{}: is a folder; give a file name", out_file.string());
  if (fs::exists(out_file) && !is_quantized_model_file(out_file))
    fail("{}: exists and is not a lowbit model; not overwriting", out_file.string());
  const fs::path dir = fs::absolute(out_file).parent_path();
  if (!fs::is_directory(dir)) fail("{}: no such folder", dir.string());
  state_ = std::make_unique<State>(dir);
  {
    std::ifstream in(source_dir / "config.json");
    try {
      state_->cfg = json::parse(in);
    } catch (const json::exception& e) {
      fail("{}: invalid JSON: {}", (source_dir / "config.json").string(), e.what());
    }
  }
  for (const char* name : kTokenizerFiles) {
    if (!fs::exists(source_dir / name)) continue;
    const auto bytes = read_bytes(source_dir / name);
    state_->w.add_u8(std::string("tokenizer/") + name, {static_cast<int64_t>(bytes.size())}, bytes);
    state_->tokenizer_files.push_back(name);
  }
}

QuantizedModelWriter::~QuantizedModelWriter() = default;

void QuantizedModelWriter::add_layer(size_t l, const LayerWeights& L) {
  if (!state_) fail("{}: the model was already written", out_file_.string());
  const int64_t d = static_cast<int64_t>(L.attn_norm.size());
  const std::string p = fmt::format("model.layers.{}.", l);
  state_->w.add_f32(p + "input_layernorm.weight", {d}, L.attn_norm);
  state_->w.add_f32(p + "post_attention_layernorm.weight", {d}, L.ffn_norm);
  for (int i = 0; i < 7; ++i) {
    const std::string name = p + kLinearNames[i];
    const auto& slot = L.projection(static_cast<size_t>(i));
    if (!slot) fail("saving: {} is missing (the layer was released before it was written)", name);
    state_->linears[name] =
        write_linear(state_->w, name, *slot, state_->written, state_->transforms);
  }
  ++layers_written_;
}

void QuantizedModelWriter::finish(const LlamaModel& model, const json& info) {
  if (!state_) fail("{}: the model was already written", out_file_.string());
  const auto& wts = model.weights();
  const auto& c = wts.config;
  if (layers_written_ != wts.layers.size())
    fail("saving {}: {} of {} layers were written", out_file_.string(), layers_written_,
         wts.layers.size());
  State& s = *state_;
  LowbitFileWriter& w = s.w;
  s.cfg["tie_word_embeddings"] = c.tied_embeddings;
  const int64_t d = c.dim, v = c.vocab_size;
  if (wts.embedding) w.add_f32("model.embed_tokens.weight", {v, d}, wts.embedding->to_f32());
  w.add_f32("model.norm.weight", {d}, wts.final_norm);
  if (const auto* head = dynamic_cast<const DenseLinear*>(wts.lm_head.get())) {
    if (!c.tied_embeddings) w.add_f32("lm_head.weight", {v, d}, head->weight().to_f32());
  } else {
    s.linears["lm_head"] = write_linear(w, "lm_head", *wts.lm_head, s.written, s.transforms);
  }
  if (wts.quantized_embedding)
    s.linears["model.embed_tokens"] =
        write_linear(w, "model.embed_tokens", *wts.quantized_embedding, s.written, s.transforms);

  auto& meta = w.metadata();
  meta["format"] = kFormatName;
  meta["version"] = kQuantFormatVersion;
  meta["info"] = info;
  meta["config"] = s.cfg;
  meta["tokenizer_files"] = s.tokenizer_files;
  meta["embedding"] = wts.embedding ? "f32" : wts.quantized_embedding ? "linear" : "head";
  meta["kv"] = spec_json(model.kv_quant());
  // Written only when used, so files of models without it are unchanged.
  if (model.attention_quant() != LlamaModel::AttentionQuant{})
    meta["attention"] = {{"qk_hadamard", model.attention_quant().qk_hadamard},
                         {"query", spec_json(model.attention_quant().query)}};
  if (const TokenPruning& p = model.token_pruning(); p.enabled())
    meta["token_pruning"] = token_pruning_json(p);
  meta["linears"] = s.linears;
  meta["transforms"] = s.transforms;
  w.write(out_file_);
  state_.reset();
}

void save_quantized_model(const LlamaModel& model, const fs::path& source_dir,
                          const fs::path& out_file, const json& info) {
  QuantizedModelWriter writer(source_dir, out_file);
  for (size_t l = 0; l < model.weights().layers.size(); ++l)
    writer.add_layer(l, model.weights().layers[l]);
  writer.finish(model, info);
}

void write_token_pruning(const fs::path& in, const fs::path& out, const TokenPruning& pruning) {
  const LowbitFile file(in);
  if (file.metadata().value("format", "") != kFormatName)
    fail("{}: not a lowbit quantized model", in.string());
  if (pruning.enabled() && !pruning.calibrated())
    fail("{}: token pruning {} has no thresholds to store", out.string(), pruning.ratio);
  LowbitFileWriter w(fs::absolute(out).parent_path());
  w.metadata() = file.metadata();
  if (pruning.enabled())
    w.metadata()["token_pruning"] = token_pruning_json(pruning);
  else
    w.metadata().erase("token_pruning");
  for (const auto& [name, t] : file.tensors()) w.add(name, t.dtype, t.shape, t.data);
  w.write(out);
}

bool is_quantized_model_file(const fs::path& path) {
  return fs::is_regular_file(path) && is_lowbit_file(path);
}

QuantizedModel load_quantized_model(const fs::path& path, QuantExecution exec,
                                    bool verify_checksums) {
  auto file = std::make_shared<const LowbitFile>(path, verify_checksums);
  const std::string where = path.string();
  const json& meta = file->metadata();
  QuantizedModel out;
  out.file_bytes = fs::file_size(path);
  try {
    const JsonFields top(meta, where + ": metadata");
    if (top.string_or("format", "") != kFormatName)
      fail("{}: format is not {}", where, kFormatName);
    if (const auto version = top.integer("version", 0, INT32_MAX); version != kQuantFormatVersion)
      fail("{}: version {} is not supported (expected {})", where, version, kQuantFormatVersion);
    out.info = meta.at("info");
    out.kv = spec_from_json(meta.at("kv"), where + ": kv");
    if (meta.contains("attention")) {
      const json& a = meta.at("attention");
      if (!a.is_object() || !a.contains("qk_hadamard") || !a.at("qk_hadamard").is_boolean())
        fail("{}: attention: expected {{\"qk_hadamard\": bool, \"query\": spec}}", where);
      out.attention.qk_hadamard = a.at("qk_hadamard").get<bool>();
      out.attention.query = spec_from_json(a.at("query"), where + ": attention.query");
    }

    if (top.has("token_pruning")) {
      const JsonFields tp = top.object("token_pruning");
      out.pruning.ratio = tp.real("ratio");
      out.pruning.start_layer = static_cast<int>(tp.integer("start_layer", 0, INT32_MAX));
      out.pruning.calib_windows = static_cast<int>(tp.integer_or("calib_windows", 0, 0, INT32_MAX));
      out.pruning.calib_len = static_cast<int>(tp.integer_or("calib_len", 0, 0, INT32_MAX));
      const json& t = tp.at("thresholds");
      if (!t.is_array()) fail("{}: token_pruning.thresholds is not an array", where);
      for (const auto& x : t) {
        if (!x.is_number()) fail("{}: token_pruning.thresholds holds {}", where, x.dump());
        out.pruning.thresholds.push_back(x.get<float>());
      }
      if (!out.pruning.enabled() || !out.pruning.calibrated())
        fail("{}: token_pruning stores ratio {} with {} thresholds", where, out.pruning.ratio,
             out.pruning.thresholds.size());
    }

    // config.json and the tokenizer go through the same parsers as a checkpoint folder.
    ScratchDir scratch;
    scratch.write("config.json", meta.at("config").dump());
    for (const auto& name : meta.at("tokenizer_files")) {
      if (!name.is_string()) fail("{}: tokenizer_files: {} is not a name", where, name.dump());
      const auto n = name.get<std::string>();
      // Only the names the writer stores (kTokenizerFiles): nothing else lands in the folder.
      const bool known = std::any_of(std::begin(kTokenizerFiles), std::end(kTokenizerFiles),
                                     [&](const char* k) { return n == k; });
      if (!known) fail("{}: tokenizer_files: unexpected file name \"{}\"", where, n);
      const auto bytes = file->tensor("tokenizer/" + n).u8();
      const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      scratch.write(n, text);
      if (n == "tokenizer_config.json") out.tokenizer_config = std::string(text);
    }
    // Their errors name the extracted file, which is gone once this returns: name the .lowbit
    // file and the embedded file instead.
    const auto embedded = [&](const auto& parse) {
      try {
        return parse();
      } catch (const Error& e) {
        std::string msg = e.what();
        const std::string tmp = scratch.path().string() + "/";
        for (size_t at; (at = msg.find(tmp)) != std::string::npos;)
          msg.replace(at, tmp.size(), where + ": embedded ");
        msg = replace_all(msg, scratch.path().string(), where + ": embedded files");
        throw Error(msg);
      }
    };
    out.tokenizer = embedded([&] { return load_tokenizer_for(scratch.path()); });
    LlamaWeights& w = out.weights;
    w.config = embedded([&] { return read_hf_config(scratch.path() / "config.json"); });
    const auto& c = w.config;

    auto f32 = [&](const std::string& name, std::vector<int64_t> shape) {
      const auto& t = file->tensor(name);
      if (t.shape != shape) fail("{}: tensor \"{}\" has the wrong shape", where, name);
      return to_vector(t.f32());
    };
    int simulated = 0;  // layers that run simulated although the kernels were asked for
    std::string simulated_spec;
    std::map<std::string, std::shared_ptr<ActivationTransform>> transforms;
    for (const auto& [key, desc] : meta.at("transforms").items())
      transforms[key] = read_transform(*file, key, desc);

    auto make_linear = [&](const std::string& name, int in, int outf) -> std::unique_ptr<Linear> {
      const json& e = meta.at("linears").at(name);
      const QuantSpec act = spec_from_json(e.at("act"), where + ": " + name);
      const QuantSpec wspec = spec_from_json(e.at("weight"), where + ": " + name);
      std::shared_ptr<const ActivationTransform> t;
      if (e.contains("transform")) {
        if (!e["transform"].is_string()) fail("{}: {}.transform is not a name", where, name);
        auto it = transforms.find(e["transform"].get<std::string>());
        if (it == transforms.end()) fail("{}: {} names an unknown transform", where, name);
        t = it->second;
        if (t->dim() != static_cast<size_t>(in))
          fail("{}: {} has {} inputs but its transform has {}", where, name, in, t->dim());
      }
      std::vector<float> bias =
          file->has(name + ".bias") ? f32(name + ".bias", {outf}) : std::vector<float>{};
      if (!wspec.enabled())
        return std::make_unique<FakeQuantLinear>(in, outf, f32(name + ".weight", {outf, in}),
                                                 std::move(bias), act, t);
      const auto view = kernels::PackedWeightsView::parse(file->tensor(name + ".packed").data);
      if (view.n() != static_cast<size_t>(outf) || view.k() != static_cast<size_t>(in))
        fail("{}: {} is packed as {}x{}, expected {}x{}", where, name, view.n(), view.k(), outf,
             in);
      wspec.validate(where + ": " + name, view.k());
      if (wspec.uses_codebook() != view.layout().codebook())
        fail("{}: {} is stored {} but its spec is {}", where, name,
             view.layout().codebook() ? "with a codebook" : "on the integer grid",
             wspec.describe());
      std::shared_ptr<const WeightExtras> extras;
      if (e.contains("extras"))
        extras = read_extras(*file, name, e["extras"], static_cast<size_t>(outf),
                             static_cast<size_t>(in), e, where);
      std::vector<float> fractions;
      if (e.contains("zero_fraction")) {
        const auto groups = static_cast<int64_t>(view.layout().groups());
        fractions = f32(name + ".zero_fraction", {outf, groups});
      }
      // Per-group activations have no integer kernel: those layers run on the simulated path,
      // announced once below (any other spec the kernels lack fails in PackedLinear).
      const bool per_group = act.enabled() && act.group_size != 0;
      if (exec == QuantExecution::kPacked && !per_group) {
        auto layer = std::make_unique<PackedLinear>(view, file, wspec, std::move(bias), act, t,
                                                    extras, std::move(fractions));
        // Products on a re-laid copy of the codes: the mapping's copy need not stay resident.
        release_mapped_pages(layer->relaid_codes());
        return layer;
      }
      if (exec == QuantExecution::kPacked) {
        ++simulated;
        simulated_spec = act.describe();
      }
      return std::make_unique<FakeQuantLinear>(unpack_quantized(view, wspec, fractions),
                                               std::move(bias), act, t, extras);
    };

    const int64_t d = c.dim, v = c.vocab_size;
    const std::string emb = meta.at("embedding").get<std::string>();
    if (emb == "f32") {
      w.embedding = make_f32_matrix(static_cast<size_t>(v), static_cast<size_t>(d),
                                    f32("model.embed_tokens.weight", {v, d}));
    } else if (emb == "linear") {
      w.quantized_embedding = make_linear("model.embed_tokens", c.dim, c.vocab_size);
    } else if (emb != "head" || !c.tied_embeddings) {
      fail("{}: embedding \"{}\" needs a tied model", where, emb);
    }
    w.final_norm = f32("model.norm.weight", {d});
    if (meta.at("linears").contains("lm_head"))
      w.lm_head = make_linear("lm_head", c.dim, c.vocab_size);
    else if (c.tied_embeddings)
      w.lm_head = std::make_unique<DenseLinear>(w.embedding);
    else
      w.lm_head = std::make_unique<DenseLinear>(c.dim, c.vocab_size, f32("lm_head.weight", {v, d}));
    if (!w.embedding && !w.quantized_embedding && dynamic_cast<const DenseLinear*>(w.lm_head.get()))
      fail("{}: no embeddings stored", where);

    const int dims[7][2] = {{c.dim, c.q_dim()},   {c.dim, c.kv_dim()},   {c.dim, c.kv_dim()},
                            {c.q_dim(), c.dim},   {c.dim, c.hidden_dim}, {c.dim, c.hidden_dim},
                            {c.hidden_dim, c.dim}};
    for (int l = 0; l < c.n_layers; ++l) {
      LayerWeights L;
      const std::string p = fmt::format("model.layers.{}.", l);
      L.attn_norm = f32(p + "input_layernorm.weight", {d});
      L.ffn_norm = f32(p + "post_attention_layernorm.weight", {d});
      for (int i = 0; i < 7; ++i)
        L.projection(static_cast<size_t>(i)) =
            make_linear(p + kLinearNames[i], dims[i][0], dims[i][1]);
      w.layers.push_back(std::move(L));
    }
    if (out.pruning.enabled()) out.pruning.validate(c.n_layers, where + ": token_pruning");
    if (simulated > 0)
      fmt::print(stderr,
                 "note: {}: {} layers quantize activations per group ({}), which the integer "
                 "kernels do not: they run on the simulated fp32 path\n",
                 where, simulated, simulated_spec);
  } catch (const json::exception& e) {
    fail("{}: missing or malformed metadata: {}", where, e.what());
  }
  return out;
}

}  // namespace lowbit
