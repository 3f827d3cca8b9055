#include "io/gguf_writer.h"

#include <gtest/gtest.h>

#include <sstream>

#include "core/error.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

using gguf::TensorType;
using testing::TempDir;

// Little-endian pieces of an expected file, spelled out independently of the writer.
std::string u32(uint32_t v) {
  std::string s;
  for (int i = 0; i < 4; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}
std::string u64(uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}
std::string str(const std::string& s) {
  return u64(s.size()) + s;
}

std::vector<std::byte> bytes_of(std::initializer_list<uint8_t> v) {
  std::vector<std::byte> out;
  for (uint8_t b : v) out.push_back(static_cast<std::byte>(b));
  return out;
}

std::string written(const GgufWriter& w) {
  std::ostringstream out;
  w.write(out);
  return out.str();
}

TEST(GgufWriter, TinyFileIsByteExact) {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  const int32_t values[] = {1, -2};
  w.set_array_i32("a", values);
  // 3 F32 values: 1.0, -2.0, 0.5.
  w.add_tensor("t", {3}, TensorType::kF32,
               bytes_of({0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x3f}));

  std::string expected = "GGUF" + u32(3) + u64(1) + u64(2);         // 24 bytes
  expected += str("general.architecture") + u32(8) + str("llama");  // 45 -> 69
  expected += str("a") + u32(9) + u32(5) + u64(2) + u32(1) + u32(static_cast<uint32_t>(-2));
  //                                                                     33 -> 102
  expected += str("t") + u32(1) + u64(3) + u32(0) + u64(0);  // 33 -> 135
  ASSERT_EQ(expected.size(), 135u);
  expected += std::string(160 - 135, '\0');  // the data section starts at a multiple of 32
  expected += std::string("\x00\x00\x80\x3f\x00\x00\x00\xc0\x00\x00\x00\x3f", 12);
  expected += std::string(32 - 12, '\0');  // each tensor padded to the alignment
  EXPECT_EQ(written(w), expected);
}

TEST(GgufWriter, AlignmentAndOffsetsOfSeveralTensors) {
  GgufWriter w;
  w.set_alignment(64);
  // Q8_0: 32 elements in 34 bytes; two rows -> 68 bytes, padded to 128.
  std::vector<std::byte> q8(68, std::byte{7});
  w.add_tensor("q", {32, 2}, TensorType::kQ8_0, q8);
  // Streamed in two pieces.
  w.add_tensor("h", {4}, TensorType::kF16, [](const GgufWriter::ByteSink& emit) {
    const auto a = bytes_of({1, 2, 3});
    const auto b = bytes_of({4, 5, 6, 7, 8});
    emit(a);
    emit(b);
  });
  const std::string file = written(w);
  std::string expected = "GGUF" + u32(3) + u64(2) + u64(1);
  expected += str("general.alignment") + u32(4) + u32(64);
  expected += str("q") + u32(2) + u64(32) + u64(2) + u32(8) + u64(0);
  expected += str("h") + u32(1) + u64(4) + u32(1) + u64(128);
  const size_t data = (expected.size() + 63) / 64 * 64;
  ASSERT_EQ(expected.size(), 131u);  // 24 + 33 (the KV) + 41 + 33 (the tensor infos)
  ASSERT_EQ(data, 192u);
  expected.resize(data, '\0');
  expected += std::string(68, '\x07') + std::string(128 - 68, '\0');
  expected += std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8) + std::string(56, '\0');
  EXPECT_EQ(file, expected);
}

TEST(GgufWriter, EveryScalarTypeAndStringArrays) {
  GgufWriter w;
  w.set_u8("u8", 0xab);
  w.set_i8("i8", -1);
  w.set_u16("u16", 0x1234);
  w.set_i16("i16", -2);
  w.set_u32("u32", 7);
  w.set_i32("i32", -7);
  w.set_f32("f32", 1.0f);
  w.set_bool("b", true);
  w.set_u64("u64", 9);
  w.set_i64("i64", -9);
  w.set_f64("f64", 2.0);
  const std::vector<std::string> tokens = {"<s>", "", "\xe2\x96\x81the"};
  w.set_array_string("s", tokens);
  const float scores[] = {0.5f};
  w.set_array_f32("f", scores);
  const uint32_t u[] = {3};
  w.set_array_u32("u", u);
  w.set_u32("u32", 8);  // replaces, keeping its place

  std::string expected = "GGUF" + u32(3) + u64(0) + u64(14);
  expected += str("u8") + u32(0) + "\xab";
  expected += str("i8") + u32(1) + "\xff";
  expected += str("u16") + u32(2) + "\x34\x12";
  expected += str("i16") + u32(3) + "\xfe\xff";
  expected += str("u32") + u32(4) + u32(8);
  expected += str("i32") + u32(5) + u32(static_cast<uint32_t>(-7));
  expected += str("f32") + u32(6) + u32(0x3f800000);
  expected += str("b") + u32(7) + "\x01";
  expected += str("u64") + u32(10) + u64(9);
  expected += str("i64") + u32(11) + u64(static_cast<uint64_t>(-9));
  expected += str("f64") + u32(12) + u64(0x4000000000000000ull);
  expected += str("s") + u32(9) + u32(8) + u64(3) + str("<s>") + str("") + str("\xe2\x96\x81the");
  expected += str("f") + u32(9) + u32(6) + u64(1) + u32(0x3f000000);
  expected += str("u") + u32(9) + u32(4) + u64(1) + u32(3);
  expected.resize((expected.size() + 31) / 32 * 32, '\0');
  EXPECT_EQ(written(w), expected);
}

