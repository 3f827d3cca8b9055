// Saving a quantized model and loading it back gives the same logits (simulated path: bit-exact;
// integer kernels: within float summation error); bad files are rejected.
#include "io/quantized_model_io.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <functional>

#include "core/error.h"
#include "io/lowbit_file.h"
#include "io/model_loader.h"
#include "quant/pipeline.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

class QuantizedIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::TinyModelSpec spec;
    spec.dim = 64;
    spec.hidden = 128;
    testing::write_tiny_checkpoint(dir_ / "src", spec);
    std::string text;
    for (int i = 0; i < 100; ++i) text += "The quick brown fox jumps over the lazy dog. ";
    testing::write_file(dir_ / "calib.txt", text);
  }

  std::vector<float> logits(LoadedModel& m) {
    const std::vector<int32_t> ids = {1, 300, 301, 45, 46, 47, 200};
    KVCache cache = m.model->make_cache(16);
    const auto out = m.model->forward(ids, cache, LogitsFor::kAllTokens);
    return {out.begin(), out.end()};
  }

  void round_trip(const std::string& method, int wbits, int abits, int kvbits, int group,
                  int head_bits = 8) {
    LoadedModel m = load_model(dir_ / "src");
    QuantizeOptions o;
    o.method = MethodSpec::parse(method);
    o.weight = {wbits, true, group, 1.0f, true};
    o.act = {abits, true, 0, 1.0f, false};
    o.kv = {kvbits, false, 0, 1.0f, false};
    o.head_weight.bits = head_bits;
    o.head_act.bits = head_bits;
    o.params.set("duquant-block", 32);
    o.params.set("int8-threshold", 1.0);  // the tiny model's activations are small
    o.params.set("lorc-rank", 4);
    o.calib = {dir_ / "calib.txt", 4, 64, 0, 64, true, false};
    quantize_model(*m.model, *m.tokenizer, o);
    save_quantized_model(*m.model, dir_ / "src", out(), {{"method", method}});
    LoadedModel back = load_model(out(), {}, LoadOptions{true, {}});
    EXPECT_EQ(back.format, "lowbit-quantized");
    EXPECT_EQ(back.model->kv_quant().bits, kvbits);
    EXPECT_EQ(back.model->attention_quant(), m.model->attention_quant()) << method;
    EXPECT_EQ(back.quant_info["method"], method);
    const auto expected = logits(m);
    EXPECT_EQ(logits(back), expected) << method;
    // The integer kernels reproduce the simulated path up to float summation order (and the rare
    // activation code that rounding flips).
    LoadedModel packed = load_model(out());
    const auto got = logits(packed);
    ASSERT_EQ(got.size(), expected.size());
    double err = 0, norm = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      err += (got[i] - expected[i]) * (got[i] - expected[i]);
      norm += expected[i] * expected[i];
    }
    EXPECT_LT(std::sqrt(err / norm), 2e-3) << method << " W" << wbits << "A" << abits;
  }

  std::filesystem::path out() const { return dir_ / "out.lowbit"; }

  testing::TempDir dir_;
};

TEST_F(QuantizedIoTest, AttentionQuantizationRoundTrips) {
  LoadedModel m = load_model(dir_ / "src");
  QuantizeOptions o;
  o.method = MethodSpec::parse("hadamard");
  o.kv = {.bits = 4, .symmetric = false};
  o.query = {.bits = 4, .symmetric = false};
  quantize_model(*m.model, *m.tokenizer, o);
  ASSERT_TRUE(m.model->attention_quant().qk_hadamard);
  save_quantized_model(*m.model, dir_ / "src", out(), {{"method", "hadamard+rtn"}});
  LoadedModel back = load_model(out(), {}, LoadOptions{true, {}});
  EXPECT_EQ(back.model->attention_quant(), m.model->attention_quant());
  EXPECT_EQ(logits(back), logits(m));
}

TEST_F(QuantizedIoTest, RoundTripsEveryTransform) {
  round_trip("rtn", 4, 4, 4, 32);
  round_trip("smoothquant+rtn", 8, 8, 16, 0);
  round_trip("hadamard+rtn", 4, 8, 8, 0);
  round_trip("duquant+rtn", 4, 4, 16, 0);
  round_trip("awq", 3, 16, 16, 16);
  round_trip("rtn", 16, 8, 16, 0);
}

