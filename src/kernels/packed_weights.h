#pragma once
// Packed low-bit weights for the integer kernels: one self-describing byte blob per matrix, in a
// layout every ISA reads directly (so a file written on one machine runs on any other), meant to
// be memory-mapped from a model file.
//
// A weight W [n = out, k = in] holds codes u in [0, 2^bits) (the QuantizedMatrix convention,
// u = q - qmin) with a scale s and a zero point z (in code units) per (row, group) along k; the
// value is (u - z) * s. `bits` is the container: 4 (two codes per byte) or 8 (one per byte), the
// two the kernels multiply, or a bit-plane container of 2, 3, 5 or 6 bits (below) that stores each
// code in its own width (container_bits: 7-bit codes take 8). Symmetric weights share one zero
// point (-qmin, e.g. 8 for int4) stored in the header; asymmetric ones store a zero per (row,
// group).
//
// Blob layout (little-endian, every section 64-byte aligned relative to the blob start):
//   [0, 64)      header (PackedHeader below)
//   codes        n_blocks x chunks x 64 bytes
//   scales       n_blocks x groups x 16 fp32
//   zeros        n_blocks x groups x 16 uint8 (asymmetric only)
//   codebook     codebook_rows x 2^bits table entries, fp32 or fp16 (codebook weights only)
// Codebook weights (NF4, SqueezeLLM: layers/codebook.h) use a container of 2, 3 or 4 bits without
// zero points: the value is table[u] * s, with one table of 2^bits entries shared by every row
// (codebook_rows 1) or one per row (codebook_rows n), stored in fp32 or (header flag) fp16 -
// SqueezeLLM's own look-up tables are fp16, and at 3 bits an fp32 table of 16 entries per row
// cost more than a bit per weight on 384-wide rows. The view widens them to 16-entry fp32 tables
// (unused entries 0) for the kernels; qgemm_f32 runs them on the look-up-table kernels (qgemm.h).
// Rows are taken 16 at a time ("block"; the last one padded). Along k a block is cut into chunks
// of 64 bytes; a chunk holds kc k-values of all 16 rows, row-major by row:
//   bits 8 (kc = 4): byte 4*r + j        = u[row 16b + r][4c + j]                  (j < 4)
//   bits 4 (kc = 8): byte 4*r + j, low   = u[row 16b + r][8c + j]                  (j < 4)
//                                  high  = u[row 16b + r][8c + 4 + j]
// so each 32-bit lane of a chunk is one row's 4 consecutive k (the operand vpdpbusd / sdot
// multiply against 4 broadcast activation bytes), a zmm holds all 16 rows, a ymm 8, a q-register
// 4. k is padded to a multiple of 8 with code z (value 0). A group covers group_size k-values
// (group_size = k: one scale per row) and must be a multiple of 8 unless it is the whole row; the
// last group may be shorter (ragged).
// Bit-plane containers keep the chunks of their base container (4 for 2..3 bits, 8 for 5..6) with
// the always-zero bits left out: a base chunk B[0..63] is stored in 64 * bits / base bytes S,
//   2 bits: S[i] = (B[i] & 0x33) | (B[i + 32] & 0x33) << 2                         (i < 32)
//   3 bits: those 32 bytes, then S[32 + i] = sum_q ((B[i + 16q] >> 2) & 0x11) << q (i < 16, q < 4)
//   5 bits: S[i] = (B[i] & 15) | (B[i + 32] & 15) << 4                            (i < 32),
//           then S[32 + i] = sum_q ((B[i + 8q] >> 4) & 1) << q                    (i < 8, q < 8)
//   6 bits: those 32 bytes, then S[32 + i] = sum_q ((B[i + 16q] >> 4) & 3) << 2q  (i < 16, q < 4)
// Every plane is a byte-wise mask and shift of the base bytes, so expanding chunks back into the
// base layout (expand_planar_chunks) takes a few vector instructions per 16 bytes; the products
// run the base container's kernels on panels expanded just before use (qgemm.h).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace lowbit::kernels {