TEST(GgufWriter, TensorSizesFollowTheTypeBlocks) {
  const uint64_t q4[] = {64, 3};
  EXPECT_EQ(GgufWriter::tensor_bytes("x", q4, TensorType::kQ4_0), 2u * 3 * 18);
  const uint64_t f32[] = {5, 2, 3};
  EXPECT_EQ(GgufWriter::tensor_bytes("x", f32, TensorType::kF32), 5u * 2 * 3 * 4);
  const uint64_t odd[] = {48, 2};
  EXPECT_NE(testing::error_of([&] {
              GgufWriter::tensor_bytes("w", odd, TensorType::kQ4_0);
            }).find("not a multiple of Q4_0's block of 32"),
            std::string::npos);
}

TEST(GgufWriter, RefusesBadTensors) {
  GgufWriter w;
  w.add_tensor("a", {2}, TensorType::kF32, std::vector<std::byte>(8));
  EXPECT_NE(testing::error_of([&] {
              w.add_tensor("a", {2}, TensorType::kF32, std::vector<std::byte>(8));
            }).find("duplicate tensor \"a\""),
            std::string::npos);
  EXPECT_NE(testing::error_of([&] {
              w.add_tensor("b", {2}, TensorType::kF32, std::vector<std::byte>(7));
            }).find("has 7 bytes; its dims and type need 8"),
            std::string::npos);
  EXPECT_NE(testing::error_of([&] {
              w.add_tensor(std::string(64, 'n'), {2}, TensorType::kF32, std::vector<std::byte>(8));
            }).find("longer than 63 bytes"),
            std::string::npos);
  EXPECT_NE(testing::error_of([&] {
              w.add_tensor("c", {2, 0}, TensorType::kF32, std::vector<std::byte>(0));
            }).find("dimension of 0"),
            std::string::npos);
  EXPECT_NE(testing::error_of([&] {
              w.add_tensor("d", {1, 1, 1, 1, 1}, TensorType::kF32, std::vector<std::byte>(4));
            }).find("5 dimensions"),
            std::string::npos);
  EXPECT_NE(testing::error_of([&] {
              w.add_tensor("e", {2}, static_cast<TensorType>(99), std::vector<std::byte>(8));
            }).find("unknown type 99"),
            std::string::npos);
  EXPECT_NE(testing::error_of([&] { w.set_alignment(12); }).find("multiple of 8"),
            std::string::npos);
}

TEST(GgufWriter, ASourceOfTheWrongSizeLeavesNoFile) {
  TempDir dir;
  const auto path = dir / "out.gguf";
  for (size_t n : {3u, 5u}) {
    GgufWriter w;
    w.add_tensor("t", {4}, TensorType::kF32, std::vector<std::byte>(16));
    w.add_tensor("s", {1}, TensorType::kF32,
                 [n](const GgufWriter::ByteSink& emit) { emit(std::vector<std::byte>(n)); });
    const std::string err = testing::error_of([&] { w.write(path); });
    EXPECT_NE(err.find("tensor \"s\""), std::string::npos) << err;
    EXPECT_FALSE(std::filesystem::exists(path));
    size_t files = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
    EXPECT_EQ(files, 0u);  // no temporary left behind either
  }
  GgufWriter ok;
  ok.add_tensor("t", {4}, TensorType::kF32, std::vector<std::byte>(16));
  ok.write(path);
  EXPECT_EQ(std::filesystem::file_size(path), written(ok).size());
  EXPECT_EQ(testing::read_file(path), written(ok));
}

}  // namespace
}  // namespace lowbit
