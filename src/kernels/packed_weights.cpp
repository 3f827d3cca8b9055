#include "kernels/packed_weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <string_view>

#include "core/error.h"
#include "core/float16.h"
#include "core/thread_pool.h"

namespace lowbit::kernels {
namespace {

// Header of the blob (64 bytes, little-endian):
//   0  char[8] magic "LBWPACK1" (the layout version: change it when the layout changes)
//   8  u32 bits            12 u32 flags (bit 0: asymmetric, bit 1: codebook, bit 2: fp16 tables)
//   16 i32 symmetric zero  20 u32 rows per block (16)
//   24 u64 n               32 u64 k
//   40 u64 group_size      48 u64 total bytes
//   56 u32 chunk bytes (64) 60 u32 codebook tables (0 without a codebook)
constexpr std::string_view kMagic = "LBWPACK1";
constexpr size_t kHeaderBytes = 64;

size_t align64(size_t x) {
  return (x + 63) / 64 * 64;
}

template <class T>
void put(std::span<std::byte> out, size_t offset, T value) {
  std::memcpy(out.data() + offset, &value, sizeof(T));
}

template <class T>
T get(std::span<const std::byte> in, size_t offset) {
  T value;
  std::memcpy(&value, in.data() + offset, sizeof(T));
  return value;
}

// Where code (row, col) lives in the base container's layout: the chunk (counted over the whole
// codes section), the byte inside its 64 and the nibble shift.
struct CodePos {
  size_t chunk;
  size_t byte;  // < 64
  int shift;    // 0 or 4 in the 4-bit base, 0 in the 8-bit one
};

CodePos code_pos(const PackedLayout& l, size_t row, size_t col) {
  const size_t block = row / kPackRows, r = row % kPackRows;
  const size_t kc = l.k_per_chunk();
  const size_t chunk = block * l.chunks() + col / kc, j = col % kc;
  if (l.base_bits() == 8) return {chunk, 4 * r + j, 0};
  return {chunk, 4 * r + (j & 3), j < 4 ? 0 : 4};
}

// Byte p (< 64) of a base chunk, from the chunk `s` as a container of `bits` stores it
// (packed_weights.h gives the planes).
uint8_t base_byte(const uint8_t* s, int bits, size_t p) {
  unsigned b;
  switch (bits) {
    case 2:
    case 3:
      b = (p < 32 ? s[p] : s[p - 32] >> 2) & 0x33u;
      if (bits == 3) b |= ((s[32 + p % 16] >> (p / 16)) & 0x11u) << 2;
      break;
    case 5:
    case 6:
      b = p < 32 ? s[p] & 15u : s[p - 32] >> 4u;
      if (bits == 5)
        b |= ((s[32 + p % 8] >> (p / 8)) & 1u) << 4;
      else
        b |= ((s[32 + p % 16] >> (2 * (p / 16))) & 3u) << 4;
      break;
    default:
      b = s[p];
  }
  return static_cast<uint8_t>(b);
}

// The inverse of expand_planar_chunks for one chunk: base bytes b[0..63] (codes < 2^bits) into
// the stored planes s.
void compress_chunk(const uint8_t* b, int bits, uint8_t* s) {
  if (bits <= 3) {
    for (size_t i = 0; i < 32; ++i)
      s[i] = static_cast<uint8_t>((b[i] & 0x33) | (b[i + 32] & 0x33) << 2);
    if (bits == 3)
      for (size_t i = 0; i < 16; ++i) {
        unsigned v = 0;
        for (unsigned q = 0; q < 4; ++q) v |= ((b[i + 16 * q] >> 2) & 0x11u) << q;
        s[32 + i] = static_cast<uint8_t>(v);
      }
    return;
  }
  for (size_t i = 0; i < 32; ++i) s[i] = static_cast<uint8_t>((b[i] & 15) | (b[i + 32] & 15) << 4);
  if (bits == 5)
    for (size_t i = 0; i < 8; ++i) {
      unsigned v = 0;
      for (unsigned q = 0; q < 8; ++q) v |= ((b[i + 8 * q] >> 4) & 1u) << q;
      s[32 + i] = static_cast<uint8_t>(v);
    }
  else
    for (size_t i = 0; i < 16; ++i) {
      unsigned v = 0;
      for (unsigned q = 0; q < 4; ++q) v |= ((b[i + 16 * q] >> 4) & 3u) << (2 * q);
      s[32 + i] = static_cast<uint8_t>(v);
    }
}

// Sixteen bytes at a time in vectors of two 64-bit words (GCC/Clang vector extensions: SSE2 on
// x86-64, NEON on AArch64, both baseline; elsewhere the compiler lowers them to scalar words).
// Every shift below moves bits only inside their byte once masked, so a word does 8 bytes of the
// per-byte formulas in packed_weights.h. Baseline code, the same bytes on every CPU: a variant per
// ISA would only widen the vectors.
using U64x2 = uint64_t __attribute__((vector_size(16)));

U64x2 load16(const uint8_t* p) {
  U64x2 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

void store16(uint8_t* p, U64x2 v) {
  std::memcpy(p, &v, sizeof v);
}

U64x2 each(uint8_t byte) {
  const uint64_t w = 0x0101010101010101ull * byte;
  return U64x2{w, w};
}

template <int Bits>
void expand_chunks(const uint8_t* in, size_t chunks, uint8_t* out) {
  constexpr size_t kStored = kPackChunkBytes * Bits / (Bits <= 4 ? 4 : 8);
  const U64x2 m33 = each(0x33), m11 = each(0x11), m0f = each(0x0f), m01 = each(0x01),
              m03 = each(0x03);
  for (size_t c = 0; c < chunks; ++c) {
    const uint8_t* s = in + c * kStored;
    uint8_t* b = out + c * kPackChunkBytes;
    for (unsigned w = 0; w < 32; w += 16) {  // b[w..w+16) and b[32+w..32+w+16) from s[w..w+16)
      const U64x2 lo = load16(s + w);
      U64x2 b0, b1;
      if constexpr (Bits <= 3) {
        // b[p] = s[p] & 0x33, b[p + 32] = (s[p] >> 2) & 0x33; 3 bits: bit 2 of each nibble of
        // b[i + 16q] from bit q of each nibble of s[32 + i] (here q = w / 16, and q + 2).
        b0 = lo & m33;
        b1 = (lo >> 2) & m33;
        if constexpr (Bits == 3) {
          const U64x2 h = load16(s + 32);
          b0 |= ((h >> (w / 16)) & m11) << 2;
          b1 |= ((h >> (w / 16 + 2)) & m11) << 2;
        }
      } else {
        // b[p] = s[p] & 15, b[p + 32] = s[p] >> 4; 5 bits: bit 4 of b[i + 8q] from bit q of
        // s[32 + i] (the two words here are q = w / 8 and w / 8 + 1); 6 bits: bits 4-5 of
        // b[i + 16q] from bits 2q, 2q + 1 of s[32 + i].
        b0 = lo & m0f;
        b1 = (lo >> 4) & m0f;
        if constexpr (Bits == 5) {
          uint64_t o;
          std::memcpy(&o, s + 32, sizeof o);
          const unsigned q = w / 8;
          b0 |= (U64x2{o >> q, o >> (q + 1)} & m01) << 4;
          b1 |= (U64x2{o >> (q + 4), o >> (q + 5)} & m01) << 4;
        } else {
          const U64x2 t = load16(s + 32);
          b0 |= ((t >> (w / 8)) & m03) << 4;
          b1 |= ((t >> (w / 8 + 4)) & m03) << 4;
        }
      }
      store16(b + w, b0);
      store16(b + 32 + w, b1);
    }
  }
}

bool valid_container(int bits) {
  return bits == 2 || bits == 3 || bits == 4 || bits == 5 || bits == 6 || bits == 8;
}

void validate_layout(const PackedLayout& l) {
  if (!valid_container(l.bits))
    fail("packed weights: container of {} bits (2, 3, 4, 5, 6 or 8)", l.bits);
  if (l.n == 0 || l.k == 0) fail("packed weights: empty matrix {}x{}", l.n, l.k);
  if (l.group_size == 0 || l.group_size > l.k)
    fail("packed weights: group size {} for rows of {}", l.group_size, l.k);
  if (l.group_size < l.k && l.group_size % kPackKAlign != 0)
    fail("packed weights: group size {} must be a multiple of {} (or the whole row of {})",
         l.group_size, kPackKAlign, l.k);
  if (l.group_size > kMaxGroupSize)
    fail("packed weights: group of {} values exceeds the int32 accumulation bound {}", l.group_size,
         kMaxGroupSize);
  if (l.table_fp16 && !l.codebook()) fail("packed weights: fp16 tables without a codebook");
  if (l.codebook()) {
    if (l.bits > 4 || l.asymmetric || l.zero != 0)
      fail(
          "packed weights: a codebook needs a 2-, 3- or 4-bit container without zero points (bits "
          "{})",
          l.bits);
    if (l.codebook_rows != 1 && l.codebook_rows != l.n)
      fail("packed weights: {} codebook tables for {} rows (1 or one per row)", l.codebook_rows,
           l.n);
    return;
  }
  const int levels = 1 << l.bits;
  if (!l.asymmetric && (l.zero < 0 || l.zero >= levels))
    fail("packed weights: symmetric zero point {} outside [0, {})", l.zero, levels);
}

}  // namespace

int container_bits(int code_bits) {
  if (code_bits < 2 || code_bits > 8)
    fail("packed weights: {}-bit codes (the containers hold 2 to 8 bits)", code_bits);
  return code_bits == 7 ? 8 : code_bits;
}

void expand_planar_chunks(const uint8_t* in, size_t chunks, int bits, uint8_t* out) {
  switch (bits) {
    case 2:
      return expand_chunks<2>(in, chunks, out);
    case 3:
      return expand_chunks<3>(in, chunks, out);
    case 5:
      return expand_chunks<5>(in, chunks, out);
    case 6:
      return expand_chunks<6>(in, chunks, out);
    default:
      fail("expand_planar_chunks: {} bits is not a bit-plane container (2, 3, 5 or 6)", bits);
  }
}

size_t PackedLayout::scales_offset() const {
  return codes_offset() + align64(blocks() * block_bytes());
}

size_t PackedLayout::zeros_offset() const {
  return asymmetric ? scales_offset() + align64(blocks() * groups() * kPackRows * sizeof(float))
                    : 0;
}

size_t PackedLayout::codebook_offset() const {
  return codebook() ? scales_offset() + align64(blocks() * groups() * kPackRows * sizeof(float))
                    : 0;
}

size_t PackedLayout::total_bytes() const {
  const size_t after_scales =
      scales_offset() + align64(blocks() * groups() * kPackRows * sizeof(float));
  if (codebook()) return codebook_offset() + align64(table_bytes());
  return asymmetric ? zeros_offset() + align64(blocks() * groups() * kPackRows) : after_scales;
}

PackedWeightsView PackedWeightsView::parse(std::span<const std::byte> blob) {
  if (blob.size() < kHeaderBytes)
    fail("packed weights: blob of {} bytes has no header", blob.size());
  if (std::memcmp(blob.data(), kMagic.data(), kMagic.size()) != 0)
    fail("packed weights: bad magic (not a lowbit packed matrix, or an unsupported layout)");
  PackedLayout l;
  l.bits = static_cast<int>(get<uint32_t>(blob, 8));
  const uint32_t flags = get<uint32_t>(blob, 12);
  l.asymmetric = (flags & 1u) != 0;
  l.table_fp16 = (flags & 4u) != 0;
  if ((flags & 2u) != 0) {
    l.codebook_rows = get<uint32_t>(blob, 60);
    if (l.codebook_rows == 0) fail("packed weights: codebook flag without tables");
  }
  l.zero = get<int32_t>(blob, 16);
  const uint32_t rows_per_block = get<uint32_t>(blob, 20);
  l.n = get<uint64_t>(blob, 24);
  l.k = get<uint64_t>(blob, 32);
  l.group_size = get<uint64_t>(blob, 40);
  const uint64_t total = get<uint64_t>(blob, 48);
  const uint32_t chunk_bytes = get<uint32_t>(blob, 56);
  if (rows_per_block != kPackRows || chunk_bytes != kPackChunkBytes || (flags & ~7u) != 0)
    fail("packed weights: unsupported layout (rows per block {}, chunk bytes {}, flags {:#x})",
         rows_per_block, chunk_bytes, flags);
  // Bound the sizes before multiplying them, so a corrupt header cannot overflow size_t.
  if (l.n > (size_t{1} << 32) || l.k > (size_t{1} << 32))
    fail("packed weights: implausible shape {}x{}", l.n, l.k);
  validate_layout(l);
  if (total != l.total_bytes() || blob.size() < total)
    fail("packed weights: {}x{} int{} needs {} bytes, header says {}, blob has {}", l.n, l.k,
         l.bits, l.total_bytes(), total, blob.size());
  PackedWeightsView v;
  v.layout_ = l;
  v.blob_ = blob.first(total);
  // Tables stored as the kernels read them (16 fp32 entries) stay in the blob; the others are
  // widened once here.
  const size_t entries = l.table_entries();
  const bool widen = l.codebook() && (l.table_fp16 || entries != 16);
  std::vector<float> wide(widen ? l.codebook_rows * 16 : 0, 0.0f);
  for (size_t t = 0; t < l.codebook_rows; ++t)
    for (size_t e = 0; e < entries; ++e) {
      const size_t i = t * entries + e;
      const float x = l.table_fp16 ? f16_to_f32(get<uint16_t>(blob, l.codebook_offset() + i * 2))
                                   : get<float>(blob, l.codebook_offset() + i * sizeof(float));
      if (!std::isfinite(x)) fail("packed weights: codebook table {} entry {} is {}", t, e, x);
      if (widen) wide[t * 16 + e] = x;
    }
  if (widen) v.tables_ = std::make_shared<const std::vector<float>>(std::move(wide));
  return v;
}

const float* PackedWeightsView::codebook() const {
  if (!layout_.codebook()) return nullptr;
  if (tables_) return tables_->data();
  return reinterpret_cast<const float*>(blob_.data() + layout_.codebook_offset());
}

std::span<const float> PackedWeightsView::table(size_t row) const {
  if (!layout_.codebook()) return {};
  return {codebook() + (layout_.codebook_rows == 1 ? 0 : row * 16), 16};
}

const uint8_t* PackedWeightsView::codes() const {
  return reinterpret_cast<const uint8_t*>(blob_.data() + layout_.codes_offset());
}

const std::byte* PackedWeightsView::scales() const {
  return blob_.data() + layout_.scales_offset();
}

const uint8_t* PackedWeightsView::zeros() const {
  return layout_.asymmetric
             ? reinterpret_cast<const uint8_t*>(blob_.data() + layout_.zeros_offset())
             : nullptr;
}

float PackedWeightsView::scale(size_t row, size_t group) const {
  const size_t i = ((row / kPackRows) * layout_.groups() + group) * kPackRows + row % kPackRows;
  float s;
  std::memcpy(&s, scales() + i * sizeof(float), sizeof(float));
  return s;
}

int PackedWeightsView::zero(size_t row, size_t group) const {
  if (!layout_.asymmetric) return layout_.zero;  // 0 for codebooks
  return zeros()[((row / kPackRows) * layout_.groups() + group) * kPackRows + row % kPackRows];
}

int PackedWeightsView::code(size_t row, size_t col) const {
  const CodePos p = code_pos(layout_, row, col);
  const uint8_t b = base_byte(codes() + p.chunk * layout_.chunk_bytes(), layout_.bits, p.byte);
  return (b >> p.shift) & (layout_.base_bits() == 4 ? 0xf : 0xff);
}

void PackedWeightsView::dequantize_row(size_t row, std::span<float> out) const {
  const PackedLayout& l = layout_;
  if (row >= l.n || out.size() < l.k)
    fail("packed weights: row {} of {} into {} floats (k = {})", row, l.n, out.size(), l.k);
  const size_t r = row % kPackRows, kc = l.k_per_chunk();
  const uint8_t* block = codes() + (row / kPackRows) * l.block_bytes();
  uint8_t expanded[kPackChunkBytes];  // the current chunk in the base layout (bit-plane containers)
  size_t have = l.chunks();
  const uint8_t* chunk = nullptr;
  for (size_t g0 = 0, g = 0; g0 < l.k; g0 += l.group_size, ++g) {
    const float s = scale(row, g);
    const int z = zero(row, g);
    const auto t = table(row);
    const size_t g1 = std::min(l.k, g0 + l.group_size);
    for (size_t col = g0; col < g1; ++col) {
      if (col / kc != have) {
        have = col / kc;
        chunk = block + have * l.chunk_bytes();
        if (l.planar()) {
          expand_planar_chunks(chunk, 1, l.bits, expanded);
          chunk = expanded;
        }
      }
      const uint8_t* lane = chunk + 4 * r;
      const size_t j = col % kc;
      const int u = l.base_bits() == 8 ? lane[j] : (lane[j & 3] >> (j < 4 ? 0 : 4)) & 0xf;
      out[col] = t.empty() ? static_cast<float>(u - z) * s : t[static_cast<size_t>(u)] * s;
    }
  }
}

void PackedWeights::Free::operator()(std::byte* p) const {
  ::operator delete[](p, std::align_val_t{64});
}

void PackedWeights::allocate(size_t bytes) {
  storage_.reset(static_cast<std::byte*>(::operator new[](bytes, std::align_val_t{64})));
  std::memset(storage_.get(), 0, bytes);
}

PackedWeights PackedWeights::from_bytes(std::span<const std::byte> blob) {
  const PackedWeightsView parsed = PackedWeightsView::parse(blob);
  const size_t total = parsed.layout().total_bytes();
  PackedWeights w;
  w.allocate(total);
  std::memcpy(w.storage_.get(), blob.data(), total);
  w.view_ = PackedWeightsView::parse({w.storage_.get(), total});
  return w;
}

PackedWeights pack_weights(std::span<const uint8_t> codes, size_t n, size_t k, int bits,
                           size_t group_size, std::span<const float> scales,
                           std::span<const uint8_t> zeros, int symmetric_zero) {
  PackedLayout l;
  l.bits = bits;
  l.n = n;
  l.k = k;
  l.group_size = group_size == 0 ? k : std::min(group_size, k);
  l.asymmetric = !zeros.empty();
  l.zero = l.asymmetric ? 0 : symmetric_zero;
  validate_layout(l);
  const size_t groups = l.groups();
  if (codes.size() != n * k) fail("pack_weights: {} codes for a {}x{} matrix", codes.size(), n, k);
  if (scales.size() != n * groups)
    fail("pack_weights: {} scales for {} rows x {} groups", scales.size(), n, groups);
  if (l.asymmetric && zeros.size() != n * groups)
    fail("pack_weights: {} zero points for {} rows x {} groups", zeros.size(), n, groups);
  const int levels = 1 << bits;
  for (size_t i = 0; i < codes.size(); ++i)
    if (codes[i] >= levels)
      fail("pack_weights: code {} at {} does not fit {} bits", codes[i], i, bits);
  for (size_t i = 0; i < zeros.size(); ++i)
    if (zeros[i] >= levels)
      fail("pack_weights: zero point {} at {} does not fit {} bits", zeros[i], i, bits);

  PackedWeights w;
  const size_t total = l.total_bytes();
  w.allocate(total);
  std::span<std::byte> out(w.storage_.get(), total);
  std::memcpy(out.data(), kMagic.data(), kMagic.size());
  put<uint32_t>(out, 8, static_cast<uint32_t>(bits));
  put<uint32_t>(out, 12, l.asymmetric ? 1u : 0u);
  put<int32_t>(out, 16, l.zero);
  put<uint32_t>(out, 20, static_cast<uint32_t>(kPackRows));
  put<uint64_t>(out, 24, n);
  put<uint64_t>(out, 32, k);
  put<uint64_t>(out, 40, l.group_size);
  put<uint64_t>(out, 48, total);
  put<uint32_t>(out, 56, static_cast<uint32_t>(kPackChunkBytes));

  auto* code_bytes = reinterpret_cast<uint8_t*>(out.data() + l.codes_offset());
  auto zero_of = [&](size_t row, size_t group) -> int {
    return l.asymmetric ? zeros[row * groups + group] : l.zero;
  };
  // Padding (k beyond the row, rows beyond n) holds the zero point, so it dequantizes to 0. Each
  // block of kPackRows rows owns its bytes (code_pos), so blocks are packed in parallel: at 7B
  // this loop was a tenth of `lowbit quantize`'s time on one thread. Bit-plane containers are
  // packed a block at a time in the base layout, then compressed chunk by chunk.
  thread_pool().parallel_for(l.blocks(), 1, [&](size_t b0, size_t b1) {
    std::vector<uint8_t> base(l.planar() ? l.chunks() * kPackChunkBytes : 0);
    for (size_t b = b0; b < b1; ++b) {
      uint8_t* dst = l.planar() ? base.data() : code_bytes + b * l.block_bytes();
      if (l.planar()) std::fill(base.begin(), base.end(), uint8_t{0});
      for (size_t row = b * kPackRows; row < (b + 1) * kPackRows; ++row)
        for (size_t col = 0; col < l.k_padded(); ++col) {
          int u;
          if (row < n && col < k)
            u = codes[row * k + col];
          else
            u = row < n ? zero_of(row, groups - 1) : (l.asymmetric ? 0 : l.zero);
          const CodePos p = code_pos(l, row, col);
          uint8_t& byte = dst[(p.chunk - b * l.chunks()) * kPackChunkBytes + p.byte];
          byte = static_cast<uint8_t>(byte | (u << p.shift));
        }
      if (l.planar())
        for (size_t c = 0; c < l.chunks(); ++c)
          compress_chunk(base.data() + c * kPackChunkBytes, l.bits,
                         code_bytes + b * l.block_bytes() + c * l.chunk_bytes());
    }
  });
  std::byte* scale_bytes = out.data() + l.scales_offset();
  auto* zero_bytes = reinterpret_cast<uint8_t*>(out.data() + l.zeros_offset());
  for (size_t row = 0; row < n; ++row)
    for (size_t g = 0; g < groups; ++g) {
      const size_t i = ((row / kPackRows) * groups + g) * kPackRows + row % kPackRows;
      std::memcpy(scale_bytes + i * sizeof(float), &scales[row * groups + g], sizeof(float));
      if (l.asymmetric) zero_bytes[i] = zeros[row * groups + g];
    }
  w.view_ = PackedWeightsView::parse(out);
  return w;
}

PackedWeights pack_codebook_weights(std::span<const uint8_t> codes, size_t n, size_t k,
                                    size_t group_size, std::span<const float> scales,
                                    std::span<const float> codebook, size_t codebook_rows, int bits,
                                    bool fp16_tables) {
  if (bits < 2 || bits > 4)
    fail("pack_codebook_weights: {}-bit codes (codebook containers hold 2, 3 or 4 bits)", bits);
  if (codebook_rows != 1 && codebook_rows != n)
    fail("pack_codebook_weights: {} tables for {} rows (1 or one per row)", codebook_rows, n);
  if (codebook.size() != codebook_rows * 16)
    fail("pack_codebook_weights: {} table values for {} tables of 16", codebook.size(),
         codebook_rows);
  const size_t entries = size_t{1} << bits;
  for (size_t t = 0; t < codebook_rows; ++t)
    for (size_t e = 0; e < entries; ++e) {
      const float x = codebook[t * 16 + e];
      if (!std::isfinite(x) || (fp16_tables && !std::isfinite(f16_to_f32(f32_to_f16(x)))))
        fail("pack_codebook_weights: table {} entry {} is {}{}", t, e, x,
             fp16_tables ? " (fp16 tables)" : "");
    }
  // The codes and scales as a symmetric matrix with zero point 0 in the bits-wide container (the
  // padding codes are 0: the kernels never read past k), then the header's codebook fields and
  // the tables.
  const PackedWeights grid = pack_weights(codes, n, k, bits, group_size, scales, {}, 0);
  PackedLayout l = grid.layout();
  l.codebook_rows = codebook_rows;
  l.table_fp16 = fp16_tables;
  validate_layout(l);
  PackedWeights w;
  const size_t total = l.total_bytes();
  w.allocate(total);
  std::span<std::byte> out(w.storage_.get(), total);
  std::memcpy(out.data(), grid.bytes().data(), grid.bytes().size());
  put<uint32_t>(out, 12, fp16_tables ? 6u : 2u);
  put<uint64_t>(out, 48, total);
  put<uint32_t>(out, 60, static_cast<uint32_t>(codebook_rows));
  for (size_t t = 0; t < codebook_rows; ++t)
    for (size_t e = 0; e < entries; ++e) {
      const size_t at = l.codebook_offset() + (t * entries + e) * (fp16_tables ? 2 : 4);
      const float x = codebook[t * 16 + e];
      if (fp16_tables)
        put<uint16_t>(out, at, f32_to_f16(x));
      else
        put<float>(out, at, x);
    }
  w.view_ = PackedWeightsView::parse(out);
  return w;
}

UnpackedWeights unpack_weights(const PackedWeightsView& w) {
  const PackedLayout& l = w.layout();
  const size_t groups = l.groups();
  UnpackedWeights u;
  u.codes.resize(l.n * l.k);
  u.scales.resize(l.n * groups);
  u.zeros.resize(l.n * groups);
  for (size_t row = 0; row < l.n; ++row) {
    for (size_t col = 0; col < l.k; ++col)
      u.codes[row * l.k + col] = static_cast<uint8_t>(w.code(row, col));
    for (size_t g = 0; g < groups; ++g) {
      u.scales[row * groups + g] = w.scale(row, g);
      u.zeros[row * groups + g] = static_cast<uint8_t>(w.zero(row, g));
    }
  }
  if (l.codebook()) {
    u.codebook.assign(w.codebook(), w.codebook() + l.codebook_rows * 16);
    u.codebook_rows = l.codebook_rows;
  }
  return u;
}

std::vector<float> dequantize_weights(const PackedWeightsView& w) {
  const PackedLayout& l = w.layout();
  std::vector<float> out(l.n * l.k);
  if (l.codebook()) {
    for (size_t row = 0; row < l.n; ++row)
      w.dequantize_row(row, std::span(out).subspan(row * l.k, l.k));
    return out;
  }
  for (size_t row = 0; row < l.n; ++row)
    for (size_t col = 0; col < l.k; ++col) {
      const size_t g = col / l.group_size;
      out[row * l.k + col] =
          static_cast<float>(w.code(row, col) - w.zero(row, g)) * w.scale(row, g);
    }
  return out;
}

}  // namespace lowbit::kernels
