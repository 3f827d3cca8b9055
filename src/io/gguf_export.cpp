#include "io/gguf_export.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/float16.h"
#include "io/gguf_writer.h"
#include "io/lowbit_file.h"
#include "io/quantized_model_io.h"
#include "kernels/packed_weights.h"

namespace lowbit {
namespace fs = std::filesystem;
using gguf::TensorType;
using nlohmann::json;

namespace {

// llama.cpp's llama_ftype values for general.file_type.
constexpr uint32_t kFileTypeF16 = 1, kFileTypeQ4_0 = 2, kFileTypeQ8_0 = 7;
constexpr size_t kGguf4BitGroup = 32;  // Q4_0 and Q8_0 blocks

struct ProjectionName {
  const char* lowbit;  // model.layers.L.<this>
  const char* gguf;    // blk.L.<this>.weight
};
constexpr ProjectionName kProjections[] = {
    {"self_attn.q_proj", "attn_q"}, {"self_attn.k_proj", "attn_k"},
    {"self_attn.v_proj", "attn_v"}, {"self_attn.o_proj", "attn_output"},
    {"mlp.gate_proj", "ffn_gate"},  {"mlp.up_proj", "ffn_up"},
    {"mlp.down_proj", "ffn_down"}};

// The weight spec of one projection as the file stores it.
struct WeightSpec {
  int bits = 16;
  bool symmetric = true;
  int group_size = 0;
};

WeightSpec weight_spec(const json& linear) {
  const json& w = linear.at("weight");
  return {w.at("bits").get<int>(), w.at("symmetric").get<bool>(), w.at("group_size").get<int>()};
}

// Everything in the file's quantization settings that GGUF cannot hold, each with the
// `lowbit quantize` flag that avoids it; empty when the file exports.
void add_reason(std::vector<std::string>& why, std::string s) {
  if (std::find(why.begin(), why.end(), s) == why.end()) why.push_back(std::move(s));
}

std::vector<std::string> unexportable_specs(const json& meta) {
  std::vector<std::string> why;
  auto add = [&](std::string s) { add_reason(why, std::move(s)); };
  if (meta.at("kv").at("bits").get<int>() < 16)
    add(fmt::format("KV-cache quantization (int{}; use --kvbits 16)",
                    meta.at("kv").at("bits").get<int>()));
  if (meta.contains("attention"))
    add("query quantization / online q-k rotation (use --kvbits 16 --qbits 16)");
  if (!meta.at("transforms").empty())
    add(fmt::format(
        "online activation transforms from method '{}' (rotations/smoothing applied at run time; "
        "use a weight-only method: --method rtn, gptq, awq or lwc)",
        meta.at("info").value("method", "?")));
  for (const auto& [name, linear] : meta.at("linears").items()) {
    const bool head = name == "lm_head" || name == "model.embed_tokens";
    const json& act = linear.at("act");
    if (act.at("bits").get<int>() < 16)
      add(fmt::format("activation quantization (int{}; use {} 16)", act.at("bits").get<int>(),
                      head ? "--head-abits" : "--abits"));
    const WeightSpec w = weight_spec(linear);
    if (w.bits >= 16) continue;
    if (linear.at("weight").contains("codebook"))
      add(fmt::format("codebook weights ({}; lowbit writes Q4_0/Q8_0 only: use --method rtn)",
                      linear.at("weight").at("codebook").get<std::string>()));
    if (linear.contains("extras") || linear.contains("zero_fraction"))
      add("side data (outlier columns, sparse part, low-rank factors or fractional zero points: "
          "llm-int8, squeezellm, lorc and hqq have no GGUF form; use --method rtn or gptq)");
    const char* bits_flag = head ? "--head-bits" : "--wbits";
    const char* group_flag = head ? "--head-group" : "--group";
    if (w.bits != 4 && w.bits != 8)
      add(fmt::format("{}-bit weights (GGUF's Q4_0/Q8_0 hold 4 or 8 bits; use {} 4 or 8{})", w.bits,
                      bits_flag, head ? " or 16" : ""));
    if (!w.symmetric) add("asymmetric (zero-point) weights (quantize without --w-asym)");
    if (w.group_size != static_cast<int>(kGguf4BitGroup))
      add(w.group_size == 0
              ? fmt::format("per-channel {} weights (Q4_0/Q8_0 have one scale per 32; use {} 32{})",
                            head ? "output-head" : "projection", group_flag,
                            head ? " or --head-bits 16" : "")
              : fmt::format("weight group size {} (Q4_0/Q8_0 have one scale per 32; use {} 32)",
                            w.group_size, group_flag));
  }
  return why;
}

// What llama.cpp's llama architecture lacks.
std::vector<std::string> unexportable_config(const ModelConfig& c) {
  std::vector<std::string> why;
  auto add = [&](std::string s) { add_reason(why, std::move(s)); };
  if (c.architecture != "llama" && c.architecture != "mistral")
    add(fmt::format("architecture '{}' (the export writes llama.cpp's llama architecture)",
                    c.architecture));
  if (c.attention_bias || c.qkv_bias || c.mlp_bias) add("projection biases");
  if (c.sliding_window > 0) add(fmt::format("sliding-window attention ({})", c.sliding_window));
  if (c.rope_scaling.type != "default") add(fmt::format("RoPE scaling '{}'", c.rope_scaling.type));
  return why;
}

// Writes `src` rows of a packed weight, in the order `rows` (all rows when empty), as Q4_0 or
// Q8_0 blocks.
GgufWriter::TensorSource quantized_source(const LowbitTensorView& blob, std::string name,
                                          std::vector<size_t> rows, TensorType type) {
  return [&blob, name = std::move(name), rows = std::move(rows),
          type](const GgufWriter::ByteSink& emit) {
    const auto view = kernels::PackedWeightsView::parse(blob.data);
    const auto unpacked = kernels::unpack_weights(view);
    const size_t n = view.n(), k = view.k(), groups = k / kGguf4BitGroup;
    const bool q4 = type == TensorType::kQ4_0;
    const size_t block_bytes = q4 ? 18 : 34;
    std::vector<std::byte> row_bytes(groups * block_bytes);
    for (size_t r = 0; r < n; ++r) {
      const size_t src = rows.empty() ? r : rows[r];
      const uint8_t* codes = unpacked.codes.data() + src * k;
      for (size_t g = 0; g < groups; ++g) {
        std::byte* block = row_bytes.data() + g * block_bytes;
        const float s = unpacked.scales[src * groups + g];
        const uint16_t d = f32_to_f16(s);
        if ((d & 0x7c00u) == 0x7c00u)
          fail("{}: row {} group {}: scale {} does not fit fp16", name, src, g, s);
        std::memcpy(block, &d, 2);
        const int z = unpacked.zeros[src * groups + g];
        const uint8_t* u = codes + g * kGguf4BitGroup;
        // q = u - z is lowbit's signed code; Q4_0 stores q + 8 (value (nibble - 8) * d), Q8_0
        // stores q (value q * d).
        auto code = [&](size_t j) {
          const int q = static_cast<int>(u[j]) - z;
          if (q4 ? (q < -8 || q > 7) : (q < -128 || q > 127))
            fail("{}: row {} column {}: code {} is outside the {} range", name, src,
                 g * kGguf4BitGroup + j, q, q4 ? "Q4_0" : "Q8_0");
          return q;
        };
        if (q4) {
          for (size_t j = 0; j < 16; ++j)
            block[2 + j] = static_cast<std::byte>((code(j) + 8) | ((code(j + 16) + 8) << 4));
        } else {
          for (size_t j = 0; j < 32; ++j)
            block[2 + j] = static_cast<std::byte>(static_cast<int8_t>(code(j)));
        }
      }
      emit(row_bytes);
    }
  };
}

// fp32 [n, k] rows (in the order `rows`, all when empty) as F16 or F32.
GgufWriter::TensorSource float_source(std::span<const float> values, size_t n, size_t k,
                                      std::vector<size_t> rows, TensorType type) {
  return [values, n, k, rows = std::move(rows), type](const GgufWriter::ByteSink& emit) {
    std::vector<std::byte> row_bytes(k * (type == TensorType::kF32 ? 4 : 2));
    for (size_t r = 0; r < n; ++r) {
      const float* row = values.data() + (rows.empty() ? r : rows[r]) * k;
      if (type == TensorType::kF32) {
        std::memcpy(row_bytes.data(), row, k * 4);
      } else {
        for (size_t c = 0; c < k; ++c) {
          const uint16_t h = f32_to_f16(row[c]);
          std::memcpy(row_bytes.data() + 2 * c, &h, 2);
        }
      }
      emit(row_bytes);
    }
  };
}

class Exporter {
 public:
  explicit Exporter(const LowbitFile& file) : file_(file), meta_(file.metadata()) {}

