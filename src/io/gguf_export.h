#pragma once
// Exports a weight-only `.lowbit` model as a llama.cpp GGUF file (architecture "llama"), so the
// same quantized weights run in llama.cpp and its bindings. The mapping is exact up to the fp16
// rounding of each scale (docs/gguf.md):
//   int4 symmetric, groups of 32  -> Q4_0 (nibble = lowbit's code u = q + 8, d = fp16(scale))
//   int8 symmetric, groups of 32  -> Q8_0 (q = u - 128, d = fp16(scale))
//   full-precision projections, embeddings and head -> F16; norms -> F32
// q_proj and k_proj rows are permuted as llama.cpp's converter permutes Hugging Face checkpoints
// (llama.cpp's RoPE rotates adjacent pairs, Hugging Face's rotate_half pairs i and i + d/2).
// The tokenizer (SentencePiece or byte-level BPE) and chat template travel in the metadata.
//
// What GGUF cannot represent is refused before anything is written, with the `lowbit quantize`
// flags that would make an exportable file: activation, KV-cache or query quantization, online
// transforms (rotations, smoothing), asymmetric weights, groups other than 32, widths other than
// 4 and 8 bits, biases, sliding windows and Llama-3 RoPE scaling.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "io/gguf_writer.h"
#include "text/tokenizer.h"

namespace lowbit {

struct GgufExportSummary {
  size_t tensors = 0;
  std::map<std::string, size_t> tensors_by_type;  // "Q4_0" -> count, ...
  uint64_t file_bytes = 0;
  std::vector<std::string> notes;  // what was left out (e.g. the file's default token pruning)
};

// Reads the .lowbit model `in` and writes `out` atomically. Throws lowbit::Error naming the file
// and the reason (one line) when the model cannot be exported; nothing is written then.
GgufExportSummary export_gguf(const std::filesystem::path& in, const std::filesystem::path& out);

// The tokenizer's GGUF keys as llama.cpp's converter writes them (tokens, scores, types, merges,
// bos/eos/unknown ids, add_bos_token), the vocabulary padded with [PADn] tokens to `vocab`
// embedding rows. Throws (naming `where`) when the tokenizer has more tokens than rows.
void write_gguf_tokenizer(GgufWriter& w, const Tokenizer& tok, size_t vocab,
                          const std::string& where);

// The row order llama.cpp expects for a q_proj (n_head heads) or k_proj (n_kv_head heads) weight
// of `rows` = heads x head_dim rows: out row r takes source row perm[r]. Within each head, row
// 2i + j takes row j * head_dim / 2 + i (convert_hf_to_gguf.py's permute: reshape (heads, 2,
// head_dim / 2, in), swap axes 1 and 2).
std::vector<size_t> llama_rope_row_order(size_t heads, size_t head_dim);

}  // namespace lowbit
