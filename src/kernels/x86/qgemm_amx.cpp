// Integer GEMM with AMX (Intel Advanced Matrix Extensions: AMX-TILE + AMX-INT8; compiled with the
// AVX-512 VNNI flags plus -mamx-tile -mamx-int8). One tdpbssd / tdpbsud multiplies a 16 x 64-byte
// tile of signed activations by a 16 x 64-byte tile of weight bytes into 16 x 16 int32 sums:
// 16384 multiply-adds per instruction, 256 times a zmm vpdpbusd.
//
// Operands, without any reshuffling:
// - A (activations, s8): 16 token rows x 64 consecutive k, loaded straight from the quantized
//   rows with their stride.
// - B (weights): tile row i holds k 4i..4i+3 of 16 outputs, 4 bytes each. That is the packed
//   int8 chunk (packed_weights.h), so 16 consecutive chunks of a block are one B tile. Blocks are
//   copied (int8) or unpacked (int4) once per L2 panel, and every block in the panel is
//   zero-padded to a multiple of 64 k so each tile is whole.
// Symmetric weights go in as signed u - z (tdpbssd), so each int32 sum is already
// sum a * (u - z); asymmetric ones as unsigned codes (tdpbsud) with z * sum(a) removed per group.
// Each group is then rescaled with one fma, the same arithmetic as the scalar reference: the
// result is bit-identical.
//
// Tiles: C 0..3 (2 x 2 of 16 x 16 int32), A 4..5, B 6..7; a register step is up to 32 rows x 32
// outputs. The AMX path needs whole 16-row tiles and groups that are whole tiles (one scale per
// row, or a group size that is a multiple of 64); other rows and formats go to the AVX-512 VNNI
// kernel, which gives the same bits. Tile numbers are immediates in the intrinsics (GCC pastes
// them into the instruction text), hence the literal numbers below.
#include "kernels/x86/avx512_intrinsics.h"

#include <cstring>