  // A projection [out, in] (or the head / embedding table) by its .lowbit name.
  void linear(const std::string& lowbit, const std::string& gguf, size_t out, size_t in,
              std::vector<size_t> rows = {}) {
    const json& entry = meta_.at("linears").at(lowbit);
    const WeightSpec w = weight_spec(entry);
    const std::vector<uint64_t> dims = {in, out};
    if (w.bits >= 16) {
      dense(lowbit + ".weight", gguf, out, in, std::move(rows), TensorType::kF16);
      return;
    }
    const TensorType type = w.bits == 4 ? TensorType::kQ4_0 : TensorType::kQ8_0;
    if (in % kGguf4BitGroup != 0)
      fail("{}: {} has {} inputs, not a multiple of the {}-value GGUF block", where(), lowbit, in,
           kGguf4BitGroup);
    const LowbitTensorView& blob = file_.tensor(lowbit + ".packed");
    const auto view = kernels::PackedWeightsView::parse(blob.data);
    if (view.n() != out || view.k() != in)
      fail("{}: {} is packed as {}x{}, expected {}x{}", where(), lowbit, view.n(), view.k(), out,
           in);
    add(gguf, dims, type, quantized_source(blob, where() + ": " + lowbit, std::move(rows), type));
    ++quantized_[type == TensorType::kQ4_0 ? kFileTypeQ4_0 : kFileTypeQ8_0];
  }