TEST_F(QuantizedIoTest, FullPrecisionHeadAndUntiedModels) {
  round_trip("rtn", 4, 8, 16, 0, /*head_bits=*/16);
  round_trip("hadamard+rtn", 4, 4, 16, 0, /*head_bits=*/8);  // untied after the rotation
  // The untied embedding table is stored int8 like the head, not fp32, and loads as packed rows.
  LoadedModel packed = load_model(out());
  EXPECT_EQ(packed.model->weights().embedding, nullptr);
  ASSERT_NE(packed.model->weights().quantized_embedding, nullptr);
  EXPECT_EQ(packed.model->weights().quantized_embedding->format(), "W8A16 packed");
}

// `quantize` streams: each layer goes to the writer as it is finished and is then released. The
// file is byte-identical to saving the whole quantized model at the end, for a calibrated
// method with transforms shared within layers.
TEST_F(QuantizedIoTest, StreamingWriteEqualsWholeModelSave) {
  for (const std::string method : {"rtn", "duquant+gptq", "hadamard+rtn"}) {
    QuantizeOptions o;
    o.method = MethodSpec::parse(method);
    o.weight = {4, true, 0, 1.0f, true};
    o.act = {8, true, 0, 1.0f, false};
    o.params.set("duquant-block", 32);
    o.calib = {dir_ / "calib.txt", 4, 64, 0, 64, false, false};
    const nlohmann::json info = {{"method", method}};
    LoadedModel whole = load_model(dir_ / "src");
    quantize_model(*whole.model, *whole.tokenizer, o);
    save_quantized_model(*whole.model, dir_ / "src", dir_ / "whole.lowbit", info);

    LoadedModel streamed = load_model(dir_ / "src");
    QuantizedModelWriter writer(dir_ / "src", dir_ / "streamed.lowbit");
    int calls = 0;
    quantize_model(*streamed.model, *streamed.tokenizer, o, [&](int l, const LayerWeights& L) {
      EXPECT_EQ(l, calls++);
      writer.add_layer(static_cast<size_t>(l), L);
    });
    EXPECT_EQ(calls, streamed.model->config().n_layers);
    for (const auto& L : streamed.model->weights().layers) EXPECT_EQ(L.wq, nullptr) << "released";
    writer.finish(*streamed.model, info);
    EXPECT_EQ(testing::read_file(dir_ / "streamed.lowbit"),
              testing::read_file(dir_ / "whole.lowbit"))
        << method;
    // The spill file is nameless: nothing but the outputs and the source are left behind.
    for (const auto& e : std::filesystem::directory_iterator(dir_.path()))
      EXPECT_TRUE(e.path().extension() == ".lowbit" || e.path().filename() == "src" ||
                  e.path().filename() == "calib.txt")
          << e.path();
  }
}

