#include "io/gguf_reader.h"

#include <gtest/gtest.h>

#include <cstring>

#include "core/error.h"
#include "testing/fixtures.h"
#include "testing/gguf_bytes.h"

namespace lowbit {
namespace {

using testing::GgufBytes;
using testing::TempDir;

// Opening `bytes` throws an Error naming the file and containing `needle`.
void expect_error(const std::string& bytes, const std::string& needle) {
  TempDir dir;
  testing::write_file(dir / "bad.gguf", bytes);
  const std::string msg = testing::error_of([&] { GgufFile f(dir / "bad.gguf"); });
  EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  EXPECT_NE(msg.find("bad.gguf"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

std::string f32_bytes(const std::vector<float>& v) {
  return {reinterpret_cast<const char*>(v.data()), v.size() * 4};
}

TEST(GgufReader, ReadsMetadataOfEveryTypeAndTensors) {
  GgufBytes g;
  g.u32("general.alignment", 64);
  g.alignment = 64;
  g.str("general.architecture", "llama");
  g.i32("i", -7);
  g.f32("f", 0.5f);
  g.boolean("b", true);
  g.str_array("tokens", {"a", "", "ccc"});
  g.f32_array("scores", {1.5f, -2.0f});
  g.raw_kv("u8", GgufBytes::le32(0) + std::string(1, '\xfe'));
  g.raw_kv("i16", GgufBytes::le32(3) + std::string("\xff\xff", 2));
  g.raw_kv("u64", GgufBytes::le32(10) + GgufBytes::le64(1ull << 40));
  g.raw_kv("f64", GgufBytes::le32(12) + std::string("\0\0\0\0\0\0\xf0\x3f", 8));
  // An array of two arrays of uint16.
  g.raw_kv("nested", GgufBytes::le32(9) + GgufBytes::le32(9) + GgufBytes::le64(2) +
                         GgufBytes::le32(2) + GgufBytes::le64(1) + std::string("\x05\x00", 2) +
                         GgufBytes::le32(2) + GgufBytes::le64(0));
  g.tensor("w", {32, 2}, 0, f32_bytes(std::vector<float>(64, 1.0f)));
  g.tensor("v", {4}, 0, f32_bytes({1, 2, 3, 4}));
  TempDir dir;
  testing::write_file(dir / "ok.gguf", g.bytes());
  GgufFile f(dir / "ok.gguf");
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  EXPECT_EQ(f.find("general.architecture")->string, "llama");
  EXPECT_EQ(f.find("i")->sint, -7);
  EXPECT_EQ(f.find("f")->real, 0.5);
  EXPECT_TRUE(f.find("b")->boolean);
  EXPECT_EQ(f.find("u8")->uint, 254u);
  EXPECT_EQ(f.find("i16")->sint, -1);
  EXPECT_EQ(f.find("u64")->uint, 1ull << 40);
  EXPECT_EQ(f.find("f64")->real, 1.0);
  const GgufValue& tokens = *f.find("tokens");
  ASSERT_TRUE(tokens.is_array_of(gguf::ValueType::kString));
  EXPECT_EQ(tokens.strings, (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(f.find("scores")->at(1).real, -2.0);
  const GgufValue& nested = *f.find("nested");
  ASSERT_EQ(nested.count, 2u);
  EXPECT_EQ(nested.at(0).at(0).uint, 5u);
  EXPECT_EQ(nested.at(1).count, 0u);
  EXPECT_EQ(f.find("missing"), nullptr);
  ASSERT_EQ(f.tensors().size(), 2u);
  const GgufTensor& w = f.tensor("w");
  EXPECT_EQ(w.dims, (std::vector<int64_t>{32, 2}));
  EXPECT_EQ(w.type_name(), "F32");
  EXPECT_EQ(w.data.size(), 256u);
  EXPECT_EQ(w.data.data(), f.tensors()[0].data.data());
  float v[4];
  std::memcpy(v, f.tensor("v").data.data(), 16);
  EXPECT_EQ(v[3], 4.0f);
  EXPECT_EQ(f.tensor("v").offset % 64, 0u);
  EXPECT_NE(testing::error_of([&] { (void)f.tensor("nope"); }).find("missing tensor"),
            std::string::npos);
  EXPECT_TRUE(is_gguf_file(dir / "ok.gguf"));
}

TEST(GgufReader, AcceptsVersion2) {
  GgufBytes g;
  g.version = 2;
  g.tensor("w", {2}, 0, f32_bytes({1, 2}));
  TempDir dir;
  testing::write_file(dir / "v2.gguf", g.bytes());
  EXPECT_EQ(GgufFile(dir / "v2.gguf").version(), 2u);
}

TEST(GgufReader, RejectsBadMagicAndVersions) {
  GgufBytes g;
  g.magic = 0x4c4c4747;
  expect_error(g.bytes(), "not a GGUF file");
  expect_error("GG", "truncated");
  expect_error("", "truncated");
  for (const uint32_t v : {1u, 4u, 0x03000000u}) {
    GgufBytes h;
    h.version = v;
    expect_error(h.bytes(), "GGUF version " + std::to_string(v) + " is not supported");
  }
  expect_error(std::string("GGUF") + GgufBytes::le32(3) + "\1\0", "truncated: tensor_count");
}

TEST(GgufReader, RejectsImpossibleCounts) {
  GgufBytes g;
  g.kv_count = 1ll << 40;
  expect_error(g.bytes(), "metadata_kv_count 1099511627776 is impossible");
  GgufBytes h;
  h.tensor_count = 1000;
  expect_error(h.bytes(), "tensor_count 1000 is impossible");
  GgufBytes k;  // a count that fits the file but whose entries are missing
  k.u32("a", 1);
  k.kv_count = 2;
  k.tensor_count = 0;
  k.pad = false;
  std::string b = k.bytes() + std::string(13, '\xff');
  expect_error(b, "metadata key 1 length 18446744073709551615 at offset");
}

TEST(GgufReader, RejectsStringsAndArraysBeyondTheFile) {
  GgufBytes g;
  g.raw_kv("s", GgufBytes::le32(8) + GgufBytes::le64(1ull << 50) + "abc");
  expect_error(g.bytes(), "metadata \"s\" length 1125899906842624 at offset");
  GgufBytes k;
  k.raw_kv(std::string(5, 'k'), "");  // the key, then nothing
  k.pad = false;
  expect_error(k.bytes(), "metadata \"kkkkk\" type");
  GgufBytes a;
  a.raw_kv("arr", GgufBytes::le32(9) + GgufBytes::le32(5) + GgufBytes::le64(1ull << 60));
  expect_error(a.bytes(), "metadata \"arr\" count 1152921504606846976");
  GgufBytes key;
  key.raw_kv("", "");
  key.pad = false;
  std::string b = key.bytes() + std::string(16, '\0');
  // Overwrite the key length with one past the file.
  const std::string huge = GgufBytes::le64(1ull << 33);
  std::copy(huge.begin(), huge.end(), b.begin() + 24);
  expect_error(b, "metadata key 0 length 8589934592");
}

TEST(GgufReader, RejectsUnknownValueTypesBadBoolsAndDeepNesting) {
  GgufBytes g;
  g.raw_kv("x", GgufBytes::le32(13) + GgufBytes::le32(0));
  expect_error(g.bytes(), "metadata \"x\" has unknown value type 13");
  GgufBytes e;
  e.raw_kv("x", GgufBytes::le32(9) + GgufBytes::le32(77) + GgufBytes::le64(0));
  expect_error(e.bytes(), "metadata \"x\" has unknown element type 77");
  GgufBytes b;
  b.raw_kv("flag", GgufBytes::le32(7) + std::string(1, '\2'));
  expect_error(b.bytes(), "metadata \"flag\" is a bool stored as 2");
  GgufBytes ba;
  ba.raw_kv("flags", GgufBytes::le32(9) + GgufBytes::le32(7) + GgufBytes::le64(2) + "\1\7");
  expect_error(ba.bytes(), "metadata \"flags\"[1] is a bool stored as 7");
  std::string deep;
  for (int i = 0; i < 20; ++i) deep += GgufBytes::le32(9) + GgufBytes::le64(1);
  GgufBytes d;
  d.raw_kv("deep", GgufBytes::le32(9) + deep + std::string(64, '\0'));
  expect_error(d.bytes(), "nests arrays deeper than 8 levels");
}

TEST(GgufReader, RejectsDuplicates) {
  GgufBytes g;
  g.u32("a", 1);
  g.u32("a", 2);
  expect_error(g.bytes(), "duplicate metadata key \"a\"");
  GgufBytes t;
  t.tensor("w", {2}, 0, f32_bytes({1, 2}));
  t.tensor("w", {2}, 0, f32_bytes({1, 2}));
  expect_error(t.bytes(), "duplicate tensor name \"w\"");
}

TEST(GgufReader, RejectsBadAlignment) {
  GgufBytes g;
  g.u32("general.alignment", 24);
  expect_error(g.bytes(), "general.alignment 24 is not a power of two");
  GgufBytes z;
  z.u32("general.alignment", 0);
  expect_error(z.bytes(), "general.alignment 0 is not a power of two");
  GgufBytes t;
  t.str("general.alignment", "32");
  expect_error(t.bytes(), "general.alignment is string, expected uint32");
}

TEST(GgufReader, RejectsBadTensorInfos) {
  {
    GgufBytes g;
    g.tensor("w", {2}, 31, f32_bytes({1, 2}));
    expect_error(g.bytes(), "tensor \"w\" has tensor type 31, which lowbit does not read");
  }
  {
    GgufBytes g;
    g.tensor("w", {}, 0, "");
    expect_error(g.bytes(), "tensor \"w\" has 0 dimensions");
  }
  {
    GgufBytes g;
    g.tensor("w", {1, 1, 1, 1, 1}, 0, f32_bytes({1}));
    expect_error(g.bytes(), "tensor \"w\" has 5 dimensions");
  }
  {
    GgufBytes g;
    g.tensor("w", {2, 0}, 0, "");
    expect_error(g.bytes(), "tensor \"w\" dims[1] = 0 is out of range");
  }
  {
    GgufBytes g;  // each dimension allowed, their product not
    g.tensor("w", {1u << 30, 1u << 30, 1u << 30}, 0, "");
    expect_error(g.bytes(), "have more elements than fit in 64 bits");
  }
  {
    GgufBytes g;  // 2^62 elements: in range, but far larger than the file
    g.tensor("w", {1u << 31, 1u << 31}, 0, "");
    expect_error(g.bytes(), "is larger than the file");
  }
  {
    GgufBytes g;
    g.tensor("w", {48}, 2, std::string(36, '\0'));  // Q4_0 rows hold whole blocks of 32
    expect_error(g.bytes(), "tensor \"w\" has 48 values per row, not a multiple of the Q4_0 block");
  }
  {
    GgufBytes g;
    g.tensor(std::string(65, 'n'), {2}, 0, f32_bytes({1, 2}));
    expect_error(g.bytes(), "tensor 0 name length 65 exceeds the limit of 64 bytes");
  }
}

TEST(GgufReader, RejectsBadOffsets) {
  {
    GgufBytes g;
    g.tensor("w", {2}, 0, f32_bytes({1, 2}), 8);
    expect_error(g.bytes(), "tensor \"w\" offset 8 is not a multiple of the alignment 32");
  }
  {
    GgufBytes g;  // data past the end of the file
    g.tensor("w", {16}, 0, f32_bytes({1, 2}));
    expect_error(g.bytes(), "tensor \"w\" bytes [0, 64) of the data section run past its end");
  }
  {
    GgufBytes g;  // an offset so large that offset + size wraps around
    g.tensor("w", {2}, 0, "", static_cast<int64_t>(~0ull - 31));
    expect_error(g.bytes(), "run past its end");
  }
  {
    GgufBytes g;
    g.tensor("a", {16}, 0, f32_bytes(std::vector<float>(16, 1.0f)), 0);
    g.tensor("b", {2}, 0, f32_bytes({1, 2}), 32);
    expect_error(g.bytes(), "tensors \"a\" (bytes [0, 64)) and \"b\" (from 32) overlap");
  }
  {
    GgufBytes g;  // truncated inside the tensor infos
    g.tensor("w", {2}, 0, f32_bytes({1, 2}));
    std::string b = g.bytes();
    expect_error(b.substr(0, 24 + 32), "truncated: tensor \"w\" offset");
  }
}

TEST(GgufReader, IsGgufFileIsCheap) {
  TempDir dir;
  testing::write_file(dir / "x.gguf", "GGU");
  EXPECT_FALSE(is_gguf_file(dir / "x.gguf"));
  EXPECT_FALSE(is_gguf_file(dir.path()));
  EXPECT_FALSE(is_gguf_file(dir / "absent.gguf"));
}

}  // namespace
}  // namespace lowbit