  // An fp32 tensor [n, k] of the file as F16 or F32 (a vector when n = 1 and `vector`).
  void dense(const std::string& lowbit, const std::string& gguf, size_t n, size_t k,
             std::vector<size_t> rows, TensorType type, bool vector = false) {
    const LowbitTensorView& t = file_.tensor(lowbit);
    const auto values = t.f32();
    if (values.size() != n * k)
      fail("{}: tensor \"{}\" has {} values, expected {}", where(), lowbit, values.size(), n * k);
    std::vector<uint64_t> dims = {k};
    if (!vector) dims.push_back(n);
    add(gguf, std::move(dims), type, float_source(values, n, k, std::move(rows), type));
  }

  uint32_t file_type() const {
    if (quantized_.empty()) return kFileTypeF16;
    return std::max_element(quantized_.begin(), quantized_.end(),
                            [](const auto& a, const auto& b) { return a.second < b.second; })
        ->first;
  }

  GgufWriter& writer() { return writer_; }
  const std::map<std::string, size_t>& tensors_by_type() const { return by_type_; }
  std::string where() const { return file_.path().string(); }

 private:
  void add(const std::string& name, std::vector<uint64_t> dims, TensorType type,
           GgufWriter::TensorSource source) {
    writer_.add_tensor(name, std::move(dims), type, std::move(source));
    ++by_type_[std::string(gguf::type_traits(static_cast<uint32_t>(type))->name)];
  }

