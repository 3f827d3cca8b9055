// --bits-map: parsing, precedence, errors that name the rule, and a mixed-bit model end to end
// (quantized, saved, loaded on the packed kernels).
#include "quant/bits_map.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "io/model_loader.h"
#include "io/quantized_model_io.h"
#include "layers/fake_quant_linear.h"
#include "quant/pipeline.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

TEST(BitsMap, RulesAndPrecedence) {
  const BitsMap m = BitsMap::parse("down_proj=6, layers.0-1.*=8,layers.3.v_proj=16");
  ASSERT_EQ(m.rules().size(), 3u);
  EXPECT_EQ(m.bits_for(5, "down_proj", 4), 6);
  EXPECT_EQ(m.bits_for(5, "q_proj", 4), 4);
  EXPECT_EQ(m.bits_for(1, "down_proj", 4), 8);  // the later rule wins
  EXPECT_EQ(m.bits_for(0, "q_proj", 4), 8);
  EXPECT_EQ(m.bits_for(2, "q_proj", 4), 4);
  EXPECT_EQ(m.bits_for(3, "v_proj", 4), 16);
  EXPECT_EQ(BitsMap::parse("layers.*.o_proj=3").bits_for(7, "o_proj", 4), 3);
  EXPECT_EQ(m.text(), "down_proj=6,layers.0-1.*=8,layers.3.v_proj=16");
  EXPECT_FALSE(m.sets_groups());
}

TEST(BitsMap, RulesMayGiveAGroup) {
  const BitsMap m = BitsMap::parse("*=4g0,down_proj=8g32,layers.2.down_proj=3");
  EXPECT_TRUE(m.sets_groups());
  const QuantSpec base{.bits = 4, .group_size = 128};
  EXPECT_EQ(m.spec_for(0, "q_proj", base).group_size, 0);  // one scale per row
  EXPECT_EQ(m.spec_for(0, "q_proj", base).bits, 4);
  EXPECT_EQ(m.spec_for(1, "down_proj", base).group_size, 32);
  EXPECT_EQ(m.spec_for(1, "down_proj", base).bits, 8);
  // A later rule without a group restores --group for what it matches.
  EXPECT_EQ(m.spec_for(2, "down_proj", base).group_size, 128);
  EXPECT_EQ(m.spec_for(2, "down_proj", base).bits, 3);
  EXPECT_EQ(m.text(), "*=4g0,down_proj=8g32,layers.2.down_proj=3");
  for (const auto& [text, what] : std::vector<std::pair<std::string, std::string>>{
           {"down_proj=4g", "the group after 'g' is not a number"},
           {"down_proj=4gx", "the group after 'g' is not a number"},
           {"down_proj=4g-8", "the group after 'g' is not a number"},
           {"down_proj=4g12", "multiple of 8"},
           {"down_proj=g32", "bits are not a number"}}) {
    const std::string rule = text;  // clang 15 cannot capture a structured binding
    const std::string e = testing::error_of([&] { BitsMap::parse(rule); });
    EXPECT_NE(e.find(what), std::string::npos) << text << ": " << e;
  }
}

TEST(BitsMap, MalformedRulesFailNamingTheRule) {
  const auto error = [](const std::string& text) {
    return testing::error_of([&] { BitsMap::parse(text); });
  };
  for (const auto& [text, what] : std::vector<std::pair<std::string, std::string>>{
           {"down_proj", "rule 'down_proj': no '='"},
           {"down_proj=x", "bits are not a number"},
           {"down_proj=9", "bits must be 2..8 or 16"},
           {"down_proj=1", "bits must be 2..8 or 16"},
           {"mlp=4", "unknown projection 'mlp'"},
           {"layers.2-1.q_proj=4", "layer range"},
           {"layers.x.q_proj=4", "layer is not a number"},
           {"layers.3=4", "no projection after the layer"},
           {"down_proj=4,,q_proj=3", "empty rule"}}) {
    const std::string e = error(text);
    EXPECT_NE(e.find("--bits-map"), std::string::npos) << e;
    EXPECT_NE(e.find(what), std::string::npos) << text << ": " << e;
  }
  ModelConfig c;
  c.n_layers = 4;
  EXPECT_NO_THROW(BitsMap::parse("layers.3.q_proj=8").validate(c));
  const std::string e = testing::error_of([&] { BitsMap::parse("layers.2-5.*=8").validate(c); });
  EXPECT_NE(e.find("rule 'layers.2-5.*=8' names layer 5 but the model has layers 0..3"),
            std::string::npos)
      << e;
}

