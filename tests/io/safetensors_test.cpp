#include "io/safetensors.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

using testing::TempDir;

std::string header_file(const std::string& json, size_t data_bytes) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[static_cast<size_t>(i)] = static_cast<char>((json.size() >> (8 * i)) & 0xff);
  return out + json + std::string(data_bytes, '\0');
}

// Opening `bytes` as a safetensors file throws an Error whose message contains `needle`.
void expect_error(const std::string& bytes, const std::string& needle) {
  TempDir dir;
  testing::write_file(dir / "bad.safetensors", bytes);
  try {
    SafetensorsFile f(dir / "bad.safetensors");
    FAIL() << "no error; expected one mentioning: " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.safetensors"), std::string::npos) << e.what();
  }
}

TEST(Safetensors, ReadsF32F16Bf16) {
  TempDir dir;
  std::map<std::string, testing::RawTensor> t;
  t["a"] = testing::f32_tensor({2, 2}, {1.0f, -2.5f, 3.0f, 0.125f});
  t["b"] = testing::bf16_tensor({3}, {1.0f, -2.0f, 0.5f});
  t["c"] = {"F16", {2}, {0x00, 0x3c, 0x00, 0xc0}};  // 1.0, -2.0
  testing::write_file(dir / "x.safetensors", testing::safetensors_bytes(t));
  SafetensorsFile f(dir / "x.safetensors");
  EXPECT_EQ(f.tensors().size(), 3u);
  EXPECT_EQ(f.tensor("a").shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(f.to_f32("a"), (std::vector<float>{1.0f, -2.5f, 3.0f, 0.125f}));
  EXPECT_EQ(f.to_f32("b"), (std::vector<float>{1.0f, -2.0f, 0.5f}));
  EXPECT_EQ(f.to_f32("c"), (std::vector<float>{1.0f, -2.0f}));
  EXPECT_THROW(f.tensor("missing"), Error);
}

TEST(Safetensors, MissingFile) {
  EXPECT_THROW(SafetensorsFile("/nonexistent/model.safetensors"), Error);
}

TEST(Safetensors, TruncatedBelowHeaderLength) {
  expect_error("abc", "truncated");
}

TEST(Safetensors, EmptyFile) {
  expect_error("", "truncated");
}

TEST(Safetensors, HeaderLengthLargerThanFile) {
  std::string bytes = header_file("{}", 0);
  bytes[0] = static_cast<char>(0xff);
  bytes[5] = 0x01;
  expect_error(bytes, "exceeds the file size");
}

TEST(Safetensors, HeaderNotJson) {
  expect_error(header_file("{not json", 0), "invalid JSON");
}

TEST(Safetensors, HeaderNotObject) {
  expect_error(header_file("[1,2]", 0), "does not start with '{'");
}

TEST(Safetensors, UnknownDtype) {
  expect_error(header_file(R"({"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,2]}})", 2),
               "unknown dtype \"Q4\"");
}

TEST(Safetensors, OffsetsOutOfRange) {
  expect_error(header_file(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
               "out of range");
}

TEST(Safetensors, OffsetsReversed) {
  expect_error(header_file(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 8),
               "out of range");
}

TEST(Safetensors, SizeDisagreesWithShape) {
  expect_error(header_file(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
               "needs 12");
}

TEST(Safetensors, NegativeDimension) {
  expect_error(header_file(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
               "non-negative");
}

TEST(Safetensors, MissingFields) {
  expect_error(header_file(R"({"w":{"dtype":"F32"}})", 0), "dtype, shape and data_offsets");
}

TEST(Safetensors, TruncatedData) {
  std::map<std::string, testing::RawTensor> t;
  t["a"] = testing::f32_tensor({4}, {1, 2, 3, 4});
  std::string bytes = testing::safetensors_bytes(t);
  bytes.resize(bytes.size() - 4);
  expect_error(bytes, "out of range");
}

// As strict as the reference implementation: these files load garbage or nothing there.
TEST(Safetensors, GapBetweenTensors) {
  expect_error(header_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                           R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                           12),
               "4 unused bytes before tensor \"b\"");
}

TEST(Safetensors, OverlappingTensors) {
  expect_error(header_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                           R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                           8),
               "overlaps");
}

TEST(Safetensors, TrailingBytesAfterTheLastTensor) {
  expect_error(header_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 12),
               "cover 4 bytes of the 12-byte data section");
}

TEST(Safetensors, DuplicateTensorName) {
  expect_error(header_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                           R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                           8),
               "duplicate JSON key \"a\"");
}

TEST(Safetensors, HeaderMustStartWithABrace) {
  expect_error(header_file(R"(  {"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4),
               "does not start with '{'");
}

TEST(Safetensors, MetadataMustMapStringsToStrings) {
  expect_error(header_file(R"({"__metadata__":{"format":1}})", 0), "is not a string");
  expect_error(header_file(R"({"__metadata__":[1]})", 0), "__metadata__ is not an object");
}

TEST(Safetensors, FractionalOffsetOrDimension) {
  expect_error(header_file(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4),
               "non-negative integer");
  expect_error(header_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4.0]}})", 4),
               "non-negative integer");
}

TEST(Safetensors, DeeplyNestedHeader) {
  std::string deep = R"({"__metadata__":)";
  for (int i = 0; i < 100000; ++i) deep += '[';
  expect_error(header_file(deep, 0), "nested deeper than 64");
}

TEST(Safetensors, TrailingSpacesPadTheHeader) {
  TempDir dir;
  testing::write_file(
      dir / "x.safetensors",
      header_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}   )", 4));
  EXPECT_EQ(SafetensorsFile(dir / "x.safetensors").tensors().size(), 1u);
}

TEST(Safetensors, IntegerTensorIsNotConvertedToFloat) {
  TempDir dir;
  std::map<std::string, testing::RawTensor> t;
  t["i"] = {"I32", {1}, {1, 0, 0, 0}};
  testing::write_file(dir / "x.safetensors", testing::safetensors_bytes(t));
  SafetensorsFile f(dir / "x.safetensors");
  EXPECT_THROW(f.to_f32("i"), Error);
}

}  // namespace
}  // namespace lowbit