  const LowbitFile& file_;
  const json& meta_;
  GgufWriter writer_;
  std::map<uint32_t, size_t> quantized_;  // file type -> projections
  std::map<std::string, size_t> by_type_;
};

}  // namespace

void write_gguf_tokenizer(GgufWriter& w, const Tokenizer& tok, size_t vocab,
                          const std::string& where) {
  Tokenizer::Vocabulary v = tok.vocabulary();
  if (v.tokens.size() > vocab)
    fail("{}: the tokenizer has {} tokens but the model's vocabulary is {}", where, v.tokens.size(),
         vocab);
  // Embedding rows beyond the tokenizer (a vocabulary padded for the kernels): llama.cpp needs
  // one token per row, so they are named as its converter names them.
  for (size_t id = v.tokens.size(); id < vocab; ++id) {
    v.tokens.push_back(fmt::format("[PAD{}]", id));
    v.types.push_back(Tokenizer::TokenType::kUnused);
    if (!v.scores.empty()) v.scores.push_back(-1000.0f);
  }
  w.set_string("tokenizer.ggml.model", v.model);
  // No tokenizer.ggml.pre: lowbit does not name llama.cpp's pre-tokenizers (its converter
  // identifies them by a hash of reference tokenizations), and llama.cpp warns when it is absent
  // rather than trusting a wrong name.
  w.set_array_string("tokenizer.ggml.tokens", v.tokens);
  if (!v.scores.empty()) w.set_array_f32("tokenizer.ggml.scores", v.scores);
  std::vector<int32_t> types;
  for (auto t : v.types) types.push_back(static_cast<int32_t>(t));
  w.set_array_i32("tokenizer.ggml.token_type", types);
  if (!v.merges.empty()) w.set_array_string("tokenizer.ggml.merges", v.merges);
  if (tok.bos_id) w.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(*tok.bos_id));
  if (tok.eos_id) w.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(*tok.eos_id));
  if (v.unknown_id)
    w.set_u32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(*v.unknown_id));
  w.set_bool("tokenizer.ggml.add_bos_token", tok.add_bos);
  w.set_bool("tokenizer.ggml.add_eos_token", false);
}

namespace {

void add_tokenizer(GgufWriter& w, const QuantizedModel& model, const std::string& where) {
  write_gguf_tokenizer(w, *model.tokenizer, static_cast<size_t>(model.weights.config.vocab_size),
                       where);
  if (!model.tokenizer_config.empty()) {
    const json cfg = json::parse(model.tokenizer_config, nullptr, /*allow_exceptions=*/false);
    if (cfg.is_object() && cfg.contains("chat_template") && cfg["chat_template"].is_string())
      w.set_string("tokenizer.chat_template", cfg["chat_template"].get<std::string>());
  }
}

}  // namespace

std::vector<size_t> llama_rope_row_order(size_t heads, size_t head_dim) {
  std::vector<size_t> order(heads * head_dim);
  const size_t half = head_dim / 2;
  for (size_t h = 0; h < heads; ++h)
    for (size_t i = 0; i < half; ++i)
      for (size_t j = 0; j < 2; ++j) order[h * head_dim + 2 * i + j] = h * head_dim + j * half + i;
  return order;
}

