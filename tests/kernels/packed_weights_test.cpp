// Packed weight blobs: round trips, the documented byte layout, padding, and header validation.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "core/error.h"
#include "kernels/kernel_test_util.h"
#include "kernels/packed_weights.h"

namespace lowbit::kernels {
namespace {

TEST(KernelPackedWeights, RoundTrip) {
  std::mt19937 rng(1);
  struct Case {
    size_t n, k, group;
  };
  for (const Case c : {Case{1, 8, 0}, Case{16, 64, 32}, Case{37, 100, 32}, Case{33, 97, 0},
                       Case{50, 256, 128}, Case{17, 24, 8}})
    for (int bits : {2, 3, 4, 5, 6, 8})
      for (bool asym : {false, true}) {
        if (bits == 8 && c.k == 97 && asym) continue;  // covered by the symmetric case
        const auto w = testing::random_weights(rng, c.n, c.k, c.group, bits, asym);
        const PackedWeights p = w.pack();
        const PackedLayout& l = p.layout();
        EXPECT_EQ(l.n, c.n);
        EXPECT_EQ(l.k, c.k);
        EXPECT_EQ(l.group_size, c.group == 0 ? c.k : c.group);
        EXPECT_EQ(l.groups(), w.groups());
        EXPECT_EQ(p.bytes().size(), l.total_bytes());
        const UnpackedWeights u = unpack_weights(p.view());
        EXPECT_EQ(u.codes, w.codes);
        EXPECT_EQ(u.scales, w.scales);
        if (asym) {
          EXPECT_EQ(u.zeros, w.zeros);
        } else {
          for (uint8_t z : u.zeros) EXPECT_EQ(z, 1 << (bits - 1));
        }
        // The blob alone is the matrix: copying it (as a file would) gives the same view.
        const PackedWeights copy = PackedWeights::from_bytes(p.bytes());
        EXPECT_EQ(std::memcmp(copy.bytes().data(), p.bytes().data(), p.bytes().size()), 0);
        EXPECT_EQ(unpack_weights(copy.view()).codes, w.codes);
        // Dequantized values are (u - z) * s.
        const std::vector<float> d = dequantize_weights(p.view());
        const size_t gs = w.group_size();
        for (size_t r = 0; r < c.n; r += 7)
          for (size_t col = 0; col < c.k; col += 5)
            EXPECT_EQ(d[r * c.k + col],
                      static_cast<float>(w.codes[r * c.k + col] - w.zero(r, col / gs)) *
                          w.scales[r * w.groups() + col / gs]);
        // One row at a time (embedding lookups): every row, every column, the same values.
        std::vector<float> row(c.k + 3, -1.0f);
        for (size_t r = 0; r < c.n; ++r) {
          p.view().dequantize_row(r, row);
          for (size_t col = 0; col < c.k; ++col) ASSERT_EQ(row[col], d[r * c.k + col]);
          EXPECT_EQ(row[c.k], -1.0f);  // nothing written past k
        }
        EXPECT_THROW(p.view().dequantize_row(c.n, row), Error);
        EXPECT_THROW(p.view().dequantize_row(0, std::span(row).first(c.k - 1)), Error);
      }
}

// The byte positions docs/kernels.md and packed_weights.h promise.
TEST(KernelPackedWeights, DocumentedLayout) {
  const size_t n = 20, k = 16;  // two blocks (the second padded), int4: two chunks per block
  std::vector<uint8_t> codes(n * k);
  for (size_t r = 0; r < n; ++r)
    for (size_t c = 0; c < k; ++c) codes[r * k + c] = static_cast<uint8_t>((r + 3 * c) % 16);
  std::vector<float> scales(n, 0.5f);
  const PackedWeights p = pack_weights(codes, n, k, 4, 0, scales, {}, 8);
  const PackedLayout& l = p.layout();
  ASSERT_EQ(l.chunks(), 2u);
  ASSERT_EQ(l.block_bytes(), 128u);
  const auto* b = reinterpret_cast<const uint8_t*>(p.bytes().data()) + l.codes_offset();
  for (size_t row = 0; row < n; ++row)
    for (size_t col = 0; col < k; ++col) {
      const size_t chunk = col / 8, j = col % 8;
      const uint8_t byte = b[(row / 16) * 128 + chunk * 64 + 4 * (row % 16) + (j % 4)];
      EXPECT_EQ(j < 4 ? byte & 15 : byte >> 4, codes[row * k + col]) << row << "," << col;
    }
  // Padding rows 20..31 hold the symmetric zero point in both nibbles.
  EXPECT_EQ(b[128 + 4 * 5], 0x88);
  // int8: four k per chunk, one byte each.
  const std::vector<uint8_t> c8 = [&] {
    std::vector<uint8_t> v(n * k);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>(i * 7);
    return v;
  }();
  const PackedWeights p8 = pack_weights(c8, n, k, 8, 8, std::vector<float>(n * 2, 1.0f), {}, 128);
  const auto* b8 = reinterpret_cast<const uint8_t*>(p8.bytes().data()) + 64;
  EXPECT_EQ(b8[1 * 64 + 4 * 3 + 2], c8[3 * k + 6]);                 // row 3, k = 4 * 1 + 2
  EXPECT_EQ(b8[4 * 64 * 1 + 3 * 64 + 4 * 1 + 1], c8[17 * k + 13]);  // block 1, row 17, k 13
  // Scales: blocks x groups x 16.
  float s;
  std::memcpy(&s, p8.bytes().data() + p8.layout().scales_offset() + ((1 * 2 + 1) * 16 + 1) * 4, 4);
  EXPECT_EQ(s, 1.0f);
}

// The bit-plane containers' bytes as packed_weights.h writes them, from the same codes packed in
// the base container; and expand_planar_chunks gives the base bytes back.
TEST(KernelPackedWeights, DocumentedBitPlanes) {
  std::mt19937 rng(5);
  for (int bits : {2, 3, 5, 6}) {
    const int base = bits <= 4 ? 4 : 8;
    const auto w = testing::random_weights(rng, 21, 40, 8, bits, true);
    const PackedWeights planar = w.pack();
    const PackedWeights wide = pack_weights(w.codes, w.n, w.k, base, w.group, w.scales, w.zeros, 0);
    const PackedLayout& l = planar.layout();
    ASSERT_TRUE(l.planar());
    ASSERT_EQ(l.chunk_bytes(), size_t{64} * static_cast<size_t>(bits) / static_cast<size_t>(base));
    ASSERT_EQ(l.chunks(), wide.layout().chunks());
    const size_t chunks = l.blocks() * l.chunks();
    const auto* s_all = reinterpret_cast<const uint8_t*>(planar.bytes().data()) + l.codes_offset();
    const auto* b_all = reinterpret_cast<const uint8_t*>(wide.bytes().data()) + 64;
    for (size_t c = 0; c < chunks; ++c) {
      const uint8_t* s = s_all + c * l.chunk_bytes();
      const uint8_t* b = b_all + c * 64;
      for (size_t i = 0; i < 32; ++i)
        ASSERT_EQ(s[i], base == 4 ? ((b[i] & 0x33) | (b[i + 32] & 0x33) << 2)
                                  : ((b[i] & 15) | (b[i + 32] & 15) << 4))
            << bits << " chunk " << c << " byte " << i;
      for (size_t i = 0; i < l.chunk_bytes() - 32; ++i) {
        unsigned v = 0;
        if (bits == 3)
          for (unsigned q = 0; q < 4; ++q) v |= ((b[i + 16 * q] >> 2) & 0x11u) << q;
        if (bits == 5)
          for (unsigned q = 0; q < 8; ++q) v |= ((b[i + 8 * q] >> 4) & 1u) << q;
        if (bits == 6)
          for (unsigned q = 0; q < 4; ++q) v |= ((b[i + 16 * q] >> 4) & 3u) << (2 * q);
        ASSERT_EQ(s[32 + i], v) << bits << " chunk " << c << " plane byte " << i;
      }
    }
    std::vector<uint8_t> expanded(chunks * 64);
    expand_planar_chunks(s_all, chunks, bits, expanded.data());
    EXPECT_EQ(std::memcmp(expanded.data(), b_all, expanded.size()), 0) << bits;
    // The stored size is bits per code (plus padding and side data).
    EXPECT_EQ(l.block_bytes() * l.blocks(), chunks * 64 * static_cast<size_t>(bits) / base);
  }
  EXPECT_EQ(container_bits(3), 3);
  EXPECT_EQ(container_bits(7), 8);
  EXPECT_THROW(container_bits(1), Error);
  EXPECT_THROW(container_bits(9), Error);
  uint8_t out[64];
  EXPECT_THROW(expand_planar_chunks(out, 1, 4, out), Error);
}

TEST(KernelPackedWeights, PaddingDequantizesToZero) {
  std::mt19937 rng(2);
  const auto w = testing::random_weights(rng, 5, 13, 0, 4, true);
  const PackedWeights p = w.pack();
  for (size_t r = 0; r < 5; ++r)
    for (size_t c = 13; c < p.layout().k_padded(); ++c)
      EXPECT_EQ(p.view().code(r, c), p.view().zero(r, 0));
}

TEST(KernelPackedWeights, RejectsBadInput) {
  const std::vector<uint8_t> codes(4 * 16, 3);
  const std::vector<float> scales(4, 1.0f);
  EXPECT_THROW(pack_weights(codes, 4, 16, 7, 0, scales, {}, 4), Error);  // container
  EXPECT_THROW(pack_weights(std::vector<uint8_t>(64, 8), 4, 16, 3, 0, scales, {}, 4), Error);
  EXPECT_THROW(pack_weights(codes, 4, 16, 4, 12, scales, {}, 8), Error);  // group % 8
  EXPECT_THROW(pack_weights(codes, 4, 16, 4, 0, {scales.data(), 3}, {}, 8), Error);
  EXPECT_THROW(pack_weights(std::vector<uint8_t>(64, 16), 4, 16, 4, 0, scales, {}, 8), Error);
  EXPECT_THROW(pack_weights(codes, 4, 16, 4, 0, scales, {}, 16), Error);  // zero range
  EXPECT_THROW(pack_weights(codes, 4, 16, 4, 0, scales, std::vector<uint8_t>(3), 0), Error);

  const PackedWeights p = pack_weights(codes, 4, 16, 4, 0, scales, {}, 8);
  std::vector<std::byte> blob(p.bytes().begin(), p.bytes().end());
  EXPECT_NO_THROW(PackedWeightsView::parse(blob));
  EXPECT_THROW(PackedWeightsView::parse({blob.data(), blob.size() - 1}), Error);  // truncated
  EXPECT_THROW(PackedWeightsView::parse({blob.data(), 10}), Error);
  auto corrupt = blob;
  corrupt[0] = std::byte{'X'};
  EXPECT_THROW(PackedWeightsView::parse(corrupt), Error);
  corrupt = blob;
  corrupt[8] = std::byte{7};  // bits
  EXPECT_THROW(PackedWeightsView::parse(corrupt), Error);
  corrupt = blob;
  corrupt[24] = std::byte{40};  // n = 40: three blocks, the sizes no longer match
  EXPECT_THROW(PackedWeightsView::parse(corrupt), Error);
}

}  // namespace
}  // namespace lowbit::kernels
