// The method registry: every row is consistent, and parsing, naming, calibration needs, the
// weight-only rule and parameter validation all follow the table.
#include "quant/method_registry.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "core/error.h"
#include "quant/quant_pass.h"
#include "quant/quantize_options.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

using testing::error_of;

TEST(MethodRegistry, RowsAreComplete) {
  std::set<std::string_view> names;
  for (const MethodInfo& m : method_registry()) {
    EXPECT_TRUE(names.insert(m.name).second) << "duplicate " << m.name;
    EXPECT_EQ(find_method(m.name), &m);
    EXPECT_NE(m.make, nullptr) << m.name;
    EXPECT_FALSE(m.summary.empty()) << m.name;
    if (m.needs.gram) {
      EXPECT_TRUE(m.needs.activation_stats) << m.name;
    }
    for (std::string_view p : m.params) EXPECT_NO_THROW(method_param(p)) << m.name << ": " << p;
    // Every row makes a pass.
    QuantizeOptions o;
    EXPECT_NE(m.make(o), nullptr) << m.name;
  }
  EXPECT_EQ(find_method("frobnicate"), nullptr);
  // Every parameter is read by some method.
  for (const MethodParam& p : method_params()) {
    bool used = false;
    for (const MethodInfo& m : method_registry())
      for (std::string_view q : m.params) used |= q == p.name;
    EXPECT_TRUE(used) << p.name;
    EXPECT_GE(p.default_value, p.min) << p.name;
    EXPECT_LE(p.default_value, p.max) << p.name;
  }
}

TEST(MethodRegistry, ParseOrdersByKindAndAddsTheDefaultWeightQuantizer) {
  EXPECT_EQ(MethodSpec::parse("rtn").name(), "rtn");
  EXPECT_EQ(MethodSpec::parse("duquant").name(), "duquant+rtn");
  EXPECT_EQ(MethodSpec::parse("gptq+duquant").name(), "duquant+gptq");
  EXPECT_EQ(MethodSpec::parse("smoothquant+gptq").passes.size(), 2u);
  EXPECT_EQ(MethodSpec::parse("hadamard").pass_of_kind(MethodKind::kTransform)->name, "hadamard");
  EXPECT_EQ(MethodSpec::parse("hadamard").pass_of_kind(MethodKind::kCorrection), nullptr);
}

TEST(MethodRegistry, ParseErrorsNameTheTextAndTheChoices) {
  EXPECT_NE(
      error_of([] { MethodSpec::parse("rtn+frobnicate"); }).find("unknown method 'frobnicate'"),
      std::string::npos);
  EXPECT_NE(error_of([] { MethodSpec::parse("rtn+frobnicate"); }).find("known: smoothquant"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              MethodSpec::parse("hadamard+duquant");
            }).find("at most one of smoothquant, hadamard, duquant"),
            std::string::npos);
  EXPECT_NE(error_of([] { MethodSpec::parse("gptq+awq"); }).find("at most one of rtn, gptq, awq"),
            std::string::npos);
  EXPECT_NE(error_of([] { MethodSpec::parse("duquant+awq"); }).find("awq is a weight-only method"),
            std::string::npos);
  EXPECT_NE(error_of([] { MethodSpec::parse(""); }).find("--method is empty"), std::string::npos);
}

TEST(MethodRegistry, NeedsAndWeightOnlyComeFromTheRows) {
  EXPECT_FALSE(MethodSpec::parse("rtn").needs_calibration());
  EXPECT_FALSE(MethodSpec::parse("hadamard").needs_calibration());
  EXPECT_TRUE(MethodSpec::parse("hadamard+gptq").needs_calibration());
  EXPECT_TRUE(MethodSpec::parse("smoothquant").needs_calibration());
  EXPECT_TRUE(MethodSpec::parse("duquant").needs_calibration());
  EXPECT_TRUE(MethodSpec::parse("awq").needs_calibration());
  EXPECT_TRUE(MethodSpec::parse("awq").weight_only());
  EXPECT_FALSE(MethodSpec::parse("duquant+gptq").weight_only());
}

TEST(MethodRegistry, DescribesKindsForHelp) {
  EXPECT_EQ(
      describe_method_kinds(),
      "a transform (smoothquant, hadamard, duquant), a weight quantizer (rtn, gptq, awq, hqq, "
      "nf4, squeezellm, llm-int8), a correction (lorc) and a learned pass (lwc)");
}

TEST(MethodParams, DefaultsSetAndValidation) {
  MethodParams p;
  EXPECT_EQ(p.real("alpha"), 0.5);
  EXPECT_EQ(p.integer("duquant-block"), 128);
  EXPECT_FALSE(p.enabled("act-order"));
  p.set("alpha", 0.85);
  p.set("act-order", 1);
  EXPECT_EQ(p.real("alpha"), 0.85);
  EXPECT_TRUE(p.enabled("act-order"));
  EXPECT_NO_THROW(p.validate("alpha"));
  EXPECT_THROW(p.set("frobnicate", 1), Error);
  EXPECT_THROW(p.real("frobnicate"), Error);

  p.set("alpha", 1.5);
  EXPECT_EQ(error_of([&] { p.validate("alpha"); }), "--alpha must be in [0, 1], got 1.5");
  p.set("duquant-steps", -1);
  EXPECT_EQ(error_of([&] { p.validate("duquant-steps"); }), "--duquant-steps must be >= 0, got -1");
  p.set("duquant-block", 12.5);
  EXPECT_EQ(error_of([&] { p.validate("duquant-block"); }),
            "--duquant-block must be an integer, got 12.5");
}

TEST(QuantizeOptions, ValidateRunsTheMethodsOwnChecks) {
  ModelConfig c;
  c.dim = 64;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 16;
  c.hidden_dim = 96;
  QuantizeOptions o;
  o.method = MethodSpec::parse("duquant");
  o.calib.file = "calib.txt";
  o.params.set("duquant-block", 64);  // does not divide hidden_dim 96
  EXPECT_NE(error_of([&] { o.validate(c); }).find("--duquant-block 64 does not divide"),
            std::string::npos);
  o.params.set("duquant-block", 32);
  EXPECT_NO_THROW(o.validate(c));
  o.calib.file.clear();
  EXPECT_EQ(error_of([&] { o.validate(c); }), "--method duquant+rtn needs --calib FILE");
  o.method = MethodSpec::parse("hadamard");  // needs no calibration file
  EXPECT_NO_THROW(o.validate(c));
}

}  // namespace
}  // namespace lowbit