TEST_F(QuantizedIoTest, WriterChecksItsOutputFirstAndCountsLayers) {
  testing::write_file(dir_ / "precious.txt", "keep me");
  EXPECT_NE(testing::error_of([&] {
              QuantizedModelWriter w(dir_ / "src", dir_ / "precious.txt");
            }).find("not overwriting"),
            std::string::npos);
  EXPECT_NE(testing::error_of([&] {
              QuantizedModelWriter w(dir_ / "src", dir_ / "no-such-folder" / "m.lowbit");
            }).find("no such folder"),
            std::string::npos);
  LoadedModel m = load_model(dir_ / "src");
  QuantizeOptions o;
  o.method = MethodSpec::parse("rtn");
  o.weight = {4, true, 0, 1.0f, false};
  quantize_model(*m.model, *m.tokenizer, o);
  QuantizedModelWriter w(dir_ / "src", out());
  w.add_layer(0, m.model->weights().layers[0]);
  EXPECT_NE(testing::error_of([&] { w.finish(*m.model, {}); }).find("layers were written"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(out()));
}

TEST_F(QuantizedIoTest, OverwritesOnlyQuantizedFiles) {
  round_trip("rtn", 4, 16, 16, 0);
  round_trip("rtn", 8, 16, 16, 0);  // replaces the previous output
  LoadedModel m = load_model(dir_ / "src");
  testing::write_file(dir_ / "precious.txt", "keep me");
  EXPECT_THROW(save_quantized_model(*m.model, dir_ / "src", dir_ / "precious.txt", {}), Error);
  EXPECT_EQ(testing::read_file(dir_ / "precious.txt"), "keep me");
  EXPECT_THROW(save_quantized_model(*m.model, dir_ / "src", dir_ / "src", {}), Error);
}

// Fractional zero points (HQQ), outlier columns (LLM.int8()) and low-rank factors (LoRC) are
// stored, loaded into both paths, and the packed layers carry them.
TEST_F(QuantizedIoTest, RoundTripsSideData) {
  const auto format_of = [&](const char* what) {
    LoadedModel m = load_model(out());
    return m.model->weights().layers[0].wq->format() + " " + what;
  };
  round_trip("hqq", 4, 16, 16, 32);
  EXPECT_NE(format_of("hqq").find("fractional zeros"), std::string::npos) << format_of("hqq");
  round_trip("hqq", 3, 8, 16, 0);
  round_trip("llm-int8", 8, 8, 16, 0);
  EXPECT_NE(format_of("llm-int8").find("outlier columns"), std::string::npos)
      << format_of("llm-int8");
  round_trip("gptq+lorc", 3, 16, 16, 32);
  EXPECT_NE(format_of("lorc").find("+low-rank r4"), std::string::npos) << format_of("lorc");
  round_trip("hqq+lorc", 4, 8, 16, 0);
  // SqueezeLLM: 3-bit codebook codes, fp16 tables, a sparse part whose columns are stored in 16
  // bits; a file from before 16-bit columns (int32) still loads to the same logits.
  round_trip("squeezellm", 3, 16, 16, 0);
  EXPECT_NE(format_of("squeezellm").find("+sparse"), std::string::npos) << format_of("squeezellm");
  const std::string q = "model.layers.0.self_attn.q_proj";
  {
    const LowbitFile file(out());
    EXPECT_EQ(file.tensor(q + ".sparse.col").dtype, LowbitDType::kU16);
    LowbitFileWriter w;
    w.metadata() = file.metadata();
    for (const auto& [name, t] : file.tensors()) {
      if (name != q + ".sparse.col") {
        w.add(name, t.dtype, t.shape, t.data);
        continue;
      }
      const std::vector<int32_t> wide(t.u16().begin(), t.u16().end());
      w.add_i32(name, t.shape, wide);
    }
    w.write(dir_ / "i32-cols.lowbit");
  }
  LoadedModel narrow = load_model(out()), wide = load_model(dir_ / "i32-cols.lowbit");
  EXPECT_EQ(logits(wide), logits(narrow));
}

// Rewrites out() with its metadata edited by `edit` (tensors unchanged) into `path`.
void rewrite(const std::filesystem::path& in, const std::filesystem::path& path,
             const std::function<void(nlohmann::json&)>& edit) {
  const LowbitFile file(in);
  LowbitFileWriter w;
  w.metadata() = file.metadata();
  edit(w.metadata());
  for (const auto& [name, t] : file.tensors()) w.add(name, t.dtype, t.shape, t.data);
  w.write(path);
}

TEST_F(QuantizedIoTest, MalformedSideDataAndCodebooksFail) {
  round_trip("gptq+lorc", 4, 16, 16, 32);
  const std::string q = "model.layers.0.self_attn.q_proj";
  const auto error_for = [&](const std::function<void(nlohmann::json&)>& edit) {
    rewrite(out(), dir_ / "bad.lowbit", edit);
    return testing::error_of([&] { load_model(dir_ / "bad.lowbit"); });
  };
  std::string e = error_for([&](auto& m) { m["linears"][q]["weight"]["codebook"] = "nf5"; });
  EXPECT_NE(e.find("unknown codebook 'nf5'"), std::string::npos) << e;
  EXPECT_NE(e.find("bad.lowbit"), std::string::npos) << e;
  e = error_for([&](auto& m) { m["linears"][q]["extras"] = {"low_rank", "bogus"}; });
  EXPECT_NE(e.find("unknown side data \"bogus\""), std::string::npos) << e;
  e = error_for([&](auto& m) { m["linears"][q]["extras"] = {"sparse"}; });
  EXPECT_NE(e.find("sparse.row_ptr"), std::string::npos) << e;
  e = error_for([&](auto& m) { m["linears"][q]["extras"] = "low_rank"; });
  EXPECT_NE(e.find("extras is not a list"), std::string::npos) << e;
  e = error_for([&](auto& m) { m["linears"][q]["zero_fraction"] = true; });
  EXPECT_NE(e.find("zero_fraction"), std::string::npos) << e;
}

TEST_F(QuantizedIoTest, RejectsCorruptFiles) {
  round_trip("rtn", 4, 16, 16, 0);
  std::string bytes = testing::read_file(out());
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x55);
  testing::write_file(dir_ / "flipped.lowbit", bytes);
  EXPECT_THROW(load_model(dir_ / "flipped.lowbit"), Error);
  testing::write_file(dir_ / "short.lowbit", bytes.substr(0, bytes.size() / 3));
  EXPECT_THROW(load_model(dir_ / "short.lowbit"), Error);

  LowbitFileWriter w;
  w.metadata() = {{"format", "lowbit-quantized"}, {"version", 99}};
  w.write(dir_ / "future.lowbit");
  try {
    load_model(dir_ / "future.lowbit");
    FAIL() << "version 99 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("version 99"), std::string::npos) << e.what();
  }
  w.metadata() = {{"format", "lowbit-quantized"}, {"version", kQuantFormatVersion}};
  w.write(dir_ / "empty.lowbit");
  EXPECT_THROW(load_model(dir_ / "empty.lowbit"), Error);
}