inline constexpr size_t kPackRows = 16;        // rows per block
inline constexpr size_t kPackChunkBytes = 64;  // bytes per (block, chunk)
inline constexpr size_t kPackKAlign = 8;       // k is padded to this
// Integer accumulation bound: |sum of a * (u - z)| over a group must fit int32 in every kernel
// (|a| <= 128, |u - z| <= 255, and the VNNI int4 path accumulates 16 * u).
inline constexpr size_t kMaxGroupSize = 65536;

// The container a quantizer's codes of `code_bits` (2..8) are packed in: their own width, but 8
// for 7 bits.
int container_bits(int code_bits);

struct PackedLayout {
  int bits = 4;             // container width: 4 or 8, or a bit-plane container 2, 3, 5, 6
  bool asymmetric = false;  // zero point per (row, group)
  int zero = 8;             // the shared zero point when symmetric
  size_t n = 0, k = 0;
  size_t group_size = 0;     // k-values per scale; equals k for one scale per row
  size_t codebook_rows = 0;  // 0: the integer grid; 1 or n: codebook tables
  bool table_fp16 = false;   // codebook tables stored in fp16 (else fp32)

  bool codebook() const { return codebook_rows > 0; }
  // Stored entries per codebook table (2^bits), and their bytes in all.
  size_t table_entries() const { return codebook() ? size_t{1} << bits : 0; }
  size_t table_bytes() const { return codebook_rows * table_entries() * (table_fp16 ? 2 : 4); }

  // The container the kernels multiply: 4 or 8 (equal to bits unless it is a bit-plane one).
  int base_bits() const { return bits <= 4 ? 4 : 8; }
  bool planar() const { return bits != base_bits(); }
  // Stored bytes of one chunk (64 in the base containers, 64 * bits / base_bits in the others).
  size_t chunk_bytes() const {
    return kPackChunkBytes * static_cast<size_t>(bits) / static_cast<size_t>(base_bits());
  }

  size_t k_per_chunk() const { return base_bits() == 4 ? 8 : 4; }
  size_t k_padded() const { return (k + kPackKAlign - 1) / kPackKAlign * kPackKAlign; }
  size_t blocks() const { return (n + kPackRows - 1) / kPackRows; }
  size_t chunks() const { return k_padded() / k_per_chunk(); }  // per block
  size_t groups() const { return (k + group_size - 1) / group_size; }
  size_t chunks_per_group() const { return group_size / k_per_chunk(); }  // if groups() > 1
  size_t block_bytes() const { return chunks() * chunk_bytes(); }         // as stored

  size_t codes_offset() const { return 64; }
  size_t scales_offset() const;
  size_t zeros_offset() const;     // 0 when symmetric
  size_t codebook_offset() const;  // 0 without a codebook
  size_t total_bytes() const;
};

// A parsed, validated view of a packed blob (non-owning: the bytes may be a memory-mapped file).
class PackedWeightsView {
 public:
  PackedWeightsView() = default;
  // Validates the header and the sizes against blob.size(); fails with lowbit::Error.
  static PackedWeightsView parse(std::span<const std::byte> blob);

  const PackedLayout& layout() const { return layout_; }
  size_t n() const { return layout_.n; }
  size_t k() const { return layout_.k; }
  std::span<const std::byte> blob() const { return blob_; }
  const uint8_t* codes() const;     // codes section
  const std::byte* scales() const;  // fp32, possibly unaligned (read with memcpy / loadu)
  const uint8_t* zeros() const;     // nullptr when symmetric
  // The tables as 16-entry fp32 rows (entries past 2^bits are 0): the blob's own bytes when they
  // are stored that way (4-bit fp32), else a copy widened once by parse and shared by the views'
  // copies. codebook_rows x 16, nullptr without a codebook.
  const float* codebook() const;
  std::span<const float> table(size_t row) const;  // the 16 entries row `row` uses

