#pragma once
// Internal interface between the dispatching drivers (quantize_activations.cpp, qgemm.cpp) and the
// per-ISA kernel files (scalar/, x86/, arm/). Only plain structs and function declarations live
// here: the ISA files are compiled with their own target flags, so nothing inline that a baseline
// file might also instantiate may be shared through this header (the linker would keep one copy,
// possibly the AVX-512 one). For the same reason the ISA files use raw pointers, intrinsics and
// their own helpers in anonymous namespaces rather than std:: templates, and never throw.
#include <cstddef>
#include <cstdint>

namespace lowbit::kernels::detail {

// ---- activation quantization: one row -------------------------------------------------------
// The driver (quantize_activations.cpp) computes a row's parameters from its range, the same way
// on every ISA; the variants do the two passes over the row:
// range: *lo = min(0, min x), *hi = max(0, max x) over x[0, cols).
// codes: out[i] = rne(clamp(x[i] / scale, qlo, qhi)) + shift for i < cols (qlo <= qhi integers,
//   qlo + shift >= -128, qhi + shift <= 127); bytes of `out` past cols are left alone.
using RowRangeFn = void (*)(const float* x, size_t cols, float* lo, float* hi);
using QuantizeCodesFn = void (*)(const float* x, size_t cols, float scale, int qlo, int qhi,
                                 int shift, int8_t* out);

void row_range_scalar(const float* x, size_t cols, float* lo, float* hi);
void quantize_codes_scalar(const float* x, size_t cols, float scale, int qlo, int qhi, int shift,
                           int8_t* out);
#if defined(__x86_64__)
void row_range_avx2(const float* x, size_t cols, float* lo, float* hi);
void quantize_codes_avx2(const float* x, size_t cols, float scale, int qlo, int qhi, int shift,
                         int8_t* out);
void row_range_avx512(const float* x, size_t cols, float* lo, float* hi);
void quantize_codes_avx512(const float* x, size_t cols, float scale, int qlo, int qhi, int shift,
                           int8_t* out);
#endif
#if defined(__aarch64__)
void row_range_neon(const float* x, size_t cols, float* lo, float* hi);
void quantize_codes_neon(const float* x, size_t cols, float scale, int qlo, int qhi, int shift,
                         int8_t* out);
#endif

// ---- 16-bit float widening (widen.h) -----------------------------------------------------------
// out[i] = fp32 value of the 16-bit pattern in[i] (bf16 or IEEE binary16), exactly, n >= 1.
using WidenFn = void (*)(const uint16_t* in, size_t n, float* out);

// gemv: y[r * ldy + o] = sum_i x[r * ldx + i] * w(o, i) for r < rows, o < n, with w(o, i) the
// widened 16-bit value at w[o * k + i]; rows >= 1 (small: the decode path), k >= 1.
struct HalfGemvArgs {
  const float* x;
  size_t rows, ldx;
  const uint16_t* w;
  size_t n, k;
  float* y;
  size_t ldy;
};
using HalfGemvFn = void (*)(const HalfGemvArgs& a);

void widen_bf16_scalar(const uint16_t* in, size_t n, float* out);
void widen_f16_scalar(const uint16_t* in, size_t n, float* out);
void gemv_bf16_scalar(const HalfGemvArgs& a);
void gemv_f16_scalar(const HalfGemvArgs& a);
#if defined(__x86_64__)
void widen_bf16_avx2(const uint16_t* in, size_t n, float* out);
void widen_f16_avx2(const uint16_t* in, size_t n, float* out);
void gemv_bf16_avx2(const HalfGemvArgs& a);
void gemv_f16_avx2(const HalfGemvArgs& a);
void widen_bf16_avx512(const uint16_t* in, size_t n, float* out);
void widen_f16_avx512(const uint16_t* in, size_t n, float* out);
void gemv_bf16_avx512(const HalfGemvArgs& a);
void gemv_f16_avx512(const HalfGemvArgs& a);
#endif
#if defined(__aarch64__)
void widen_bf16_neon(const uint16_t* in, size_t n, float* out);
void widen_f16_neon(const uint16_t* in, size_t n, float* out);
void gemv_bf16_neon(const HalfGemvArgs& a);
void gemv_f16_neon(const HalfGemvArgs& a);
#endif

// ---- quantization error of a weight group (quant_error.h) -----------------------------------
// lanes[j] += sum over i = j, j + 16, ... < n of e(x[i])^2 (n a multiple of 16), e(v) =
// (clamp(rne(v / scale) + zero, qmin, qmax) - zero) * scale - v, each step in float, in order.
inline constexpr size_t kQuantErrorLanes = 16;
struct QuantErrorArgs {
  float scale, zero, qmin, qmax;
};
using QuantErrorLanesFn = void (*)(const float* x, size_t n, const QuantErrorArgs& a, float* lanes);

void quant_error_lanes_scalar(const float* x, size_t n, const QuantErrorArgs& a, float* lanes);
#if defined(__x86_64__)
void quant_error_lanes_avx2(const float* x, size_t n, const QuantErrorArgs& a, float* lanes);
void quant_error_lanes_avx512(const float* x, size_t n, const QuantErrorArgs& a, float* lanes);
#endif

// ---- exp-based row functions (vmath.h) ---------------------------------------------------------
// softmax: x[0, n) <- exp((x - max) * scale) / sum, n >= 1, scale > 0.
// swiglu: gate[i] <- gate[i] / (1 + exp(-gate[i])) * up[i].
using SoftmaxFn = void (*)(float* x, size_t n, float scale);
using SwigluFn = void (*)(float* gate, const float* up, size_t n);

void softmax_scalar(float* x, size_t n, float scale);
void swiglu_scalar(float* gate, const float* up, size_t n);
#if defined(__x86_64__)
void softmax_avx2(float* x, size_t n, float scale);
void swiglu_avx2(float* gate, const float* up, size_t n);
void softmax_avx512(float* x, size_t n, float scale);
void swiglu_avx512(float* gate, const float* up, size_t n);
#endif
#if defined(__aarch64__)
void softmax_neon(float* x, size_t n, float scale);
void swiglu_neon(float* gate, const float* up, size_t n);
#endif

// ---- attention over one KV head's integer codes (kv_attention.h) -----------------------------
// Cached position t of the head holds head_dim codes c (bits 8: one per byte; bits 4: two per
// byte, low nibble first) with a scale s_t and zero point z_t; the value is ((c + qmin) - z_t) s_t.
struct KvCodesArgs {
  const uint8_t* codes;  // position t at codes + t * row_bytes
  size_t row_bytes;
  const float* params;  // position t: s_t at params[t * param_stride], z_t at the next float
  size_t param_stride;  // floats
  int bits;             // 4 or 8, or 32 (fp32 values; params not read)
  float qmin;
  size_t head_dim;  // even
};
// scores[r * lds + t] = sum_d q[r * ldq + d] * value(t, d), for r < rows, t < n.
using KvScoresFn = void (*)(const float* q, size_t rows, size_t ldq, const KvCodesArgs& k, size_t n,
                            float* scores, size_t lds);
// out[r * ldo + d] = sum_{t < n} p[r * ldp + t] * value(t, d), for r < rows, d < head_dim.
using KvWeightedSumFn = void (*)(const float* p, size_t rows, size_t ldp, const KvCodesArgs& v,
                                 size_t n, float* out, size_t ldo);

void kv_scores_scalar(const float* q, size_t rows, size_t ldq, const KvCodesArgs& k, size_t n,
                      float* scores, size_t lds);
void kv_weighted_sum_scalar(const float* p, size_t rows, size_t ldp, const KvCodesArgs& v, size_t n,
                            float* out, size_t ldo);
#if defined(__x86_64__)
void kv_scores_avx512(const float* q, size_t rows, size_t ldq, const KvCodesArgs& k, size_t n,
                      float* scores, size_t lds);
void kv_weighted_sum_avx512(const float* p, size_t rows, size_t ldp, const KvCodesArgs& v, size_t n,
                            float* out, size_t ldo);
void kv_scores_avx2(const float* q, size_t rows, size_t ldq, const KvCodesArgs& k, size_t n,
                    float* scores, size_t lds);
void kv_weighted_sum_avx2(const float* p, size_t rows, size_t ldp, const KvCodesArgs& v, size_t n,
                          float* out, size_t ldo);
#endif
#if defined(__aarch64__)
void kv_scores_neon(const float* q, size_t rows, size_t ldq, const KvCodesArgs& k, size_t n,
                    float* scores, size_t lds);
void kv_weighted_sum_neon(const float* p, size_t rows, size_t ldp, const KvCodesArgs& v, size_t n,
                          float* out, size_t ldo);
#endif

// ---- fused causal attention over fp32 keys and values (attention.h) -------------------------
// A validated CausalAttentionProblem: row r sees keys t < lens[r]; keys transposed (kt[d * ldkt +
// t]), values row-major (v[t * ldv + d]).
struct CausalAttentionArgs {
  const float* q;
  size_t rows, ldq;
  const uint32_t* lens;
  const float* kt;
  size_t ldkt;
  const float* v;
  size_t ldv;
  size_t head_dim;
  float scale;
  float* out;
  size_t ldo;
  float* lse;  // nullptr, or per row: log(sum_t exp(scale * q . k_t)) over the row's keys
};
using CausalAttentionFn = void (*)(const CausalAttentionArgs& a);

void causal_attention_scalar(const CausalAttentionArgs& a);
#if defined(__x86_64__)
void causal_attention_avx512(const CausalAttentionArgs& a);
#endif

// ---- packed weights, as the kernels see them -------------------------------------------------
struct PackedArgs {
  const uint8_t* codes;  // blocks x chunks x 64 bytes
  const float* scales;   // blocks x groups x 16
  const uint8_t* zeros;  // blocks x groups x 16, or nullptr when symmetric
  int bits;              // 4 or 8
  int zero;              // shared zero point when zeros == nullptr
  size_t n, k;
  size_t groups;
  size_t chunks;            // per block (k_padded / k_per_chunk)
  size_t chunks_per_group;  // the last group may have fewer
  size_t block_bytes;       // chunks * 64
  const float* codebook;    // codebook weights: codebook_rows x 16 fp32 tables, else nullptr
  size_t codebook_rows;     // 1 (shared) or n (one per row)
  const uint8_t* lut8;      // qgemm_lut8's fused variants: 16 bytes t8 + 128, else nullptr
};

// ---- integer GEMM: y = (a * sa) (W)^T + bias -------------------------------------------------
// The exact result every variant must produce, per output (i, j), with o[i] the row's activation
// offset (0 without a_offsets):
//   acc_g = sum over k in group g of (a[i][k] + o[i]) * (u[j][k] - z[j][g])        (int32, exact)
//   y = 0; for g in order: y = fma(float(acc_g), sa[i] * s[j][g], y);  y = y + bias[j]
// The SIMD variants sum a * u, then add o[i] * ws[j][g] - z[j][g] * sum(a) per group.
struct QgemmArgs {
  const int8_t* a;  // m x lda int8 activations, zero past k up to k_padded
  size_t lda;
  const float* a_scales;  // m
  const int32_t* a_sums;  // m x groups: sum of a over each group (for the zero-point term)
  // Asymmetric 8-bit activations (codes shifted into int8): per row, the integer added back to
  // every code (m), or nullptr; then w_sums holds sum over the group of (u - z) per output,
  // blocks x groups x 16 like the scales.
  const int32_t* a_offsets;
  const int32_t* w_sums;
  size_t m;
  PackedArgs w;
  const float* bias;  // n, or nullptr
  float* y;           // m x ldy
  size_t ldy;
};
// Computes the output columns of blocks [block_begin, block_end) for all m rows.
using QgemmFn = void (*)(const QgemmArgs&, size_t block_begin, size_t block_end);

void qgemm_scalar(const QgemmArgs& p, size_t block_begin, size_t block_end);
#if defined(__x86_64__)
void qgemm_avx2(const QgemmArgs& p, size_t block_begin, size_t block_end);
void qgemm_avxvnni(const QgemmArgs& p, size_t block_begin, size_t block_end);
void qgemm_avx512vnni(const QgemmArgs& p, size_t block_begin, size_t block_end);
void qgemm_amx(const QgemmArgs& p, size_t block_begin, size_t block_end);
#endif
#if defined(__aarch64__)
void qgemm_neon(const QgemmArgs& p, size_t block_begin, size_t block_end);
void qgemm_neondot(const QgemmArgs& p, size_t block_begin, size_t block_end);
#endif

// ---- W4A4 with the packed int16 multiplier (qgemm_packed16.h) -------------------------------
// The exact result of QgemmFn for 4-bit weights and activations a in [-8, 7] without offsets,
// computed as Agile-Quant's multiplier does: with b = a + 8 in [0, 15], two weight codes of
// neighbouring output rows share one 16-bit lane, u_r | u_{r+1} << 8, so one 16-bit multiply by b
// gives both 8-bit products (each <= 225, no carry between them); the halves are split into
// 16-bit fields that add up to 256 products (<= 57600) before they are widened to int32. Then
//   acc_g = sum b u - 8 (ws_g + z K_g) - z sum_g(a)     (= sum a (u - z); K_g: k values in g)
// with ws_g = sum over the group of (u - z) from w_sums (required), and the epilogue of QgemmFn.
inline constexpr size_t kPacked16Products = 256;  // products per 16-bit field before a split

void qgemm_packed16_scalar(const QgemmArgs& p, size_t block_begin, size_t block_end);
#if defined(__x86_64__)
void qgemm_packed16_avx2(const QgemmArgs& p, size_t block_begin, size_t block_end);
#endif
#if defined(__aarch64__)
void qgemm_packed16_neon(const QgemmArgs& p, size_t block_begin, size_t block_end);
#endif

// ---- W4A8 codebook codes through an int8 table (qgemm_lut8 in qgemm.h) ------------------------
// `chunks` packed int4 chunks (64 bytes each: 16 rows x 4 bytes, low nibbles k 0..3, high nibbles
// k 4..7) into 2 * chunks chunks of the int8 layout:
//   out[128 c + i] = table[codes[64 c + i] & 15], out[128 c + 64 + i] = table[codes[64 c + i] >> 4]
// The table is 16 bytes; every variant gives the scalar reference's bytes.
using Lut8UnpackFn = void (*)(const uint8_t* codes, size_t chunks, const uint8_t* table,
                              uint8_t* out);
void lut8_unpack_scalar(const uint8_t* codes, size_t chunks, const uint8_t* table, uint8_t* out);
#if defined(__x86_64__)
void lut8_unpack_avx2(const uint8_t* codes, size_t chunks, const uint8_t* table, uint8_t* out);
void lut8_unpack_avx512(const uint8_t* codes, size_t chunks, const uint8_t* table, uint8_t* out);
#endif
#if defined(__aarch64__)
void lut8_unpack_neon(const uint8_t* codes, size_t chunks, const uint8_t* table, uint8_t* out);
#endif
// qgemm_lut8 for few rows (m < 16) with the look-up in registers: 4-bit codebook codes, p.w.lut8
// the table of u = t8 + 128, p.w.zero 128; the result is QgemmFn's on the looked-up int8 weights.
// Where no variant exists, qgemm_lut8 unpacks panels through Lut8UnpackFn for the int8 QgemmFn.
#if defined(__x86_64__)
void qgemm_lut8_avx512vnni(const QgemmArgs& p, size_t block_begin, size_t block_end);
#endif
QgemmFn selected_qgemm_lut8_fused();  // nullptr where the ISA has no fused variant

// Bit-plane containers (p.w.bits 2, 3, 5 or 6) read directly, each chunk decoded to its base
// layout in registers; QgemmFn's result. Where no variant exists (and for 16 rows or more, where
// a separate expansion pass is amortized) the driver expands panels for the base QgemmFn.
#if defined(__x86_64__)
void qgemm_planar_avx512vnni(const QgemmArgs& p, size_t block_begin, size_t block_end);
void qgemm_planar_avxvnni(const QgemmArgs& p, size_t block_begin, size_t block_end);
void qgemm_planar_avx2(const QgemmArgs& p, size_t block_begin, size_t block_end);
#endif
#if defined(__aarch64__)
void qgemm_planar_neondot(const QgemmArgs& p, size_t block_begin, size_t block_end);
void qgemm_planar_neon(const QgemmArgs& p, size_t block_begin, size_t block_end);
#endif

// The variants qgemm and qgemm_lut8 use now (for drivers that build their own arguments).
QgemmFn selected_qgemm();
Lut8UnpackFn selected_lut8_unpack();

// ---- W4A16 / W8A16: packed weights against fp32 activations ----------------------------------
// Per output (i, j):
//   acc_g = 0; for k in group g: acc_g = fma(x[i][k], float(u[j][k] - z[j][g]), acc_g)
//   y = 0; for g in order: y = fma(acc_g, s[j][g], y);  y = y + bias[j]
struct QgemmF32Args {
  const float* x;  // m x ldx
  size_t ldx;
  size_t m;
  PackedArgs w;
  const float* bias;
  float* y;
  size_t ldy;
};
using QgemmF32Fn = void (*)(const QgemmF32Args&, size_t block_begin, size_t block_end);

void qgemm_f32_scalar(const QgemmF32Args& p, size_t block_begin, size_t block_end);
#if defined(__x86_64__)
void qgemm_f32_avx2(const QgemmF32Args& p, size_t block_begin, size_t block_end);
void qgemm_f32_avx512(const QgemmF32Args& p, size_t block_begin, size_t block_end);
#endif
#if defined(__aarch64__)
void qgemm_f32_neon(const QgemmF32Args& p, size_t block_begin, size_t block_end);
#endif
// qgemm_f32 on bit-plane containers read directly (as qgemm_planar_avx512vnni above).
#if defined(__x86_64__)
void qgemm_f32_planar_avx512(const QgemmF32Args& p, size_t block_begin, size_t block_end);
void qgemm_f32_planar_avx2(const QgemmF32Args& p, size_t block_begin, size_t block_end);
#endif
#if defined(__aarch64__)
void qgemm_f32_planar_neon(const QgemmF32Args& p, size_t block_begin, size_t block_end);
#endif

// ---- codebook (look-up table) GEMM against fp32 activations ------------------------------------
// Codebook weights (w.codebook set; int4 container, no zero points), same arguments as qgemm_f32.
// The exact result every variant produces, per output (i, j), with T_j row j's table:
//   acc_g = 0; for k in group g, ascending: acc_g = fma(x[i][k], T_j[u[j][k]], acc_g)
//   y = 0; for g in order: y = fma(acc_g, s[j][g], y);  y = y + bias[j]
// (qgemm_f32's order with table[u] in place of u - z).
void qgemm_lut_scalar(const QgemmF32Args& p, size_t block_begin, size_t block_end);
#if defined(__x86_64__)
void qgemm_lut_avx2(const QgemmF32Args& p, size_t block_begin, size_t block_end);
void qgemm_lut_avx512(const QgemmF32Args& p, size_t block_begin, size_t block_end);
#endif
#if defined(__aarch64__)
void qgemm_lut_neon(const QgemmF32Args& p, size_t block_begin, size_t block_end);
#endif

// ---- codebook weights with a table per row, in the row layout of qgemm_lut_rows.h --------------
// Same result on every variant: qgemm_lut_rows.h's formula (16 lane sums, a fixed tree, scale,
// bias). Variants cover output rows [row_begin, row_end).
struct LutRowsArgs {
  const float* x;  // m x ldx
  size_t ldx;
  size_t m;
  const uint8_t* codes;  // n x row_bytes (tiles of 128 k in 64 bytes)
  size_t row_bytes;
  size_t n, k;
  const float* tables;  // n x 16
  const float* scales;  // n
  const float* bias;    // n, or nullptr
  float* y;
  size_t ldy;
};
using LutRowsFn = void (*)(const LutRowsArgs&, size_t row_begin, size_t row_end);

void qgemm_lut_rows_scalar(const LutRowsArgs& p, size_t row_begin, size_t row_end);
#if defined(__x86_64__)
void qgemm_lut_rows_avx2(const LutRowsArgs& p, size_t row_begin, size_t row_end);
void qgemm_lut_rows_avx512(const LutRowsArgs& p, size_t row_begin, size_t row_end);
#endif
#if defined(__aarch64__)
void qgemm_lut_rows_neon(const LutRowsArgs& p, size_t row_begin, size_t row_end);
#endif

}  // namespace lowbit::kernels::detail
