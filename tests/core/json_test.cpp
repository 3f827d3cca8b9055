// The JSON reader for untrusted files: bounded depth, no duplicate keys, exact integers, and
// errors that name the file and field.
#include "core/json.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "core/error.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

using testing::error_of;

TEST(Json, ParsesAndNamesTheSourceOnSyntaxErrors) {
  EXPECT_EQ(parse_json(R"({"a": [1, 2]})", "f.json")["a"][1], 2);
  const std::string e = error_of([] { parse_json("{\"a\": ", "f.json"); });
  EXPECT_EQ(e.rfind("f.json: invalid JSON: ", 0), 0u) << e;
  EXPECT_EQ(e.find("[json.exception"), std::string::npos) << e;
}

TEST(Json, NestingIsBounded) {
  // 20,000 levels crashed the tokenizer reader (unbounded recursion); 64 is the limit.
  std::string deep(20000, '[');
  EXPECT_NE(error_of([&] { parse_json(deep, "deep.json"); }).find("nested deeper than 64"),
            std::string::npos);
  std::string ok(63, '[');
  ok += std::string(63, ']');
  EXPECT_NO_THROW(parse_json(ok, "ok.json"));
  std::string objects;
  for (int i = 0; i < 100; ++i) objects += R"({"a":)";
  EXPECT_NE(error_of([&] { parse_json(objects, "o.json"); }).find("nested deeper"),
            std::string::npos);
}

TEST(Json, DuplicateKeysAreRejectedAtAnyDepth) {
  EXPECT_NE(
      error_of([] { parse_json(R"({"a":1,"a":2})", "d.json"); }).find("duplicate JSON key \"a\""),
      std::string::npos);
  EXPECT_NE(error_of([] { parse_json(R"({"x":{"b":1,"b":1}})", "d.json"); }).find("\"b\""),
            std::string::npos);
  // The same key in sibling objects is fine.
  EXPECT_NO_THROW(parse_json(R"([{"a":1},{"a":2}])", "d.json"));
}

TEST(Json, IntegersAreExact) {
  const Json j = parse_json(
      R"({"n": 4096, "f": 4096.0, "frac": 4096.5, "big": 1e30, "neg": -1, "s": "7",
          "huge": 18446744073709551615})",
      "config.json");
  const JsonFields f(j, "config.json");
  EXPECT_EQ(f.integer("n", 1, 1 << 20), 4096);
  EXPECT_EQ(f.integer("f", 1, 1 << 20), 4096);  // an integral float is the integer
  EXPECT_NE(
      error_of([&] { f.integer("frac", 1, 1 << 20); }).find("frac = 4096.5 is not an integer"),
      std::string::npos);
  EXPECT_NE(error_of([&] { f.integer("big", 1, 1 << 20); }).find("out of range"),
            std::string::npos);
  EXPECT_NE(error_of([&] { f.integer("neg", 0, 10); }).find("neg = -1 is out of range [0, 10]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { f.integer("s", 0, 10); }).find("s must be an integer, got string"),
            std::string::npos);
  EXPECT_NE(error_of([&] { f.integer("huge", 0, 10); }).find("out of range"), std::string::npos);
  EXPECT_NE(error_of([&] { f.integer("missing", 0, 10); }).find("config.json: missing field"),
            std::string::npos);
  EXPECT_EQ(f.integer_or("missing", 3, 0, 10), 3);
}

TEST(Json, TypedFieldsNameTheirPath) {
  const Json j = parse_json(R"({"model": {"flag": "yes", "name": 3, "x": null}})", "tok.json");
  const JsonFields model = JsonFields(j, "tok.json").object("model");
  EXPECT_NE(error_of([&] { model.boolean("flag"); }).find("tok.json: model.flag must be true or"),
            std::string::npos);
  EXPECT_NE(error_of([&] { model.string("name"); }).find("model.name must be a string"),
            std::string::npos);
  EXPECT_FALSE(model.has("x"));  // null is absent
  EXPECT_TRUE(model.boolean_or("x", true));
  EXPECT_NE(error_of([&] { JsonFields(j, "tok.json").object("nope"); }).find("missing field nope"),
            std::string::npos);
}

TEST(Json, FilesMustBeRegular) {
  testing::TempDir dir;
  EXPECT_NE(error_of([&] { read_json_file(dir / "none.json"); }).find("no such file"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_json_file(dir.path()); }).find("not a regular file"),
            std::string::npos);
  // A FIFO is refused at once (opening it for reading would wait for a writer forever).
  ASSERT_EQ(::mkfifo((dir / "fifo.json").c_str(), 0600), 0);
  EXPECT_NE(error_of([&] { read_json_file(dir / "fifo.json"); }).find("not a regular file"),
            std::string::npos);
  testing::write_file(dir / "ok.json", R"({"a": true})");
  EXPECT_TRUE(read_json_file(dir / "ok.json")["a"].get<bool>());
}

}  // namespace
}  // namespace lowbit
