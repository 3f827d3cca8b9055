#pragma once
// What lowbit accepts from files and flags, in one place (docs/input-limits.md is the table).
// Every size read from an input is checked against these before anything is allocated, so a
// crafted file fails with a message naming the file, field and value instead of exhausting
// memory, the stack or time.
#include <cstddef>
#include <cstdint>

namespace lowbit::limits {

// JSON (config.json, tokenizer.json, safetensors and .lowbit headers, task files): nesting
// depth. Real files nest fewer than 10 levels; parsers and the code walking the result recurse.
inline constexpr int kMaxJsonDepth = 64;
// A JSON document read whole (config.json, tokenizer.json: Llama-3's is 9 MB).
inline constexpr size_t kMaxJsonFileBytes = size_t{1} << 30;
// A safetensors or .lowbit header (the reference implementation caps safetensors' at 100 MB).
inline constexpr size_t kMaxHeaderBytes = size_t{100} << 20;
// A .lowbit header (it embeds the tokenizer files).
inline constexpr size_t kMaxLowbitHeaderBytes = size_t{1} << 30;
// Tensors in one checkpoint or .lowbit file.
inline constexpr size_t kMaxTensors = 1 << 20;
// Any one tensor dimension, and the number of dimensions.
inline constexpr int64_t kMaxDimension = int64_t{1} << 31;
inline constexpr size_t kMaxRank = 8;
// Vocabulary entries (tokenizer pieces, token ids in config.json and tokenizer.json).
inline constexpr int64_t kMaxVocab = int64_t{1} << 24;
// Model shape fields of config.json (hidden size, layers, heads, intermediate size).
inline constexpr int64_t kMaxModelWidth = int64_t{1} << 20;
inline constexpr int64_t kMaxLayers = 1 << 12;
// Positions (max_position_embeddings, --ctx, --calib-len).
inline constexpr int64_t kMaxPositions = int64_t{1} << 20;
// Calibration sequences (--calib-samples).
inline constexpr int64_t kMaxCalibrationSamples = 1 << 16;
// A text file read whole (perplexity, calibration) and a decompressed task file.
inline constexpr size_t kMaxTextBytes = size_t{4} << 30;
inline constexpr size_t kMaxDecompressedBytes = size_t{1} << 30;
// GGUF (io/gguf_reader): metadata entries (real files hold a few dozen, arrays count as one),
// array nesting (the tokenizer's arrays are one level deep; the parser recurses), a tensor
// name's bytes (ggml's GGML_MAX_NAME) and a tensor's dimensions (GGML_MAX_DIMS).
inline constexpr size_t kMaxGgufMetadataEntries = size_t{1} << 16;
inline constexpr int kMaxGgufArrayDepth = 8;
inline constexpr size_t kMaxGgufTensorName = 64;
inline constexpr size_t kMaxGgufDims = 4;
// Chat templates (text/chat_template.h): the template's source (real ones are under 20 KB), the
// nesting of its blocks and expressions and of the values it walks (the parser and the
// interpreter recurse), the work one render may do (every node evaluated, every element copied
// counts one unit: loops over a huge range or quadratic concatenation stop here, not hang) and
// the size of any string or list it builds, its output included.
inline constexpr size_t kMaxChatTemplateBytes = size_t{1} << 20;
inline constexpr int kMaxChatTemplateDepth = 64;
inline constexpr int64_t kMaxChatTemplateWork = int64_t{5'000'000};
inline constexpr size_t kMaxChatTemplateOutputBytes = size_t{64} << 20;

}  // namespace lowbit::limits
