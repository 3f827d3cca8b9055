#include "io/lowbit_file.h"

#include <unistd.h>
#include <zlib.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/float16.h"
#include "core/json.h"
#include "core/limits.h"

namespace lowbit {
namespace {

constexpr std::array<char, 8> kMagic = {'L', 'O', 'W', 'B', 'I', 'T', '\0', '\x1a'};
constexpr size_t kPrefixBytes = 24;
constexpr size_t kAlign = 64;

uint32_t crc32_of(std::span<const std::byte> data) {
  // zlib's crc32 takes a uInt length: feed large tensors in chunks.
  uLong crc = crc32(0L, Z_NULL, 0);
  for (size_t pos = 0; pos < data.size();) {
    const size_t n = std::min<size_t>(data.size() - pos, size_t{1} << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data() + pos), static_cast<uInt>(n));
    pos += n;
  }
  return static_cast<uint32_t>(crc);
}

template <typename T>
T read_le(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);  // the format is little-endian, as are all supported CPUs
  return v;
}

size_t round_up(size_t n) {
  return (n + kAlign - 1) / kAlign * kAlign;
}

LowbitDType dtype_from_name(const std::string& s, const std::string& where) {
  for (auto t : {LowbitDType::kF32, LowbitDType::kI32, LowbitDType::kU8, LowbitDType::kI8,
                 LowbitDType::kPacked, LowbitDType::kF16, LowbitDType::kU16})
    if (s == lowbit_dtype_name(t)) return t;
  fail("{}: unknown dtype \"{}\"", where, s);
}

}  // namespace

const char* lowbit_dtype_name(LowbitDType t) {
  switch (t) {
    case LowbitDType::kF32:
      return "F32";
    case LowbitDType::kI32:
      return "I32";
    case LowbitDType::kU8:
      return "U8";
    case LowbitDType::kI8:
      return "I8";
    case LowbitDType::kPacked:
      return "PACKED";
    case LowbitDType::kF16:
      return "F16";
    case LowbitDType::kU16:
      return "U16";
  }
  return "?";
}

size_t lowbit_dtype_size(LowbitDType t) {
  switch (t) {
    case LowbitDType::kF32:
    case LowbitDType::kI32:
      return 4;
    case LowbitDType::kF16:
    case LowbitDType::kU16:
      return 2;
    default:
      return 1;
  }
}

size_t LowbitTensorView::elements() const {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

std::span<const float> LowbitTensorView::f32() const {
  if (dtype != LowbitDType::kF32) fail("tensor is {}, not F32", lowbit_dtype_name(dtype));
  return {reinterpret_cast<const float*>(data.data()), data.size() / 4};
}

std::span<const int32_t> LowbitTensorView::i32() const {
  if (dtype != LowbitDType::kI32) fail("tensor is {}, not I32", lowbit_dtype_name(dtype));
  return {reinterpret_cast<const int32_t*>(data.data()), data.size() / 4};
}

std::span<const uint16_t> LowbitTensorView::u16() const {
  if (dtype != LowbitDType::kU16) fail("tensor is {}, not U16", lowbit_dtype_name(dtype));
  return {reinterpret_cast<const uint16_t*>(data.data()), data.size() / 2};
}

std::vector<float> LowbitTensorView::f16_as_f32() const {
  if (dtype != LowbitDType::kF16) fail("tensor is {}, not F16", lowbit_dtype_name(dtype));
  std::vector<float> out(data.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    uint16_t h;
    std::memcpy(&h, data.data() + 2 * i, 2);
    out[i] = f16_to_f32(h);
  }
  return out;
}

std::span<const uint8_t> LowbitTensorView::u8() const {
  if (dtype != LowbitDType::kU8 && dtype != LowbitDType::kPacked)
    fail("tensor is {}, not U8", lowbit_dtype_name(dtype));
  return {reinterpret_cast<const uint8_t*>(data.data()), data.size()};
}

// ---------------------------------------------------------------------------------------------
// Writer

LowbitFileWriter::LowbitFileWriter(const std::filesystem::path& spill_dir) : spill_dir_(spill_dir) {
  std::string pattern = (spill_dir / ".lowbit-spill-XXXXXX").string();
  spill_fd_ = ::mkstemp(pattern.data());
  if (spill_fd_ < 0)
    fail("{}: cannot create a temporary file: {}", spill_dir.string(), std::strerror(errno));
  ::unlink(pattern.c_str());  // nameless from now on: nothing to clean up on any exit
}

LowbitFileWriter::~LowbitFileWriter() {
  if (spill_fd_ >= 0) ::close(spill_fd_);
}

void LowbitFileWriter::add(const std::string& name, LowbitDType dtype, std::vector<int64_t> shape,
                           std::span<const std::byte> data) {
  size_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) fail(".lowbit writer: tensor \"{}\" has a negative dimension", name);
    n *= static_cast<size_t>(d);
  }
  if (n * lowbit_dtype_size(dtype) != data.size())
    fail(".lowbit writer: tensor \"{}\" has {} bytes for {} values of {}", name, data.size(), n,
         lowbit_dtype_name(dtype));
  if (tensors_.count(name) != 0) fail(".lowbit writer: duplicate tensor \"{}\"", name);
  const uint64_t offset = round_up(data_bytes_);
  if (spill_fd_ < 0) {
    data_.resize(offset);  // zero padding
    data_.insert(data_.end(), data.begin(), data.end());
  } else {
    const std::vector<std::byte> zeros(offset - data_bytes_);
    auto put = [&](const std::byte* p, size_t count, uint64_t at) {
      while (count > 0) {
        const ssize_t w = ::pwrite(spill_fd_, p, count, static_cast<off_t>(at));
        if (w <= 0)
          fail("{}: cannot write temporary data (disk full?): {}", spill_dir_.string(),
               std::strerror(errno));
        p += w;
        at += static_cast<uint64_t>(w);
        count -= static_cast<size_t>(w);
      }
    };
    put(zeros.data(), zeros.size(), data_bytes_);
    put(data.data(), data.size(), offset);
  }
  data_bytes_ = offset + data.size();
  tensors_.emplace(name, Entry{dtype, std::move(shape), offset, data.size(), crc32_of(data)});
}

