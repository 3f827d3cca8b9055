#include "io/lowbit_file.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>

#include "core/error.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

using testing::TempDir;

// A valid two-tensor file, returned as bytes so tests can corrupt it.
std::string valid_file_bytes(const TempDir& dir) {
  LowbitFileWriter w;
  const std::vector<float> a = {1.0f, -2.0f, 3.5f, 0.25f, 7.0f, 8.0f};
  const std::vector<uint8_t> b = {1, 2, 3, 250, 251};
  w.add_f32("a", {2, 3}, a);
  w.add_u8("b", {5}, b);
  w.metadata()["answer"] = 42;
  w.write(dir / "ok.lowbit");
  return testing::read_file(dir / "ok.lowbit");
}

uint64_t header_len(const std::string& bytes) {
  uint64_t n;
  std::memcpy(&n, bytes.data() + 16, 8);
  return n;
}

size_t round64(size_t n) {
  return (n + 63) / 64 * 64;
}

// Rewrites the header JSON of a valid file with one edit, keeping the checksum and the data
// section right, so the reader's later checks (bounds, sizes) are the ones that must fire.
std::string with_header(const std::string& bytes, const std::string& from, const std::string& to) {
  const uint64_t n = header_len(bytes);
  std::string header = bytes.substr(24, n);
  const auto pos = header.find(from);
  EXPECT_NE(pos, std::string::npos) << header;
  header.replace(pos, from.size(), to);
  std::string out = bytes.substr(0, 24) + header;
  out.append(round64(out.size()) - out.size(), '\0');
  out += bytes.substr(round64(24 + n));
  const uint64_t len = header.size();
  std::memcpy(out.data() + 16, &len, 8);
  const auto crc = static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(header.data()), static_cast<uInt>(header.size())));
  std::memcpy(out.data() + 12, &crc, 4);
  return out;
}

void expect_error(const std::string& bytes, const std::string& needle) {
  TempDir dir;
  testing::write_file(dir / "bad.lowbit", bytes);
  try {
    LowbitFile f(dir / "bad.lowbit");
    FAIL() << "no error; expected one mentioning: " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.lowbit"), std::string::npos) << e.what();
  }
}

TEST(LowbitFile, RoundTripsTensorsAndMetadata) {
  TempDir dir;
  valid_file_bytes(dir);
  LowbitFile f(dir / "ok.lowbit");
  EXPECT_EQ(f.metadata()["answer"], 42);
  const auto& a = f.tensor("a");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  ASSERT_EQ(a.f32().size(), 6u);
  EXPECT_EQ(a.f32()[2], 3.5f);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data.data()) % 64, 0u);  // aligned in the mapping
  EXPECT_EQ(f.tensor("b").u8()[4], 251);
  EXPECT_THROW(f.tensor("missing"), Error);
  EXPECT_TRUE(is_lowbit_file(dir / "ok.lowbit"));
  // No temporary file is left beside the output.
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1u);
}

TEST(LowbitFile, RoundTripsU16AndRefusesTheWrongView) {
  TempDir dir;
  LowbitFileWriter w;
  const std::vector<uint16_t> v = {0, 1, 65535, 300};
  w.add_u16("cols", {4}, v);
  w.write(dir / "u16.lowbit");
  LowbitFile f(dir / "u16.lowbit");
  const auto& t = f.tensor("cols");
  EXPECT_EQ(t.dtype, LowbitDType::kU16);
  EXPECT_EQ(std::vector<uint16_t>(t.u16().begin(), t.u16().end()), v);
  EXPECT_THROW((void)t.i32(), Error);
  EXPECT_THROW((void)t.f16_as_f32(), Error);
  EXPECT_THROW((void)f.tensor("a").u16(), Error);
}

TEST(LowbitFile, RejectsBadMagicAndVersion) {
  TempDir dir;
  const std::string ok = valid_file_bytes(dir);
  std::string bad = ok;
  bad[0] = 'X';
  expect_error(bad, "bad magic");
  bad = ok;
  bad[8] = 9;
  expect_error(bad, "version 9");
  expect_error("LOWB", "bad magic");
  expect_error("", "bad magic");
}

TEST(LowbitFile, RejectsHeaderCorruption) {
  TempDir dir;
  const std::string ok = valid_file_bytes(dir);
  std::string bad = ok;
  bad[30] = static_cast<char>(bad[30] ^ 0x20);
  expect_error(bad, "header checksum mismatch");
  bad = ok;
  const uint64_t huge = ok.size() * 2;
  std::memcpy(bad.data() + 16, &huge, 8);
  expect_error(bad, "exceeds the file size");
  expect_error(with_header(ok, "\"metadata\"", "\"metadatX\""), "missing field metadata");
}

TEST(LowbitFile, RejectsTensorsOutsideTheFileAndWrongSizes) {
  TempDir dir;
  const std::string ok = valid_file_bytes(dir);
  expect_error(with_header(ok, "\"offset\":64", "\"offset\":6400"), "outside the data section");
  expect_error(with_header(ok, "\"offset\":64", "\"offset\":65"), "aligned");
  expect_error(with_header(ok, "\"shape\":[5]", "\"shape\":[4]"), "do not match shape");
  expect_error(with_header(ok, "\"dtype\":\"U8\"", "\"dtype\":\"Q9\""), "unknown dtype");
  // Truncated data section.
  expect_error(ok.substr(0, ok.size() - 3), "outside the data section");
}

TEST(LowbitFile, RejectsDataCorruption) {
  TempDir dir;
  std::string bad = valid_file_bytes(dir);
  bad[bad.size() - 1] = static_cast<char>(bad[bad.size() - 1] ^ 1);
  expect_error(bad, "data checksum mismatch");
}

TEST(LowbitFile, WriterRejectsInconsistentTensors) {
  LowbitFileWriter w;
  const std::vector<float> v(5);
  EXPECT_THROW(w.add_f32("x", {2, 3}, v), Error);
  w.add_f32("x", {5}, v);
  EXPECT_THROW(w.add_f32("x", {5}, v), Error);
  TempDir dir;
  EXPECT_THROW(w.write(dir / "no-such-folder" / "x.lowbit"), Error);
}

// Spilling tensor data to a nameless temporary file writes the same bytes as holding it in
// memory, and leaves nothing in the spill folder.
TEST(LowbitFile, SpilledWriterWritesTheSameBytes) {
  TempDir dir;
  const std::string in_memory = valid_file_bytes(dir);
  std::filesystem::create_directories(dir / "spill");
  {
    LowbitFileWriter w(dir / "spill");
    const std::vector<float> a = {1.0f, -2.0f, 3.5f, 0.25f, 7.0f, 8.0f};
    const std::vector<uint8_t> b = {1, 2, 3, 250, 251};
    w.add_f32("a", {2, 3}, a);
    w.add_u8("b", {5}, b);
    w.metadata()["answer"] = 42;
    EXPECT_TRUE(std::filesystem::is_empty(dir / "spill"));
    w.write(dir / "spilled.lowbit");
  }
  EXPECT_EQ(testing::read_file(dir / "spilled.lowbit"), in_memory);
  EXPECT_TRUE(std::filesystem::is_empty(dir / "spill"));
  EXPECT_THROW(LowbitFileWriter(dir / "no-such-folder"), Error);
}

}  // namespace
}  // namespace lowbit