#include "kernels/isa_common.h"
#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {
namespace {

constexpr size_t kTileK = 64;                      // k-values (bytes) per A tile row
constexpr size_t kTileBytes = 16 * kTileK;         // one B tile: 16 chunks of 64 bytes
constexpr size_t kPanelBytes = size_t{256} << 10;  // unpacked weights of one panel (L2-resident)

// The palette-1 tile configuration (64 bytes, the layout ldtilecfg reads).
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Sets every tile used here to 16 rows x 64 bytes. The configuration is per thread.
void configure_tiles() {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  _tile_loadconfig(&cfg);
}

// Geometry of the unpacked panel: every block holds `tiles` B tiles (k padded to 64 with code 0,
// which multiplies to nothing whatever the activation bytes there).
struct PanelShape {
  size_t tiles;        // per block
  size_t block_bytes;  // tiles * kTileBytes
  size_t tiles_per_group;
};

// Blocks [b0, b1) of w copied (int8) or unpacked (int4: low nibbles of chunk c -> int8 chunk 2c,
// high nibbles -> 2c + 1) into out, each padded to shape.block_bytes. Symmetric weights (one
// shared zero point z) are stored signed, u - z (which fits int8 for every container), so the
// product needs no zero-point term; asymmetric ones stay unsigned codes.
void unpack_panel(const PackedArgs& w, const PanelShape& shape, size_t b0, size_t b1,
                  uint8_t* out) {
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const bool to_signed = w.zeros == nullptr;
  const __m512i zero = _mm512_set1_epi8(static_cast<char>(to_signed ? w.zero : 0));
  for (size_t b = b0; b < b1; ++b) {
    const uint8_t* src = w.codes + b * w.block_bytes;
    size_t written = 0;
    if (w.bits == 4) {
      for (size_t c = 0; c < w.chunks; ++c) {
        const __m512i v = _mm512_loadu_si512(src + c * 64);
        const __m512i lo = _mm512_and_si512(v, low4);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
        _mm512_storeu_si512(out + c * 128, _mm512_sub_epi8(lo, zero));
        _mm512_storeu_si512(out + c * 128 + 64, _mm512_sub_epi8(hi, zero));
      }
      written = 2 * w.block_bytes;
    } else {
      for (size_t c = 0; c < w.chunks; ++c)
        _mm512_storeu_si512(out + c * 64, _mm512_sub_epi8(_mm512_loadu_si512(src + c * 64), zero));
      written = w.block_bytes;
    }
    std::memset(out + written, 0, shape.block_bytes - written);
    out += shape.block_bytes;
  }
}

// Rows row0 .. row0 + 16 MT, blocks blk .. blk + NT (blk absolute; `codes` is blk's unpacked
// block in the panel).
template <bool kAsym, int MT, int NT>
void tile_step(const QgemmArgs& p, const PanelShape& shape, const uint8_t* codes, size_t row0,
               size_t blk) {
  const PackedArgs& w = p.w;
  const int8_t* a0 = p.a + row0 * p.lda;
  const int8_t* a1 = a0 + 16 * p.lda;
  const uint8_t* w0 = codes;
  const uint8_t* w1 = codes + shape.block_bytes;
  const size_t lda = p.lda;

  alignas(64) float y[MT][NT][16][16];
  alignas(64) int32_t c[MT][NT][16][16];
  for (size_t g = 0; g < w.groups; ++g) {
    const size_t t0 = g * shape.tiles_per_group;
    const size_t t1 = min_size(shape.tiles, t0 + shape.tiles_per_group);
    _tile_zero(0);
    if constexpr (NT == 2) _tile_zero(1);
    if constexpr (MT == 2) _tile_zero(2);
    if constexpr (MT == 2 && NT == 2) _tile_zero(3);
    for (size_t t = t0; t < t1; ++t) {
      _tile_loadd(4, a0 + t * kTileK, lda);
      if constexpr (MT == 2) _tile_loadd(5, a1 + t * kTileK, lda);
      _tile_loadd(6, w0 + t * kTileBytes, 64);
      if constexpr (NT == 2) _tile_loadd(7, w1 + t * kTileBytes, 64);
      if constexpr (kAsym) {  // unsigned codes u; z * sum(a) comes off in the epilogue
        _tile_dpbsud(0, 4, 6);
        if constexpr (NT == 2) _tile_dpbsud(1, 4, 7);
        if constexpr (MT == 2) _tile_dpbsud(2, 5, 6);
        if constexpr (MT == 2 && NT == 2) _tile_dpbsud(3, 5, 7);
      } else {  // signed u - z: the sums are final
        _tile_dpbssd(0, 4, 6);
        if constexpr (NT == 2) _tile_dpbssd(1, 4, 7);
        if constexpr (MT == 2) _tile_dpbssd(2, 5, 6);
        if constexpr (MT == 2 && NT == 2) _tile_dpbssd(3, 5, 7);
      }
    }
    _tile_stored(0, c[0][0], 64);
    if constexpr (NT == 2) _tile_stored(1, c[0][NT - 1], 64);
    if constexpr (MT == 2) _tile_stored(2, c[MT - 1][0], 64);
    if constexpr (MT == 2 && NT == 2) _tile_stored(3, c[MT - 1][NT - 1], 64);

    // Group epilogue: exact int32 sum of a * (u - z), then one fma with sa * sw. The last group
    // adds the bias and writes the outputs; earlier ones keep the running sums in L1.
    const bool last = g + 1 == w.groups;
    for (int j = 0; j < NT; ++j) {
      const size_t gi = ((blk + j) * w.groups + g) * 16;
      const __m512 sw = _mm512_loadu_ps(w.scales + gi);
      [[maybe_unused]] __m512i zv = _mm512_setzero_si512();
      if constexpr (kAsym)
        zv = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.zeros + gi)));
      const size_t n0 = (blk + j) * 16;
      const size_t valid = min_size(16, w.n - n0);
      const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1);
      const __m512 bias = p.bias ? _mm512_maskz_loadu_ps(mask, p.bias + n0) : _mm512_setzero_ps();
      for (int i = 0; i < MT; ++i)
        for (size_t r = 0; r < 16; ++r) {
          const size_t row = row0 + 16 * i + r;
          __m512i s = _mm512_load_si512(c[i][j][r]);
          if constexpr (kAsym)
            s = _mm512_sub_epi32(
                s, _mm512_mullo_epi32(zv, _mm512_set1_epi32(p.a_sums[row * w.groups + g])));
          if (p.a_offsets)  // 8-bit asymmetric activations: + o * sum(u - z)
            s = _mm512_add_epi32(s, _mm512_mullo_epi32(_mm512_loadu_si512(p.w_sums + gi),
                                                       _mm512_set1_epi32(p.a_offsets[row])));
          const __m512 scale = _mm512_mul_ps(_mm512_set1_ps(p.a_scales[row]), sw);
          const __m512 prev = g == 0 ? _mm512_setzero_ps() : _mm512_load_ps(y[i][j][r]);
          const __m512 sum = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), scale, prev);
          if (!last)
            _mm512_store_ps(y[i][j][r], sum);
          else
            _mm512_mask_storeu_ps(p.y + row * p.ldy + n0, mask,
                                  p.bias ? _mm512_add_ps(sum, bias) : sum);
        }
    }
  }
}