void LowbitFileWriter::add_f32(const std::string& name, std::vector<int64_t> shape,
                               std::span<const float> v) {
  add(name, LowbitDType::kF32, std::move(shape), std::as_bytes(v));
}

void LowbitFileWriter::add_i32(const std::string& name, std::vector<int64_t> shape,
                               std::span<const int32_t> v) {
  add(name, LowbitDType::kI32, std::move(shape), std::as_bytes(v));
}

void LowbitFileWriter::add_u16(const std::string& name, std::vector<int64_t> shape,
                               std::span<const uint16_t> v) {
  add(name, LowbitDType::kU16, std::move(shape), std::as_bytes(v));
}

void LowbitFileWriter::add_u8(const std::string& name, std::vector<int64_t> shape,
                              std::span<const uint8_t> v) {
  add(name, LowbitDType::kU8, std::move(shape), std::as_bytes(v));
}

void LowbitFileWriter::add_f16(const std::string& name, std::vector<int64_t> shape,
                               std::span<const float> v) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = f32_to_f16(v[i]);
  add(name, LowbitDType::kF16, std::move(shape), std::as_bytes(std::span(h)));
}

void LowbitFileWriter::write(const std::filesystem::path& path) const {
  nlohmann::json table = nlohmann::json::object();
  for (const auto& [name, e] : tensors_)
    table[name] = {{"dtype", lowbit_dtype_name(e.dtype)},
                   {"shape", e.shape},
                   {"offset", e.offset},
                   {"bytes", e.bytes},
                   {"crc32", e.crc32}};
  const std::string header = nlohmann::json{{"metadata", metadata_}, {"tensors", table}}.dump();
  const size_t data_start = round_up(kPrefixBytes + header.size());

  std::array<std::byte, kPrefixBytes> prefix{};
  std::memcpy(prefix.data(), kMagic.data(), 8);
  const uint32_t version = kLowbitFileVersion;
  const uint32_t crc = crc32_of(std::as_bytes(std::span(header)));
  const uint64_t hlen = header.size();
  std::memcpy(prefix.data() + 8, &version, 4);
  std::memcpy(prefix.data() + 12, &crc, 4);
  std::memcpy(prefix.data() + 16, &hlen, 8);

  write_file_atomically(path, [&](std::ostream& out) {
    const std::vector<char> zeros(kAlign, 0);
    out.write(reinterpret_cast<const char*>(prefix.data()), kPrefixBytes);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(zeros.data(),
              static_cast<std::streamsize>(data_start - kPrefixBytes - header.size()));
    if (spill_fd_ < 0) {
      out.write(reinterpret_cast<const char*>(data_.data()),
                static_cast<std::streamsize>(data_.size()));
      return;
    }
    std::vector<char> buffer(size_t{4} << 20);
    for (uint64_t at = 0; at < data_bytes_;) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(buffer.size(), data_bytes_ - at));
      const ssize_t got = ::pread(spill_fd_, buffer.data(), want, static_cast<off_t>(at));
      if (got <= 0)
        fail("{}: cannot read back temporary data: {}", spill_dir_.string(), std::strerror(errno));
      out.write(buffer.data(), got);
      at += static_cast<uint64_t>(got);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Reader

LowbitFile::LowbitFile(const std::filesystem::path& path, bool verify_data)
    : file_(std::make_shared<MappedFile>(path)) {
  const auto bytes = file_->bytes();
  const std::string where = path.string();
  if (bytes.size() < kPrefixBytes || std::memcmp(bytes.data(), kMagic.data(), 8) != 0)
    fail("{}: not a .lowbit file (bad magic)", where);
  const auto version = read_le<uint32_t>(bytes.data() + 8);
  if (version != kLowbitFileVersion)
    fail("{}: .lowbit format version {} is not supported (this build reads version {})", where,
         version, kLowbitFileVersion);
  const auto crc = read_le<uint32_t>(bytes.data() + 12);
  const auto hlen = read_le<uint64_t>(bytes.data() + 16);
  if (hlen > limits::kMaxLowbitHeaderBytes || hlen > bytes.size() - kPrefixBytes)
    fail("{}: header length {} exceeds the file size {}", where, hlen, bytes.size());
  const auto header = bytes.subspan(kPrefixBytes, hlen);
  if (crc32_of(header) != crc) fail("{}: header checksum mismatch (file corrupted)", where);
  const size_t data_start = round_up(kPrefixBytes + hlen);
  if (data_start > bytes.size()) fail("{}: truncated before the data section", where);
  const auto data = bytes.subspan(data_start);

  const Json j =
      parse_json(std::string_view(reinterpret_cast<const char*>(header.data()), header.size()),
                 where + ": header");
  const JsonFields top(j, where + ": header");
  metadata_ = top.object("metadata").json();
  const JsonFields table = top.object("tensors");
  if (table.json().size() > limits::kMaxTensors)
    fail("{}: {} tensors, more than the limit of {}", where, table.json().size(),
         limits::kMaxTensors);
  for (const auto& [name, entry] : table.json().items()) {
    const std::string tw = where + ": tensor \"" + name + "\"";
    const JsonFields t(entry, tw);
    LowbitTensorView v;
    v.dtype = dtype_from_name(t.string("dtype"), tw);
    const Json& shape = t.at("shape");
    if (!shape.is_array() || shape.size() > limits::kMaxRank)
      fail("{}: shape must be a list of at most {} dimensions, got {}", tw, limits::kMaxRank,
           shape.dump());
    // Dimensions and sizes are exact integers; the element count cannot overflow: each
    // dimension is below 2^31 and the running product is checked against the data section.
    size_t elements = 1;
    for (size_t k = 0; k < shape.size(); ++k) {
      const int64_t d =
          json_integer(shape[k], 0, limits::kMaxDimension, tw, "shape[" + std::to_string(k) + "]");
      v.shape.push_back(d);
      if (d != 0 && elements > data.size() / static_cast<size_t>(d))
        fail("{}: shape {} holds more elements than the file has bytes", tw, shape.dump());
      elements *= static_cast<size_t>(d);
    }
    const auto off = static_cast<uint64_t>(t.integer("offset", 0, INT64_MAX));
    const auto n = static_cast<uint64_t>(t.integer("bytes", 0, INT64_MAX));
    if (off % kAlign != 0) fail("{}: offset {} is not {}-byte aligned", tw, off, kAlign);
    if (off > data.size() || n > data.size() - off)
      fail("{}: bytes [{}, {}) lie outside the data section ({} bytes)", tw, off, off + n,
           data.size());
    if (elements * lowbit_dtype_size(v.dtype) != n)
      fail("{}: {} bytes do not match shape x {}", tw, n, lowbit_dtype_name(v.dtype));
    v.data = data.subspan(off, n);
    const auto crc32 = static_cast<uint32_t>(t.integer("crc32", 0, UINT32_MAX));
    if (verify_data && crc32_of(v.data) != crc32)
      fail("{}: data checksum mismatch (file corrupted)", tw);
    tensors_.emplace(name, std::move(v));
  }
}

const LowbitTensorView& LowbitFile::tensor(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) fail("{}: missing tensor \"{}\"", path().string(), name);
  return it->second;
}

bool is_lowbit_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<char, 8> m{};
  return in.read(m.data(), 8) && m == kMagic;
}

}  // namespace lowbit
