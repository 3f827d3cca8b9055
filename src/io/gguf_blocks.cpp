#include "io/gguf_blocks.h"

#include <cstring>

#include "core/error.h"
#include "core/float16.h"
#include "io/gguf_format.h"

namespace lowbit::gguf {
namespace {

uint16_t u16(const std::byte* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
float half(const std::byte* p) {
  return f16_to_f32(u16(p));
}
uint8_t byte(const std::byte* p, size_t i) {
  return static_cast<uint8_t>(p[i]);
}

// Q4_K's 6-bit scale and minimum of sub-block j (ggml-quants.c get_scale_min_k4).
void scale_min_k4(int j, const std::byte* q, int& sc, int& m) {
  if (j < 4) {
    sc = byte(q, j) & 63;
    m = byte(q, j + 4) & 63;
  } else {
    sc = (byte(q, j + 4) & 0xF) | ((byte(q, j - 4) >> 6) << 4);
    m = (byte(q, j + 4) >> 4) | ((byte(q, j) >> 6) << 4);
  }
}

}  // namespace

void q4_0_row_codes(std::span<const std::byte> row, size_t cols, uint8_t* codes, float* scales) {
  for (size_t b = 0; b < cols / 32; ++b) {
    const std::byte* blk = row.data() + b * 18;
    scales[b] = half(blk);
    for (size_t j = 0; j < 16; ++j) {
      const uint8_t x = byte(blk + 2, j);
      codes[b * 32 + j] = x & 0xF;
      codes[b * 32 + j + 16] = x >> 4;
    }
  }
}

void q8_0_row_codes(std::span<const std::byte> row, size_t cols, uint8_t* codes, float* scales) {
  for (size_t b = 0; b < cols / 32; ++b) {
    const std::byte* blk = row.data() + b * 34;
    scales[b] = half(blk);
    for (size_t j = 0; j < 32; ++j)
      codes[b * 32 + j] = static_cast<uint8_t>(static_cast<int8_t>(byte(blk + 2, j)) + 128);
  }
}

void dequantize_row(uint32_t type, std::span<const std::byte> row, size_t cols, float* out) {
  const std::byte* p = row.data();
  switch (static_cast<TensorType>(type)) {
    case TensorType::kF32:
      std::memcpy(out, p, cols * 4);
      return;
    case TensorType::kF16:
      for (size_t i = 0; i < cols; ++i) out[i] = half(p + 2 * i);
      return;
    case TensorType::kBF16:
      for (size_t i = 0; i < cols; ++i) out[i] = bf16_to_f32(u16(p + 2 * i));
      return;
    case TensorType::kQ4_0:
      for (size_t b = 0; b < cols / 32; ++b, p += 18, out += 32) {
        const float d = half(p);
        for (size_t j = 0; j < 16; ++j) {
          out[j] = static_cast<float>((byte(p + 2, j) & 0xF) - 8) * d;
          out[j + 16] = static_cast<float>((byte(p + 2, j) >> 4) - 8) * d;
        }
      }
      return;
    case TensorType::kQ4_1:
      for (size_t b = 0; b < cols / 32; ++b, p += 20, out += 32) {
        const float d = half(p), m = half(p + 2);
        for (size_t j = 0; j < 16; ++j) {
          out[j] = static_cast<float>(byte(p + 4, j) & 0xF) * d + m;
          out[j + 16] = static_cast<float>(byte(p + 4, j) >> 4) * d + m;
        }
      }
      return;
    case TensorType::kQ8_0:
      for (size_t b = 0; b < cols / 32; ++b, p += 34, out += 32) {
        const float d = half(p);
        for (size_t j = 0; j < 32; ++j)
          out[j] = static_cast<float>(static_cast<int8_t>(byte(p + 2, j))) * d;
      }
      return;
    case TensorType::kQ4_K:
      // fp16 d, fp16 dmin, 12 bytes of scales/mins, 128 bytes of nibbles: four 64-value
      // stretches, each 32 low nibbles then 32 high nibbles of the same 32 bytes.
      for (size_t b = 0; b < cols / 256; ++b, p += 144) {
        const float d = half(p), dmin = half(p + 2);
        const std::byte* scales = p + 4;
        const std::byte* q = p + 16;
        for (int j = 0; j < 4; ++j, q += 32) {
          int sc, m;
          scale_min_k4(2 * j, scales, sc, m);
          const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
          scale_min_k4(2 * j + 1, scales, sc, m);
          const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
          for (size_t l = 0; l < 32; ++l) *out++ = d1 * static_cast<float>(byte(q, l) & 0xF) - m1;
          for (size_t l = 0; l < 32; ++l) *out++ = d2 * static_cast<float>(byte(q, l) >> 4) - m2;
        }
      }
      return;
    case TensorType::kQ6_K:
      // 128 bytes of low 4 bits, 64 of high 2 bits, 16 int8 scales (one per 16 values), fp16 d.
      for (size_t b = 0; b < cols / 256; ++b, p += 210) {
        const float d = half(p + 208);
        const std::byte* ql = p;
        const std::byte* qh = p + 128;
        const auto* sc = reinterpret_cast<const int8_t*>(p + 192);
        for (int n = 0; n < 2; ++n, ql += 64, qh += 32, sc += 8, out += 128) {
          for (size_t l = 0; l < 32; ++l) {
            const size_t is = l / 16;
            const int q1 = ((byte(ql, l) & 0xF) | (((byte(qh, l) >> 0) & 3) << 4)) - 32;
            const int q2 = ((byte(ql, l + 32) & 0xF) | (((byte(qh, l) >> 2) & 3) << 4)) - 32;
            const int q3 = ((byte(ql, l) >> 4) | (((byte(qh, l) >> 4) & 3) << 4)) - 32;
            const int q4 = ((byte(ql, l + 32) >> 4) | (((byte(qh, l) >> 6) & 3) << 4)) - 32;
            out[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
            out[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
            out[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
            out[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
          }
        }
      }
      return;
  }
  fail("GGUF: tensor type {} cannot be dequantized", type);
}

}  // namespace lowbit::gguf