  float scale(size_t row, size_t group) const;
  int zero(size_t row, size_t group) const;
  int code(size_t row, size_t col) const;  // u at (row, col), col < k_padded()
  // out[c] = float(u - z) * s for c < k: one row dequantized (an embedding lookup from a tied
  // quantized head), reading the layout directly rather than element by element.
  void dequantize_row(size_t row, std::span<float> out) const;

 private:
  PackedLayout layout_;
  std::span<const std::byte> blob_;
  std::shared_ptr<const std::vector<float>> tables_;  // widened tables (see codebook())
};

// A packed matrix that owns its bytes (64-byte aligned).
class PackedWeights {
 public:
  PackedWeights() = default;
  // Copies a blob (e.g. read from a file) and parses it.
  static PackedWeights from_bytes(std::span<const std::byte> blob);

  const PackedWeightsView& view() const { return view_; }
  const PackedLayout& layout() const { return view_.layout(); }
  std::span<const std::byte> bytes() const { return view_.blob(); }

 private:
  friend PackedWeights pack_weights(std::span<const uint8_t>, size_t, size_t, int, size_t,
                                    std::span<const float>, std::span<const uint8_t>, int);
  friend PackedWeights pack_codebook_weights(std::span<const uint8_t>, size_t, size_t, size_t,
                                             std::span<const float>, std::span<const float>, size_t,
                                             int, bool);
  struct Free {
    void operator()(std::byte* p) const;
  };
  void allocate(size_t bytes);
  std::unique_ptr<std::byte[], Free> storage_;
  PackedWeightsView view_;
};

// `chunks` stored chunks of a bit-plane container (bits 2, 3, 5 or 6) back into the base layout,
// 64 bytes each, at `out`.
void expand_planar_chunks(const uint8_t* in, size_t chunks, int bits, uint8_t* out);

// Packs row-major codes [n, k] (u = q - qmin, each < 2^bits) with `scales` [n, groups] and, for
// asymmetric weights, `zeros` [n, groups] (code units, < 2^bits); with `zeros` empty every group
// uses `symmetric_zero` (-qmin: 8 for int4, 128 for int8, 2^(b-1) in general). group_size 0
// means one group per row. bits is the container: 2, 3, 4, 5, 6 or 8.
PackedWeights pack_weights(std::span<const uint8_t> codes, size_t n, size_t k, int bits,
                           size_t group_size, std::span<const float> scales,
                           std::span<const uint8_t> zeros, int symmetric_zero);

// Codebook weights: codes [n, k] (< 2^bits), scales [n, groups], `codebook` codebook_rows (1 or n)
// tables of 16 fp32 values of which the first 2^bits are stored (finite; the rest is ignored).
// bits is the container: 2, 3 or 4. With fp16_tables the entries are stored rounded to fp16
// (round them first to make the packed weights equal the caller's; beyond fp16's range fails).
PackedWeights pack_codebook_weights(std::span<const uint8_t> codes, size_t n, size_t k,
                                    size_t group_size, std::span<const float> scales,
                                    std::span<const float> codebook, size_t codebook_rows,
                                    int bits = 4, bool fp16_tables = false);

// The inverse of pack_weights (tests, inspection): codes [n, k], scales and zeros [n, groups].
struct UnpackedWeights {
  std::vector<uint8_t> codes;
  std::vector<float> scales;
  std::vector<uint8_t> zeros;   // filled with the shared zero when symmetric (0 for codebooks)
  std::vector<float> codebook;  // codebook_rows x 16 (past 2^bits: 0), empty for the integer grid
  size_t codebook_rows = 0;
};
UnpackedWeights unpack_weights(const PackedWeightsView& w);
// The fp32 matrix [n, k] the packed weights stand for: (u - z) * s, or table[u] * s.
std::vector<float> dequantize_weights(const PackedWeightsView& w);

}  // namespace lowbit::kernels