GgufExportSummary export_gguf(const fs::path& in, const fs::path& out) {
  const std::array<fs::path, 1> inputs = {in};
  check_not_an_input(out, inputs, "-o");
  if (!is_quantized_model_file(in))
    fail("{}: not a .lowbit model (export-gguf reads what `lowbit quantize` writes)", in.string());
  const LowbitFile file(in);
  const std::string where = in.string();
  const json& meta = file.metadata();
  // The loader checks the metadata (and the tokenizer and config) before anything is mapped out.
  const auto refuse = [&](const std::vector<std::string>& why) {
    if (why.empty()) return;
    std::string list;
    for (const auto& w : why) list += (list.empty() ? "" : "; ") + w;
    fail("{}: cannot be exported to GGUF: {}", where, list);
  };
  try {
    refuse(unexportable_specs(meta));
  } catch (const json::exception& e) {
    fail("{}: missing or malformed metadata: {}", where, e.what());
  }
  // The loader checks the rest of the metadata, the config and the tokenizer (the tensors'
  // checksums were checked above).
  const QuantizedModel model =
      load_quantized_model(in, QuantExecution::kPacked, /*verify_checksums=*/false);
  const ModelConfig& c = model.weights.config;
  refuse(unexportable_config(c));
  GgufExportSummary summary;
  try {
    Exporter ex(file);
    GgufWriter& w = ex.writer();
    w.set_string("general.architecture", "llama");
    const std::string source = meta.at("info").value("source", "");
    w.set_string("general.name",
                 source.empty() ? in.stem().string() : fs::path(source).filename().string());
    w.set_u32("llama.context_length", static_cast<uint32_t>(c.max_seq_len));
    w.set_u32("llama.embedding_length", static_cast<uint32_t>(c.dim));
    w.set_u32("llama.block_count", static_cast<uint32_t>(c.n_layers));
    w.set_u32("llama.feed_forward_length", static_cast<uint32_t>(c.hidden_dim));
    w.set_u32("llama.attention.head_count", static_cast<uint32_t>(c.n_heads));
    w.set_u32("llama.attention.head_count_kv", static_cast<uint32_t>(c.n_kv_heads));
    w.set_f32("llama.rope.freq_base", static_cast<float>(c.rope_theta));
    w.set_f32("llama.attention.layer_norm_rms_epsilon", c.norm_eps);
    w.set_u32("llama.rope.dimension_count", static_cast<uint32_t>(c.head_dim));
    if (c.head_dim * c.n_heads != c.dim) {
      w.set_u32("llama.attention.key_length", static_cast<uint32_t>(c.head_dim));
      w.set_u32("llama.attention.value_length", static_cast<uint32_t>(c.head_dim));
    }
    w.set_u32("llama.vocab_size", static_cast<uint32_t>(c.vocab_size));
    w.set_u32("general.file_type", 0);  // set below, once the tensors are known
    w.set_u32("general.quantization_version", 2);
    add_tokenizer(w, model, where);

    const auto d = static_cast<size_t>(c.dim), v = static_cast<size_t>(c.vocab_size);
    const auto ff = static_cast<size_t>(c.hidden_dim), hd = static_cast<size_t>(c.head_dim);
    const auto q = static_cast<size_t>(c.q_dim()), kv = static_cast<size_t>(c.kv_dim());
    const std::string embedding = meta.at("embedding").get<std::string>();
    const bool quantized_head = meta.at("linears").contains("lm_head");
    if (embedding == "f32")
      ex.dense("model.embed_tokens.weight", "token_embd.weight", v, d, {}, TensorType::kF16);
    else if (embedding == "linear")
      ex.linear("model.embed_tokens", "token_embd.weight", v, d);
    else  // "head": the tied table is the quantized head itself, which llama.cpp reuses
      ex.linear("lm_head", "token_embd.weight", v, d);
    const auto q_rows = llama_rope_row_order(static_cast<size_t>(c.n_heads), hd);
    const auto k_rows = llama_rope_row_order(static_cast<size_t>(c.n_kv_heads), hd);
    for (int l = 0; l < c.n_layers; ++l) {
      const std::string p = fmt::format("model.layers.{}.", l), b = fmt::format("blk.{}.", l);
      ex.dense(p + "input_layernorm.weight", b + "attn_norm.weight", 1, d, {}, TensorType::kF32,
               true);
      const size_t shapes[7][2] = {{q, d}, {kv, d}, {kv, d}, {d, q}, {ff, d}, {ff, d}, {d, ff}};
      for (int i = 0; i < 7; ++i) {
        std::vector<size_t> rows = i == 0 ? q_rows : i == 1 ? k_rows : std::vector<size_t>{};
        ex.linear(p + kProjections[i].lowbit, b + kProjections[i].gguf + ".weight", shapes[i][0],
                  shapes[i][1], std::move(rows));
      }
      ex.dense(p + "post_attention_layernorm.weight", b + "ffn_norm.weight", 1, d, {},
               TensorType::kF32, true);
    }
    ex.dense("model.norm.weight", "output_norm.weight", 1, d, {}, TensorType::kF32, true);
    if (quantized_head && embedding != "head")
      ex.linear("lm_head", "output.weight", v, d);
    else if (!quantized_head && !c.tied_embeddings)
      ex.dense("lm_head.weight", "output.weight", v, d, {}, TensorType::kF16);
    // A tied full-precision head is token_embd, as llama.cpp reads a file without output.weight.
    w.set_u32("general.file_type", ex.file_type());

    if (meta.contains("token_pruning"))
      summary.notes.push_back(
          "the file's default token pruning is a lowbit run-time setting; llama.cpp runs without "
          "it");
    w.write(out);
    summary.tensors_by_type = ex.tensors_by_type();
    for (const auto& [type, n] : summary.tensors_by_type) summary.tensors += n;
  } catch (const json::exception& e) {
    fail("{}: missing or malformed metadata: {}", where, e.what());
  }
  summary.file_bytes = fs::file_size(out);
  return summary;
}

}  // namespace lowbit