// Rows [0, rows) (a multiple of 16) over the panel's blocks [pb, pe).
template <bool kAsym>
void run_panel(const QgemmArgs& p, const PanelShape& shape, const uint8_t* panel, size_t pb,
               size_t pe, size_t rows) {
  for (size_t r = 0; r < rows; r += 32) {
    const bool two_rows = r + 32 <= rows;
    size_t b = pb;
    for (; b + 2 <= pe; b += 2) {
      const uint8_t* codes = panel + (b - pb) * shape.block_bytes;
      two_rows ? tile_step<kAsym, 2, 2>(p, shape, codes, r, b)
               : tile_step<kAsym, 1, 2>(p, shape, codes, r, b);
    }
    if (b < pe) {
      const uint8_t* codes = panel + (b - pb) * shape.block_bytes;
      two_rows ? tile_step<kAsym, 2, 1>(p, shape, codes, r, b)
               : tile_step<kAsym, 1, 1>(p, shape, codes, r, b);
    }
  }
}

}  // namespace

void qgemm_amx(const QgemmArgs& p, size_t block_begin, size_t block_end) {
  const PackedArgs& w = p.w;
  const size_t k_per_chunk = w.bits == 4 ? 8 : 4;
  const size_t group_k = w.groups == 1 ? 0 : w.chunks_per_group * k_per_chunk;
  PanelShape shape{};
  shape.tiles = (w.chunks * k_per_chunk + kTileK - 1) / kTileK;
  shape.block_bytes = shape.tiles * kTileBytes;
  shape.tiles_per_group = w.groups == 1 ? shape.tiles : group_k / kTileK;
  // Whole 16-row tiles only; the last A tile of a row reads up to the padded k, which must lie
  // inside the row's stride (the quantized rows are zero-padded to 64 bytes).
  const size_t amx_rows = p.m / 16 * 16;
  const bool fits = amx_rows > 0 && (w.groups == 1 || group_k % kTileK == 0) &&
                    p.lda >= shape.tiles * kTileK && shape.block_bytes <= kPanelBytes;
  if (!fits) {
    qgemm_avx512vnni(p, block_begin, block_end);
    return;
  }

  configure_tiles();
  alignas(64) uint8_t panel[kPanelBytes];
  const size_t per_panel = kPanelBytes / shape.block_bytes;
  for (size_t pb = block_begin; pb < block_end; pb += per_panel) {
    const size_t pe = min_size(block_end, pb + per_panel);
    unpack_panel(w, shape, pb, pe, panel);
    if (w.zeros != nullptr)
      run_panel<true>(p, shape, panel, pb, pe, amx_rows);
    else
      run_panel<false>(p, shape, panel, pb, pe, amx_rows);
  }
  _tile_release();

  if (amx_rows < p.m) {
    // The last m % 16 rows: the VNNI kernel on the same weights (same bits).
    QgemmArgs rest = p;
    rest.a = p.a + amx_rows * p.lda;
    rest.a_scales = p.a_scales + amx_rows;
    rest.a_sums = p.a_sums + amx_rows * w.groups;
    if (p.a_offsets) rest.a_offsets = p.a_offsets + amx_rows;
    rest.m = p.m - amx_rows;
    rest.y = p.y + amx_rows * p.ldy;
    qgemm_avx512vnni(rest, block_begin, block_end);
  }
}

}  // namespace lowbit::kernels::detail