TEST(BitsMap, MixedModelQuantizesSavesAndRuns) {
  testing::TempDir dir;
  testing::TinyModelSpec spec;
  spec.dim = 64;
  spec.hidden = 128;
  testing::write_tiny_checkpoint(dir.path(), spec);
  for (const char* method : {"rtn", "hqq"}) {
    QuantizeOptions o;
    o.method = MethodSpec::parse(method);
    o.weight = QuantSpec{.bits = 4, .group_size = 32};
    o.bits_map = BitsMap::parse("down_proj=8,layers.0.q_proj=16,layers.1.*=3");
    o.head_weight.bits = 16;
    o.head_act.bits = 16;
    LoadedModel m = load_model(dir.path());
    quantize_model(*m.model, *m.tokenizer, o);
    const auto bits = [&](const Linear& l) {
      const auto* q = dynamic_cast<const FakeQuantLinear*>(&l)->quantized_weight();
      return q ? q->spec.bits : 16;
    };
    const auto& L0 = m.model->weights().layers[0];
    const auto& L1 = m.model->weights().layers[1];
    EXPECT_EQ(bits(*L0.wq), 16) << method;
    EXPECT_EQ(bits(*L0.wk), 4) << method;
    EXPECT_EQ(bits(*L0.w_down), 8) << method;
    EXPECT_EQ(bits(*L1.w_down), 3) << method;  // the later rule
    EXPECT_EQ(bits(*L1.wq), 3) << method;
    save_quantized_model(*m.model, dir.path(), dir / "mixed.lowbit", {{"method", method}});
    LoadedModel packed = load_model(dir / "mixed.lowbit");
    EXPECT_EQ(packed.model->weights().layers[0].wq->format().substr(0, 6), "W16A16");
    EXPECT_NE(packed.model->weights().layers[0].w_down->format().find("W8A16 packed"),
              std::string::npos);
    const std::vector<int32_t> ids = {1, 300, 301, 45, 46};
    KVCache a = m.model->make_cache(8), b = packed.model->make_cache(8);
    const auto want = m.model->forward(ids, a, LogitsFor::kAllTokens);
    const std::vector<float> sim(want.begin(), want.end());
    const auto got = packed.model->forward(ids, b, LogitsFor::kAllTokens);
    for (size_t i = 0; i < sim.size(); ++i) ASSERT_NEAR(got[i], sim[i], 1e-3) << i;
  }
  // A rule's group: per-row scales for down_proj, groups of 16 for layer 1's q_proj; a group
  // that does not divide a projection's input width fails before any work, naming the layer.
  {
    QuantizeOptions o;
    o.weight = QuantSpec{.bits = 4, .group_size = 32};
    o.bits_map = BitsMap::parse("down_proj=8g0,layers.1.q_proj=4g16");
    o.head_weight.bits = 16;
    o.head_act.bits = 16;
    LoadedModel m = load_model(dir.path());
    quantize_model(*m.model, *m.tokenizer, o);
    const auto group = [&](const Linear& l) {
      return dynamic_cast<const FakeQuantLinear*>(&l)->quantized_weight()->spec.group_size;
    };
    EXPECT_EQ(group(*m.model->weights().layers[0].w_down), 0);
    EXPECT_EQ(group(*m.model->weights().layers[1].wq), 16);
    EXPECT_EQ(group(*m.model->weights().layers[0].wq), 32);
    save_quantized_model(*m.model, dir.path(), dir / "groups.lowbit", {{"method", "rtn"}});
    LoadedModel packed = load_model(dir / "groups.lowbit");
    const std::vector<int32_t> ids = {1, 300, 301, 45, 46};
    KVCache a = m.model->make_cache(8), b = packed.model->make_cache(8);
    const auto want = m.model->forward(ids, a, LogitsFor::kAllTokens);
    const std::vector<float> sim(want.begin(), want.end());
    const auto got = packed.model->forward(ids, b, LogitsFor::kAllTokens);
    for (size_t i = 0; i < sim.size(); ++i) ASSERT_NEAR(got[i], sim[i], 1e-3) << i;

    o.bits_map = BitsMap::parse("down_proj=4g48");  // 48 does not divide 128
    LoadedModel again = load_model(dir.path());
    const std::string e =
        testing::error_of([&] { quantize_model(*again.model, *again.tokenizer, o); });
    EXPECT_NE(e.find("--bits-map: layers.0.down_proj: group size 48 does not divide the row "
                     "length 128"),
              std::string::npos)
        << e;
  }
  // Methods that cannot take a map say so.
  QuantizeOptions o;
  o.method = MethodSpec::parse("nf4");
  o.weight = QuantSpec{.bits = 4, .group_size = 32};
  o.bits_map = BitsMap::parse("down_proj=8");
  LoadedModel m = load_model(dir.path());
  const std::string e = testing::error_of([&] { quantize_model(*m.model, *m.tokenizer, o); });
  EXPECT_NE(e.find("rule 'down_proj=8': nf4 is 4-bit"), std::string::npos) << e;
}

}  // namespace
}  // namespace lowbit