// A file's default token pruning: stored by write_token_pruning, loaded with the model, removed
// with ratio 0; a malformed setting fails the load naming the file.
TEST_F(QuantizedIoTest, TokenPruningRoundTripsAndMalformedSettingsFail) {
  round_trip("rtn", 4, 8, 16, 0);
  LoadedModel m = load_model(out());
  TokenPruning p;
  p.ratio = 0.25;
  p.start_layer = 1;
  p.thresholds = {0.0f, 0.125f};
  p.calib_windows = 3;
  p.calib_len = 64;
  write_token_pruning(out(), dir_ / "pruned.lowbit", p);
  LoadedModel back = load_model(dir_ / "pruned.lowbit");
  const TokenPruning& q = back.model->token_pruning();
  EXPECT_EQ(q.ratio, p.ratio);
  EXPECT_EQ(q.start_layer, p.start_layer);
  EXPECT_EQ(q.thresholds, p.thresholds);
  EXPECT_EQ(q.calib_windows, 3);
  EXPECT_EQ(q.calib_len, 64);
  m.model->set_token_pruning(p);
  EXPECT_EQ(logits(back), logits(m));
  write_token_pruning(dir_ / "pruned.lowbit", dir_ / "pruned.lowbit", TokenPruning{});
  EXPECT_FALSE(load_model(dir_ / "pruned.lowbit").model->token_pruning().enabled());

  const LowbitFile f(out());
  const auto write_with = [&](const nlohmann::json& tp) {
    LowbitFileWriter w;
    w.metadata() = f.metadata();
    w.metadata()["token_pruning"] = tp;
    for (const auto& [name, t] : f.tensors()) w.add(name, t.dtype, t.shape, t.data);
    w.write(dir_ / "bad.lowbit");
  };
  const nlohmann::json good = {{"ratio", 0.25}, {"start_layer", 1}, {"thresholds", {0.0, 0.1}}};
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, nlohmann::json>>{{"ratio", 1.5},
                                                           {"ratio", "x"},
                                                           {"start_layer", 2},
                                                           {"start_layer", 0},
                                                           {"thresholds", {0.0}},
                                                           {"thresholds", "x"},
                                                           {"thresholds", {0.0, 2.0}},
                                                           {"ratio", 0.0}}) {
    nlohmann::json tp = good;
    tp[key] = value;
    write_with(tp);
    try {
      load_model(dir_ / "bad.lowbit");
      FAIL() << key << " = " << value.dump() << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("bad.lowbit"), std::string::npos) << e.what();
    }
  }
  write_with(good);
  EXPECT_NO_THROW(load_model(dir_ / "bad.lowbit"));
}

TEST_F(QuantizedIoTest, EmbeddedFileErrorsNameTheLowbitFile) {
  // A corrupt embedded config: the message names the .lowbit file and the embedded file, never
  // the temporary folder it was extracted to (gone by the time the user reads it).
  round_trip("rtn", 4, 16, 16, 0);
  const LowbitFile f(out());
  const auto& cfg_meta = f.metadata().at("config");
  std::string bytes = testing::read_file(out());
  const std::string needle = "\"hidden_size\":" + cfg_meta.at("hidden_size").dump();
  const size_t at = bytes.find(needle);
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(needle, "\"hidden_size\":64");
  bytes.replace(at, needle.size(), "\"hidden_size\":-1");  // same length: offsets unchanged
  // Recompute the header CRC (offset 12, over the header at 24).
  uint64_t hlen = 0;
  std::memcpy(&hlen, bytes.data() + 16, 8);
  const auto crc = static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(bytes.data() + 24), static_cast<uInt>(hlen)));
  std::memcpy(bytes.data() + 12, &crc, 4);
  testing::write_file(dir_ / "bad-config.lowbit", bytes);
  try {
    load_model(dir_ / "bad-config.lowbit");
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("bad-config.lowbit: embedded config.json: hidden_size = -1 is out of range"),
              std::string::npos)
        << msg;
    EXPECT_EQ(msg.find("/config.json"), std::string::npos) << msg;  // no extracted path
  }
}

}  // namespace
}  // namespace lowbit
