#include "kernels/qgemm.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/kernel_variants.h"
#include "kernels/qgemm_driver.h"

namespace lowbit::kernels {
namespace {

template <class Fn>
struct Variant {
  Isa isa;
  Fn fn;
};

// Best first; the scalar reference last.
constexpr std::array kQgemm = {
#if defined(__x86_64__)
    Variant<detail::QgemmFn>{Isa::kAmx, detail::qgemm_amx},
    Variant<detail::QgemmFn>{Isa::kAvx512Vnni, detail::qgemm_avx512vnni},
    Variant<detail::QgemmFn>{Isa::kAvxVnni, detail::qgemm_avxvnni},
    Variant<detail::QgemmFn>{Isa::kAvx2, detail::qgemm_avx2},
#endif
#if defined(__aarch64__)
    Variant<detail::QgemmFn>{Isa::kNeonDot, detail::qgemm_neondot},
    Variant<detail::QgemmFn>{Isa::kNeon, detail::qgemm_neon},
#endif
    Variant<detail::QgemmFn>{Isa::kScalar, detail::qgemm_scalar},
};

// The packed int16 multiplier (Agile-Quant): AVX2 for x86 without VNNI, plain NEON for ARMv8.0.
constexpr std::array kQgemmPacked16 = {
#if defined(__x86_64__)
    Variant<detail::QgemmFn>{Isa::kAvx2, detail::qgemm_packed16_avx2},
#endif
#if defined(__aarch64__)
    Variant<detail::QgemmFn>{Isa::kNeon, detail::qgemm_packed16_neon},
#endif
    Variant<detail::QgemmFn>{Isa::kScalar, detail::qgemm_packed16_scalar},
};

constexpr std::array kQgemmF32 = {
#if defined(__x86_64__)
    Variant<detail::QgemmF32Fn>{Isa::kAvx512, detail::qgemm_f32_avx512},
    Variant<detail::QgemmF32Fn>{Isa::kAvx2, detail::qgemm_f32_avx2},
#endif
#if defined(__aarch64__)
    Variant<detail::QgemmF32Fn>{Isa::kNeon, detail::qgemm_f32_neon},
#endif
    Variant<detail::QgemmF32Fn>{Isa::kScalar, detail::qgemm_f32_scalar},
};

constexpr std::array kQgemmLut = {
#if defined(__x86_64__)
    Variant<detail::QgemmF32Fn>{Isa::kAvx512, detail::qgemm_lut_avx512},
    Variant<detail::QgemmF32Fn>{Isa::kAvx2, detail::qgemm_lut_avx2},
#endif
#if defined(__aarch64__)
    Variant<detail::QgemmF32Fn>{Isa::kNeon, detail::qgemm_lut_neon},
#endif
    Variant<detail::QgemmF32Fn>{Isa::kScalar, detail::qgemm_lut_scalar},
};

// Fused look-up variants of qgemm_lut8 (nullptr: unpack panels for the int8 GEMM instead).
constexpr std::array kLut8Fused = {
#if defined(__x86_64__)
    Variant<detail::QgemmFn>{Isa::kAvx512Vnni, detail::qgemm_lut8_avx512vnni},
#endif
    Variant<detail::QgemmFn>{Isa::kScalar, nullptr},
};

// Bit-plane containers read directly by the kernel (nullptr: expand panels for the base kernel).
constexpr std::array kQgemmPlanar = {
#if defined(__x86_64__)
    Variant<detail::QgemmFn>{Isa::kAvx512Vnni, detail::qgemm_planar_avx512vnni},
    Variant<detail::QgemmFn>{Isa::kAvxVnni, detail::qgemm_planar_avxvnni},
    Variant<detail::QgemmFn>{Isa::kAvx2, detail::qgemm_planar_avx2},
#endif
#if defined(__aarch64__)
    Variant<detail::QgemmFn>{Isa::kNeonDot, detail::qgemm_planar_neondot},
    Variant<detail::QgemmFn>{Isa::kNeon, detail::qgemm_planar_neon},
#endif
    Variant<detail::QgemmFn>{Isa::kScalar, nullptr},
};

constexpr std::array kQgemmF32Planar = {
#if defined(__x86_64__)
    Variant<detail::QgemmF32Fn>{Isa::kAvx512, detail::qgemm_f32_planar_avx512},
    Variant<detail::QgemmF32Fn>{Isa::kAvx2, detail::qgemm_f32_planar_avx2},
#endif
#if defined(__aarch64__)
    Variant<detail::QgemmF32Fn>{Isa::kNeon, detail::qgemm_f32_planar_neon},
#endif
    Variant<detail::QgemmF32Fn>{Isa::kScalar, nullptr},
};

constexpr std::array kLut8Unpack = {
#if defined(__x86_64__)
    Variant<detail::Lut8UnpackFn>{Isa::kAvx512, detail::lut8_unpack_avx512},
    Variant<detail::Lut8UnpackFn>{Isa::kAvx2, detail::lut8_unpack_avx2},
#endif
#if defined(__aarch64__)
    Variant<detail::Lut8UnpackFn>{Isa::kNeon, detail::lut8_unpack_neon},
#endif
    Variant<detail::Lut8UnpackFn>{Isa::kScalar, detail::lut8_unpack_scalar},
};

detail::PackedArgs packed_args(const PackedWeightsView& w) {
  const PackedLayout& l = w.layout();
  if (l.n == 0) fail("qgemm: empty packed weights");
  // Scales are read as floats; mmap and PackedWeights give far stronger alignment than this.
  if (reinterpret_cast<uintptr_t>(w.scales()) % alignof(float) != 0)
    fail("qgemm: packed weights blob is not 4-byte aligned");
  detail::PackedArgs p{};
  p.codes = w.codes();
  p.scales = reinterpret_cast<const float*>(w.scales());
  p.zeros = w.zeros();
  p.bits = l.bits;
  p.zero = l.zero;
  p.n = l.n;
  p.k = l.k;
  p.groups = l.groups();
  p.chunks = l.chunks();
  p.chunks_per_group = p.groups == 1 ? p.chunks : l.chunks_per_group();
  p.block_bytes = l.block_bytes();
  p.codebook = w.codebook();
  p.codebook_rows = l.codebook_rows;
  p.lut8 = nullptr;
  return p;
}

using detail::check_output;
using detail::kParallelMinMacs;

// Blocks [b0, b1) through the kernel fn. Bit-plane containers (packed_weights.h): for fewer than
// 16 rows, a variant that decodes the planes in registers where the ISA has one (x86, NEON);
// otherwise the base container's kernel on panels of blocks expanded just before use. A panel stays
// in L2 while the kernel sweeps the rows over it, so the weights still travel from memory at their
// stored width. For many rows the expansion is noise; for a GEMV it costs 3-4x the int4 kernel's
// time (docs/kernels.md), which is why the register variants exist.
template <class Args, class Fn>
void run_block_range(const Args& args, Fn fn, size_t b0, size_t b1) {
  const detail::PackedArgs& w = args.w;
  if (w.bits == 4 || w.bits == 8) return fn(args, b0, b1);
  // Few rows: a kernel that decodes the planes in registers, where the ISA has one. (fn is the
  // integer or the fp32 kernel of the same selection, or a look-up kernel: codebook weights in a
  // bit-plane container take the expansion below; packed16 takes no bit-plane weights.)
  if (args.m < 16 && w.codebook == nullptr) {
    if constexpr (std::is_same_v<Args, detail::QgemmArgs>) {
      if (const detail::QgemmFn direct = select_variant(kQgemmPlanar).fn)
        return direct(args, b0, b1);
    } else {
      if (const detail::QgemmF32Fn direct = select_variant(kQgemmF32Planar).fn)
        return direct(args, b0, b1);
    }
  }
  const size_t base_block = w.chunks * kPackChunkBytes;
  const size_t panel_bytes = args.m < 16 ? size_t{32} << 10 : size_t{128} << 10;
  const size_t panel_blocks = std::max<size_t>(1, panel_bytes / base_block);
  thread_local std::vector<uint8_t> panel;
  panel.resize(std::min(panel_blocks, b1 - b0) * base_block);
  const size_t side = w.groups * kPackRows;  // scales (and zeros, weight sums) per block
  for (size_t pb = b0; pb < b1; pb += panel_blocks) {
    const size_t pe = std::min(b1, pb + panel_blocks);
    expand_planar_chunks(w.codes + pb * w.block_bytes, (pe - pb) * w.chunks, w.bits, panel.data());
    Args part = args;
    part.w.codes = panel.data();
    part.w.bits = w.bits <= 4 ? 4 : 8;
    part.w.block_bytes = base_block;
    part.w.scales = w.scales + pb * side;
    if (w.zeros != nullptr) part.w.zeros = w.zeros + pb * side;
    part.w.n = std::min(w.n, pe * kPackRows) - pb * kPackRows;
    if constexpr (std::is_same_v<Args, detail::QgemmArgs>)
      if (args.w_sums != nullptr) part.w_sums = args.w_sums + pb * side;
    if (args.bias != nullptr) part.bias = args.bias + pb * kPackRows;
    part.y = args.y + pb * kPackRows;
    fn(part, 0, pe - pb);
  }
}

template <class Args, class Fn>
void run_blocks(const Args& args, Fn fn, size_t m, size_t n, size_t k, bool parallel) {
  const size_t blocks = (n + kPackRows - 1) / kPackRows;
  if (!parallel || m * n * k < kParallelMinMacs || thread_pool().size() == 1) {
    run_block_range(args, fn, 0, blocks);
    return;
  }
  thread_pool().parallel_for(blocks, 1,
                             [&](size_t b0, size_t b1) { run_block_range(args, fn, b0, b1); });
}

// The largest |u - z| of the weights' format (the container's codes against its zero points).
int64_t max_weight_value(const PackedLayout& l) {
  const int64_t top = (int64_t{1} << l.bits) - 1;
  if (l.asymmetric) return top;
  return std::max<int64_t>(l.zero, top - l.zero);
}

void weight_sums_into(const PackedWeightsView& w, std::span<int32_t> out) {
  const PackedLayout& l = w.layout();
  const size_t groups = l.groups(), chunks = l.chunks();
  const size_t cpg = groups == 1 ? chunks : l.chunks_per_group();
  const uint8_t* zeros = w.zeros();
  std::fill(out.begin(), out.end(), 0);
  std::vector<uint8_t> expanded(l.planar() ? chunks * kPackChunkBytes : 0);
  for (size_t b = 0; b < l.blocks(); ++b) {
    const uint8_t* block = w.codes() + b * l.block_bytes();
    if (l.planar()) {
      expand_planar_chunks(block, chunks, l.bits, expanded.data());
      block = expanded.data();
    }
    for (size_t c = 0; c < chunks; ++c) {
      const size_t g = c / cpg;
      int32_t* sums = out.data() + (b * groups + g) * kPackRows;
      for (size_t r = 0; r < kPackRows; ++r) {
        const uint8_t* q = block + c * kPackChunkBytes + 4 * r;
        const int z = zeros ? zeros[(b * groups + g) * kPackRows + r] : l.zero;
        int32_t s = 0;
        for (size_t j = 0; j < 4; ++j)
          s += l.base_bits() == 8 ? q[j] - z : (q[j] & 15) - z + (q[j] >> 4) - z;
        sums[r] += s;
      }
    }
  }
}

// Per (row, group) sums of the activations, for the zero-point term z * sum(a) that lets the
// kernels multiply the unsigned codes directly (vpdpbusd is u8 x s8): the view's row sums when
// there is one group, else computed into `sums`.
const int32_t* activation_group_sums(const QuantizedRowsView& a, const PackedLayout& l,
                                     std::vector<int32_t>& sums) {
  const size_t groups = l.groups();
  if (groups == 1 && a.row_sums.size() >= a.rows) return a.row_sums.data();
  if (sums.size() < a.rows * groups) sums.resize(a.rows * groups);
  for (size_t r = 0; r < a.rows; ++r) {
    const int8_t* row = a.codes.data() + r * a.stride;
    for (size_t g = 0; g < groups; ++g) {
      const size_t k0 = g * l.group_size, k1 = std::min(l.k, k0 + l.group_size);
      int32_t sum = 0;
      for (size_t i = k0; i < k1; ++i) sum += row[i];
      sums[r * groups + g] = sum;
    }
  }
  return sums.data();
}

// Checks one product and fills its kernel arguments; false when there are no rows. `sums` and
// `wsums` hold what the arguments point at (activation group sums, weight sums when computed
// here). packed16: through the packed int16 multiplier (4-bit weights, activations in [-8, 7]).
bool prepare_qgemm(const QuantizedRowsView& a, const PackedWeightsView& w,
                   std::span<const float> bias, std::span<float> y, size_t ldy,
                   std::span<const int32_t> weight_sums, bool packed16, std::vector<int32_t>& sums,
                   std::vector<int32_t>& wsums, detail::QgemmArgs& args) {
  if (w.layout().codebook())
    fail("qgemm: codebook weights have no integer kernel (W4A16 only: qgemm_f32)");
  const PackedLayout& l = w.layout();
  if (a.cols != l.k) fail("qgemm: activations of {} columns for weights of {}", a.cols, l.k);
  if (a.stride < l.k_padded())
    fail("qgemm: activation stride {} < {} (k padded to 8)", a.stride, l.k_padded());
  if (a.rows > 0 && (a.codes.size() < a.rows * a.stride || a.scales.size() < a.rows))
    fail("qgemm: activation buffers too small for {} rows", a.rows);
  check_output("qgemm", a.rows, l.n, bias, y, ldy);
  const bool offsets = !a.offsets.empty();
  if (offsets && a.offsets.size() < a.rows)
    fail("qgemm: {} activation offsets for {} rows", a.offsets.size(), a.rows);
  if (offsets) {
    // The exact sums (q - z_a)(u - z_w) must fit int32: |q - z_a| <= 255 (8-bit asymmetric).
    const int64_t group = static_cast<int64_t>(std::min(l.group_size, l.k));
    const int64_t wmax = max_weight_value(l);
    if (255 * wmax * group > std::numeric_limits<int32_t>::max())
      fail(
          "qgemm: 8-bit asymmetric activations with {}-bit {} weights take groups of at most {} "
          "values (int32 sums), not {}",
          l.bits, l.asymmetric ? "asymmetric" : "symmetric",
          std::numeric_limits<int32_t>::max() / (255 * wmax), group);
  }
  if (packed16) {
    if (l.bits != 4)
      fail("qgemm_packed16: {}-bit weights; the packed multiplier is for 4-bit", l.bits);
    if (offsets) fail("qgemm_packed16: activations with offsets (8-bit asymmetric)");
    for (size_t r = 0; r < a.rows; ++r)
      for (size_t i = 0; i < l.k; ++i) {
        const int v = a.codes[r * a.stride + i];
        if (v < -8 || v > 7)
          fail(
              "qgemm_packed16: activation value {} at row {}, column {} is outside [-8, 7] "
              "(4-bit symmetric)",
              v, r, i);
      }
  }
  const bool need_wsums = offsets || packed16;
  const size_t wsums_size = l.blocks() * l.groups() * kPackRows;
  if (need_wsums && !weight_sums.empty() && weight_sums.size() != wsums_size)
    fail("qgemm: {} weight sums for {} (blocks x groups x 16)", weight_sums.size(), wsums_size);
  if (a.rows == 0) return false;

  const int32_t* a_sums = activation_group_sums(a, l, sums);

  const int32_t* wsums_ptr = nullptr;
  if (need_wsums && !weight_sums.empty()) {
    wsums_ptr = weight_sums.data();
  } else if (need_wsums) {
    wsums.resize(wsums_size);
    weight_sums_into(w, wsums);
    wsums_ptr = wsums.data();
  }

  args = {};
  args.a = a.codes.data();
  args.a_offsets = offsets ? a.offsets.data() : nullptr;
  args.w_sums = wsums_ptr;
  args.lda = a.stride;
  args.a_scales = a.scales.data();
  args.a_sums = a_sums;
  args.m = a.rows;
  args.w = packed_args(w);
  args.bias = bias.empty() ? nullptr : bias.data();
  args.y = y.data();
  args.ldy = ldy;
  return true;
}

void qgemm_impl(const QuantizedRowsView& a, const PackedWeightsView& w, std::span<const float> bias,
                std::span<float> y, size_t ldy, std::span<const int32_t> weight_sums, bool parallel,
                bool packed16 = false) {
  thread_local std::vector<int32_t> sums, wsums;
  detail::QgemmArgs args;
  if (!prepare_qgemm(a, w, bias, y, ldy, weight_sums, packed16, sums, wsums, args)) return;
  const detail::QgemmFn fn =
      packed16 ? select_variant(kQgemmPacked16).fn : select_variant(kQgemm).fn;
  const PackedLayout& l = w.layout();
  run_blocks(args, fn, a.rows, l.n, l.k, parallel);
}

void qgemm_f32_impl(std::span<const float> x, size_t m, size_t ldx, const PackedWeightsView& w,
                    std::span<const float> bias, std::span<float> y, size_t ldy, bool parallel) {
  const PackedLayout& l = w.layout();
  if (ldx < l.k) fail("qgemm_f32: input stride {} < {} columns", ldx, l.k);
  if (m > 0 && x.size() < (m - 1) * ldx + l.k)
    fail("qgemm_f32: input of {} floats for {} rows of {}", x.size(), m, l.k);
  check_output("qgemm_f32", m, l.n, bias, y, ldy);
  if (m == 0) return;
  detail::QgemmF32Args args{};
  args.x = x.data();
  args.ldx = ldx;
  args.m = m;
  args.w = packed_args(w);
  args.bias = bias.empty() ? nullptr : bias.data();
  args.y = y.data();
  args.ldy = ldy;
  run_blocks(args, l.codebook() ? select_variant(kQgemmLut).fn : select_variant(kQgemmF32).fn, m,
             l.n, l.k, parallel);
}

}  // namespace

std::vector<int32_t> packed_weight_sums(const PackedWeightsView& w) {
  const PackedLayout& l = w.layout();
  std::vector<int32_t> out(l.blocks() * l.groups() * kPackRows);
  weight_sums_into(w, out);
  return out;
}

void qgemm(const QuantizedRowsView& a, const PackedWeightsView& w, std::span<const float> bias,
           std::span<float> y, size_t ldy, std::span<const int32_t> weight_sums) {
  qgemm_impl(a, w, bias, y, ldy, weight_sums, true);
}

void qgemm_group(const QuantizedRowsView& a, std::span<const QgemmProduct> products) {
  thread_local std::vector<std::vector<int32_t>> sums_tl, wsums_tl;
  thread_local std::vector<detail::QgemmArgs> args_tl;
  thread_local std::vector<size_t> first_block_tl;
  // This thread's buffers by name: the workers running run_range below must see these, not their
  // own thread_local copies.
  auto &sums = sums_tl, &wsums = wsums_tl;
  auto& args = args_tl;
  auto& first_block = first_block_tl;  // of each product in the concatenation
  const size_t count = products.size();
  if (sums.size() < count) {
    sums.resize(count);
    wsums.resize(count);
  }
  args.resize(count);
  first_block.resize(count + 1);
  size_t macs = 0;
  first_block[0] = 0;
  for (size_t i = 0; i < count; ++i) {
    const QgemmProduct& p = products[i];
    if (!prepare_qgemm(a, p.w, p.bias, p.y, p.ldy, p.weight_sums, false, sums[i], wsums[i],
                       args[i]))
      return;  // no rows
    const PackedLayout& l = p.w.layout();
    first_block[i + 1] = first_block[i] + l.blocks();
    macs += a.rows * l.n * l.k;
  }
  if (count == 0) return;
  const detail::QgemmFn fn = select_variant(kQgemm).fn;
  // Blocks [b0, b1) of the concatenation, product by product.
  const auto run_range = [&](size_t b0, size_t b1) {
    for (size_t i = 0; i < count; ++i) {
      const size_t lo = std::max(b0, first_block[i]), hi = std::min(b1, first_block[i + 1]);
      if (lo < hi) run_block_range(args[i], fn, lo - first_block[i], hi - first_block[i]);
    }
  };
  if (macs < kParallelMinMacs || thread_pool().size() == 1) return run_range(0, first_block[count]);
  thread_pool().parallel_for(first_block[count], 1, run_range);
}

Lut8Table lut8_table(std::span<const float> table) {
  if (table.size() != 16) fail("lut8 table: {} entries, expected 16", table.size());
  float top = 0.0f;
  for (size_t c = 0; c < table.size(); ++c) {
    if (!std::isfinite(table[c])) fail("lut8 table: entry {} is {}", c, table[c]);
    top = std::max(top, std::fabs(table[c]));
  }
  if (top == 0.0f) fail("lut8 table: every entry is 0");
  Lut8Table t;
  t.scale = top / 127.0f;
  for (size_t c = 0; c < 16; ++c) {
    const long q = std::clamp(std::lround(table[c] / t.scale), -127L, 127L);
    t.codes[c] = static_cast<uint8_t>(q + 128);
  }
  return t;
}

namespace {

void check_lut8_weights(const PackedLayout& l) {
  if (!l.codebook() || l.bits != 4 || l.codebook_rows != 1)
    fail(
        "qgemm_lut8: the int8 look-up takes 4-bit codebook weights with one table shared by every "
        "row; these are {}-bit {} with {} tables",
        l.bits, l.codebook() ? "codebook weights" : "integer-grid weights", l.codebook_rows);
}

// Blocks [b0, b1) of w looked up through the table into `out` (the int8 layout), with the padding
// past k set to the zero point 128 (the packer pads codebook codes with 0, whose table entry is not
// 0).
void lut8_unpack_blocks(const detail::PackedArgs& w, size_t b0, size_t b1, const Lut8Table& t,
                        uint8_t* out) {
  detail::selected_lut8_unpack()(w.codes + b0 * w.block_bytes, (b1 - b0) * w.chunks, t.codes.data(),
                                 out);
  if (w.k % 8 == 0) return;
  const size_t c = w.chunks - 1;  // the int4 chunk holding the padding: int8 chunks 2c, 2c + 1
  for (size_t b = 0; b < b1 - b0; ++b)
    for (size_t half = 0; half < 2; ++half)
      for (size_t jj = 0; jj < 4; ++jj)
        if (8 * c + 4 * half + jj >= w.k)
          for (size_t r = 0; r < 16; ++r)
            out[b * 2 * w.block_bytes + (2 * c + half) * 64 + 4 * r + jj] = 128;
}

}  // namespace

std::vector<int32_t> packed_weight_sums_lut8(const PackedWeightsView& w, const Lut8Table& t) {
  check_lut8_weights(w.layout());
  const detail::PackedArgs p = packed_args(w);
  std::vector<int32_t> out(p.n == 0 ? 0 : w.layout().blocks() * p.groups * 16, 0);
  std::vector<uint8_t> block(2 * p.block_bytes);
  const size_t cpg8 = 2 * p.chunks_per_group;
  for (size_t b = 0; b < w.layout().blocks(); ++b) {
    lut8_unpack_blocks(p, b, b + 1, t, block.data());
    for (size_t c = 0; c < 2 * p.chunks; ++c)
      for (size_t r = 0; r < 16; ++r)
        for (size_t jj = 0; jj < 4; ++jj)
          out[(b * p.groups + c / cpg8) * 16 + r] += block[c * 64 + 4 * r + jj] - 128;
  }
  return out;
}

void qgemm_lut8(const QuantizedRowsView& a, const PackedWeightsView& w, const Lut8Table& table,
                std::span<const float> bias, std::span<float> y, size_t ldy,
                std::span<const int32_t> weight_sums) {
  const PackedLayout& l = w.layout();
  check_lut8_weights(l);
  if (a.cols != l.k) fail("qgemm_lut8: activations of {} columns for weights of {}", a.cols, l.k);
  if (a.stride < l.k_padded())
    fail("qgemm_lut8: activation stride {} < {} (k padded to 8)", a.stride, l.k_padded());
  if (a.rows > 0 && (a.codes.size() < a.rows * a.stride || a.scales.size() < a.rows))
    fail("qgemm_lut8: activation buffers too small for {} rows", a.rows);
  check_output("qgemm_lut8", a.rows, l.n, bias, y, ldy);
  const bool offsets = !a.offsets.empty();
  if (offsets && a.offsets.size() < a.rows)
    fail("qgemm_lut8: {} activation offsets for {} rows", a.offsets.size(), a.rows);
  const size_t groups = l.groups();
  if (offsets && 255 * 127 * static_cast<int64_t>(std::min(l.group_size, l.k)) >
                     std::numeric_limits<int32_t>::max())
    fail("qgemm_lut8: groups of {} values overflow int32 sums with 8-bit asymmetric activations",
         l.group_size);
  if (!weight_sums.empty() && weight_sums.size() != l.blocks() * groups * kPackRows)
    fail("qgemm_lut8: {} weight sums for {} (blocks x groups x 16)", weight_sums.size(),
         l.blocks() * groups * kPackRows);
  if (a.rows == 0) return;

  // This thread's buffers by name (the workers below must read these, not their own copies).
  thread_local std::vector<int32_t> sums_tl, wsums_tl;
  thread_local std::vector<float> scales_tl;
  auto &sums = sums_tl, &wsums = wsums_tl;
  auto& scales = scales_tl;
  const int32_t* a_sums = activation_group_sums(a, l, sums);
  scales.resize(a.rows);
  for (size_t r = 0; r < a.rows; ++r) scales[r] = a.scales[r] * table.scale;
  const int32_t* wsums_all = nullptr;
  if (offsets) {
    if (weight_sums.empty()) wsums = packed_weight_sums_lut8(w, table);
    wsums_all = weight_sums.empty() ? wsums.data() : weight_sums.data();
  }

  const detail::PackedArgs packed = packed_args(w);
  const size_t blocks = l.blocks();
  const bool parallel = a.rows * l.n * l.k >= kParallelMinMacs && thread_pool().size() > 1;
  // The whole product's arguments: the 4-bit codebook codes with the table, zero point 128.
  detail::QgemmArgs whole{};
  whole.a = a.codes.data();
  whole.lda = a.stride;
  whole.a_scales = scales.data();
  whole.a_sums = a_sums;
  whole.a_offsets = offsets ? a.offsets.data() : nullptr;
  whole.w_sums = wsums_all;
  whole.m = a.rows;
  whole.w = packed;
  whole.w.zeros = nullptr;  // codebook weights have none; the look-up's zero point is shared
  whole.w.zero = 128;
  whole.w.lut8 = table.codes.data();
  whole.bias = bias.empty() ? nullptr : bias.data();
  whole.y = y.data();
  whole.ldy = ldy;
  // Few rows: the codes looked up in registers where the ISA has a fused variant.
  if (const detail::QgemmFn fused = detail::selected_qgemm_lut8_fused();
      fused != nullptr && a.rows < 16) {
    if (!parallel) return fused(whole, 0, blocks);
    thread_pool().parallel_for(blocks, 1, [&](size_t b0, size_t b1) { fused(whole, b0, b1); });
    return;
  }
  const detail::QgemmFn fn = detail::selected_qgemm();
  // Panels of int8 blocks that stay in L2 while the rows sweep them; each a product of its own
  // (blocks pb.. of the whole, as 8-bit weights).
  constexpr size_t kPanelBytes = size_t{128} << 10;
  const size_t panel_blocks = std::max<size_t>(1, kPanelBytes / (2 * packed.block_bytes));
  const auto run_range = [&](size_t b0, size_t b1) {
    thread_local std::vector<uint8_t> panel;
    panel.resize(panel_blocks * 2 * packed.block_bytes);
    for (size_t pb = b0; pb < b1; pb += panel_blocks) {
      const size_t pe = std::min(b1, pb + panel_blocks);
      lut8_unpack_blocks(packed, pb, pe, table, panel.data());
      detail::QgemmArgs args = whole;
      args.w_sums = offsets ? wsums_all + pb * groups * kPackRows : nullptr;
      args.w.codes = panel.data();
      args.w.scales = packed.scales + pb * groups * kPackRows;
      args.w.bits = 8;
      args.w.n = std::min(packed.n, pe * kPackRows) - pb * kPackRows;
      args.w.chunks = 2 * packed.chunks;
      args.w.chunks_per_group = 2 * packed.chunks_per_group;
      args.w.block_bytes = 2 * packed.block_bytes;
      args.w.codebook = nullptr;
      args.w.codebook_rows = 0;
      args.w.lut8 = nullptr;
      args.bias = bias.empty() ? nullptr : bias.data() + pb * kPackRows;
      args.y = y.data() + pb * kPackRows;
      fn(args, 0, pe - pb);
    }
  };
  if (!parallel) return run_range(0, blocks);
  thread_pool().parallel_for(blocks, 1, run_range);
}

void qgemm_serial(const QuantizedRowsView& a, const PackedWeightsView& w,
                  std::span<const float> bias, std::span<float> y, size_t ldy,
                  std::span<const int32_t> weight_sums) {
  qgemm_impl(a, w, bias, y, ldy, weight_sums, false);
}

void qgemm_packed16(const QuantizedRowsView& a, const PackedWeightsView& w,
                    std::span<const float> bias, std::span<float> y, size_t ldy,
                    std::span<const int32_t> weight_sums) {
  qgemm_impl(a, w, bias, y, ldy, weight_sums, true, true);
}

void qgemm_f32(std::span<const float> x, size_t m, size_t ldx, const PackedWeightsView& w,
               std::span<const float> bias, std::span<float> y, size_t ldy) {
  qgemm_f32_impl(x, m, ldx, w, bias, y, ldy, true);
}

void qgemm_f32_serial(std::span<const float> x, size_t m, size_t ldx, const PackedWeightsView& w,
                      std::span<const float> bias, std::span<float> y, size_t ldy) {
  qgemm_f32_impl(x, m, ldx, w, bias, y, ldy, false);
}

Isa qgemm_isa() {
  return select_variant(kQgemm).isa;
}

Isa qgemm_packed16_isa() {
  return select_variant(kQgemmPacked16).isa;
}

Isa lut8_unpack_isa() {
  return select_variant(kLut8Unpack).isa;
}

namespace detail {
QgemmFn selected_qgemm() {
  return select_variant(kQgemm).fn;
}
Lut8UnpackFn selected_lut8_unpack() {
  return select_variant(kLut8Unpack).fn;
}
QgemmFn selected_qgemm_lut8_fused() {
  return select_variant(kLut8Fused).fn;
}
}  // namespace detail

Isa qgemm_lut_isa() {
  return select_variant(kQgemmLut).isa;
}

Isa qgemm_f32_isa() {
  return select_variant(kQgemmF32).isa;
}

}  // namespace lowbit::kernels
