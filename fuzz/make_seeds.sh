#!/usr/bin/env bash
# Writes the seed inputs of every fuzz target into fuzz/corpus/<target>/ (small valid files, so
# mutations start from inputs that reach deep into the parsers). Run once, then let the fuzzer
# grow and merge the corpora (scripts/fuzz.sh); the merged corpora are committed.
# Needs build/lowbit (for the .lowbit seed) and ../shared.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${LOWBIT_SHARED:-../shared}
C=fuzz/corpus
mkdir -p $C/{safetensors,config_json,tokenizer_json,text_encode,sentencepiece_model,llama2c_checkpoint,llama2c_tokenizer,lowbit_file,packed_weights,task_file,bit_format,chat_template,gguf}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# A tiny Llama checkpoint (one layer, width 16) with the stories260K llama2.c tokenizer.
python3 - "$TMP/tiny" <<'PY'
import json, os, random, struct, sys
d = sys.argv[1]; os.makedirs(d)
cfg = {"model_type": "llama", "hidden_act": "silu", "hidden_size": 16, "intermediate_size": 32,
       "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
       "vocab_size": 512, "max_position_embeddings": 64, "rms_norm_eps": 1e-5,
       "tie_word_embeddings": True, "bos_token_id": 1, "eos_token_id": 2}
json.dump(cfg, open(f"{d}/config.json", "w"))
shapes = {"model.embed_tokens.weight": [512, 16], "model.norm.weight": [16],
          "model.layers.0.input_layernorm.weight": [16],
          "model.layers.0.post_attention_layernorm.weight": [16],
          "model.layers.0.self_attn.q_proj.weight": [16, 16],
          "model.layers.0.self_attn.k_proj.weight": [8, 16],
          "model.layers.0.self_attn.v_proj.weight": [8, 16],
          "model.layers.0.self_attn.o_proj.weight": [16, 16],
          "model.layers.0.mlp.gate_proj.weight": [32, 16],
          "model.layers.0.mlp.up_proj.weight": [32, 16],
          "model.layers.0.mlp.down_proj.weight": [16, 32]}
random.seed(0)
header, data = {}, b""
for name, shape in shapes.items():
    n = 1
    for s in shape: n *= s
    blob = struct.pack(f"<{n}f", *[random.gauss(0, 0.1) for _ in range(n)])
    header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + len(blob)]}
    data += blob
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
open(f"{d}/model.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + data)
PY
cp "$SHARED/models/stories260K/tok512.bin" "$TMP/tiny/tokenizer.bin"

# safetensors: the tiny checkpoint, and a two-tensor file with metadata, F16 and BF16.
cp "$TMP/tiny/model.safetensors" $C/safetensors/tiny.safetensors
python3 - $C/safetensors/small.safetensors <<'PY'
import json, struct, sys
h = {"__metadata__": {"format": "pt"},
     "a": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]},
     "b": {"dtype": "BF16", "shape": [1, 2], "data_offsets": [4, 8]}}
hb = json.dumps(h).encode()
open(sys.argv[1], "wb").write(struct.pack("<Q", len(hb)) + hb + bytes([0, 60, 0, 192, 128, 63, 0, 64]))
PY
# model.safetensors.index.json over the fixed two shards fuzz/targets/safetensors_index.cpp writes.
mkdir -p $C/safetensors_index
python3 - $C/safetensors_index/tiny.json <<'PY'
import json, sys
p = "model.layers.0."
first = ["model.embed_tokens.weight", "model.norm.weight"]
second = [p + n for n in ["input_layernorm.weight", "post_attention_layernorm.weight",
          "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
          "self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
          "mlp.down_proj.weight"]]
m = {n: "model-00001-of-00002.safetensors" for n in first}
m.update({n: "model-00002-of-00002.safetensors" for n in second})
json.dump({"metadata": {"total_size": 10000}, "weight_map": m}, open(sys.argv[1], "w"), indent=2)
PY
# config.json: the tiny one and the shared reference model's.
cp "$TMP/tiny/config.json" $C/config_json/tiny.json
cp "$SHARED/models/ref-llama-s/config.json" $C/config_json/ref-llama-s.json
# tokenizer.json: a hand-made byte-level BPE with every pre-tokenizer kind and an added token.
cat > $C/tokenizer_json/small.json <<'JSON'
{"normalizer": null,
 "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
   {"type": "Digits", "individual_digits": true},
   {"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "Isolated"},
   {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}]},
 "added_tokens": [{"id": 7, "content": "<|endoftext|>", "special": true}],
 "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2, "Ġ": 3, "ab": 4, "Ġab": 5, "1": 6},
           "merges": ["a b", "Ġ ab"]}}
JSON
# Text for each tokenizer (first byte picks it).
for k in 0 1 2; do
  { printf "\\x0$k"; head -c 2000 "$SHARED/data/corpus/heldout.txt"; } > $C/text_encode/heldout_$k.txt
  { printf "\\x0$k"; printf 'naïve café — “quotes” 数字 😀\t\n  x'; } > $C/text_encode/unicode_$k.txt
done
# tokenizer.model: Llama-2's cut to its first 400 pieces (the special, byte-fallback and first
# merged pieces) with its trainer and normaliser specs, 6 KB instead of 500 KB: the library's
# load is linear in the vocabulary, so a small seed runs ~50x more executions per second.
python3 - "$SHARED/tokenizers/llama2/tokenizer.model" $C/sentencepiece_model/llama2-400.model 400 <<'PY'
import sys
def varint(b, i):
    v = s = 0
    while True:
        c = b[i]; i += 1; v |= (c & 0x7f) << s; s += 7
        if c < 0x80: return v, i
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
b = open(src, "rb").read(); i = 0; out = bytearray(); kept = 0
while i < len(b):  # ModelProto: field 1 is the repeated piece; keep every other field
    start = i
    key, i = varint(b, i)
    wt = key & 7
    if wt == 2:
        ln, i = varint(b, i); i += ln
    elif wt == 0:
        _, i = varint(b, i)
    elif wt == 5: i += 4
    elif wt == 1: i += 8
    else: raise SystemExit(f"unexpected wire type {wt}")
    if key >> 3 == 1:
        if kept >= n: continue
        kept += 1
    out += b[start:i]
open(dst, "wb").write(out)
PY
# A tiny llama2.c checkpoint (dim 8, hidden 16, 1 layer, 2 heads, vocab 32, seq 4; shared
# classifier) rather than stories260K's 1 MB, so mutations run fast and the corpus stays small.
python3 - $C/llama2c_checkpoint/tiny.bin <<'PY'
import random, struct, sys
dim, hidden, layers, heads, kv, vocab, seq = 8, 16, 1, 2, 2, 32, 4
hd = dim // heads
n = vocab * dim + layers * dim + layers * dim * dim * 2 + layers * dim * (kv * hd) * 2 \
    + layers * dim + layers * hidden * dim * 3 + dim + seq * hd // 2 * 2
random.seed(0)
body = struct.pack(f"<{n}f", *[random.gauss(0, 0.1) for _ in range(n)])
open(sys.argv[1], "wb").write(struct.pack("<7i", dim, hidden, layers, heads, kv, vocab, seq) + body)
PY
cp "$SHARED/models/stories260K/tok512.bin" $C/llama2c_tokenizer/tok512.bin
# .lowbit: the tiny checkpoint quantized W4A8 (packed int4 weights) and W8A8 with Hadamard.
build/lowbit quantize -q -m "$TMP/tiny" --method rtn --wbits 4 --abits 8 -o $C/lowbit_file/w4a8.lowbit > /dev/null
build/lowbit quantize -q -m "$TMP/tiny" --method hadamard --wbits 8 --abits 8 --kvbits 8 \
  -o $C/lowbit_file/w8a8-hadamard.lowbit > /dev/null
# Packed-weight blobs: cut out of the .lowbit seed by the replay of its table is not needed —
# the blob format is the kernels' own (src/kernels/packed_weights.h); seed with a W4 and a W8
# blob written by the packer through the tiny model's q_proj.
python3 - $C/lowbit_file/w4a8.lowbit $C/packed_weights <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
hlen = struct.unpack("<Q", b[16:24])[0]
header = json.loads(b[24:24 + hlen])
start = (24 + hlen + 63) // 64 * 64
for name, t in header["tensors"].items():
    if name.endswith(".packed"):
        blob = b[start + t["offset"]: start + t["offset"] + t["bytes"]]
        open(f"{sys.argv[2]}/{name.replace('/', '_')}", "wb").write(blob)
PY
# Bit-plane containers (3-bit symmetric, 6-bit asymmetric): one 16 x 8 block each, written from
# the layout in packed_weights.h (header, codes, fp32 scales, u8 zero points; 64-byte sections).
python3 - $C/packed_weights <<'PY'
import struct, sys
def blob(bits, asym, chunks, stored):
    codes = (chunks * stored + 63) // 64 * 64
    zeros = 64 if asym else 0
    total = 64 + codes + 64 + zeros
    head = b"LBWPACK1" + struct.pack("<IIiIQQQQII", bits, 1 if asym else 0, 0 if asym else 1 << (bits - 1),
                                     16, 16, 8, 8, total, 64, 0)
    body = bytes((7 * i) & 0xff for i in range(codes)) + struct.pack("<16f", *[0.5] * 16)
    return head + body + bytes(zeros)
open(f"{sys.argv[1]}/planar-w3", "wb").write(blob(3, False, 1, 48))
open(f"{sys.argv[1]}/planar-w6-asym", "wb").write(blob(6, True, 2, 48))
# SqueezeLLM's form: 3-bit codebook codes, a table of 8 fp16 entries per row (flags: codebook,
# fp16 tables).
codes = 64
total = 64 + codes + 64 + 16 * 8 * 2
head = b"LBWPACK1" + struct.pack("<IIiIQQQQII", 3, 6, 0, 16, 16, 8, 8, total, 64, 16)
tables = struct.pack("<128e", *[(i % 8 - 3.5) / 4 for i in range(128)])
body = bytes((5 * i) & 0xff for i in range(codes)) + struct.pack("<16f", *[1.0] * 16) + tables
open(f"{sys.argv[1]}/codebook-w3-fp16", "wb").write(head + body)
PY
# Task files: the first few items of each shared task file, prefixed by the task's index.
i=0
for f in piqa arc_easy arc_challenge hellaswag winogrande boolq lambada; do
  src=$(ls "$SHARED/data/tasks/" | grep -i "^$f" | head -1 || true)
  if [ -n "$src" ]; then
    case "$src" in
      *.bz2) { printf "\\x0$i"; (bzcat "$SHARED/data/tasks/$src" || true) | head -n 5; } > $C/task_file/$f.txt ;;
      *) { printf "\\x0$i"; head -n 5 "$SHARED/data/tasks/$src"; } > $C/task_file/$f.txt ;;
    esac
  fi
  i=$((i + 1))
done
# GGUF: a tiny llama-architecture model (the tiny checkpoint's shapes, vocabulary 64) with a
# SentencePiece-style ("llama") and a byte-level BPE ("gpt2") tokenizer, its tensors in F32,
# F16, Q8_0, Q4_0, Q4_1 and Q6_K; and a container with one metadata entry of every value type.
python3 - $C/gguf <<'PY'
import random, struct, sys
out = sys.argv[1]
def s(x): x = x.encode(); return struct.pack("<Q", len(x)) + x
def kv(k, t, payload): return s(k) + struct.pack("<I", t) + payload
def arr(t, items, enc): return struct.pack("<IQ", t, len(items)) + b"".join(enc(i) for i in items)
def gguf(kvs, tensors, align=32):
    h = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs)
    data = b""
    for name, dims, typ, blob in tensors:
        data += b"\0" * ((-len(data)) % align)
        h += s(name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims)
        h += struct.pack("<IQ", typ, len(data))
        data += blob
    return h + b"\0" * ((-len(h)) % align) + data
random.seed(1)
def f32(n): return struct.pack(f"<{n}f", *[random.gauss(0, 0.1) for _ in range(n)])
def f16(n): return struct.pack(f"<{n}e", *[random.gauss(0, 0.1) for _ in range(n)])
def blocks(n, size): return bytes(random.getrandbits(8) for _ in range(n * size))
def q4_0(n): return b"".join(struct.pack("<e", 0.01) + blocks(1, 16) for _ in range(n // 32))
def q8_0(n): return b"".join(struct.pack("<e", 0.002) + blocks(1, 32) for _ in range(n // 32))
def q4_1(n): return b"".join(struct.pack("<ee", 0.01, -0.08) + blocks(1, 16) for _ in range(n // 32))
def q6_k(n): return b"".join(blocks(1, 192) + bytes([3] * 16) + struct.pack("<e", 0.001) for _ in range(n // 256))
d, h, v = 32, 256, 300
tensors = [("token_embd.weight", [d, v], 1, f16(d * v)), ("output_norm.weight", [d], 0, f32(d)),
           ("blk.0.attn_norm.weight", [d], 0, f32(d)), ("blk.0.ffn_norm.weight", [d], 0, f32(d)),
           ("blk.0.attn_q.weight", [d, d], 2, q4_0(d * d)), ("blk.0.attn_k.weight", [d, 16], 8, q8_0(d * 16)),
           ("blk.0.attn_v.weight", [d, 16], 0, f32(d * 16)), ("blk.0.attn_output.weight", [d, d], 3, q4_1(d * d)),
           ("blk.0.ffn_gate.weight", [d, h], 2, q4_0(d * h)), ("blk.0.ffn_up.weight", [d, h], 8, q8_0(d * h)),
           ("blk.0.ffn_down.weight", [h, d], 14, q6_k(h * d))]
pieces = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + ["\u2581", "\u2581a", "a", "b", "\u2581the", "t", "h", "e"]
pieces += [f"x{i}" for i in range(v - len(pieces))]
llama = [kv("general.architecture", 8, s("llama")), kv("llama.context_length", 4, struct.pack("<I", 64)),
         kv("llama.embedding_length", 4, struct.pack("<I", d)), kv("llama.block_count", 4, struct.pack("<I", 1)),
         kv("llama.feed_forward_length", 4, struct.pack("<I", h)), kv("llama.attention.head_count", 4, struct.pack("<I", 2)),
         kv("llama.attention.head_count_kv", 4, struct.pack("<I", 1)),
         kv("llama.attention.layer_norm_rms_epsilon", 6, struct.pack("<f", 1e-5)),
         kv("llama.rope.freq_base", 6, struct.pack("<f", 10000.0))]
spm = [kv("tokenizer.ggml.model", 8, s("llama")), kv("tokenizer.ggml.tokens", 9, arr(8, pieces, s)),
       kv("tokenizer.ggml.scores", 9, arr(6, [-float(i) for i in range(v)], lambda x: struct.pack("<f", x))),
       kv("tokenizer.ggml.token_type", 9, arr(5, [2, 3, 3] + [6] * 256 + [1] * (v - 259), lambda x: struct.pack("<i", x))),
       kv("tokenizer.ggml.bos_token_id", 4, struct.pack("<I", 1)), kv("tokenizer.ggml.eos_token_id", 4, struct.pack("<I", 2)),
       kv("tokenizer.ggml.add_bos_token", 7, b"\1"), kv("tokenizer.chat_template", 8, s("{{ messages[0].content }}"))]
open(f"{out}/tiny-llama-spm.gguf", "wb").write(gguf(llama + spm, tensors))
bpe_tokens = [chr(c) for c in range(ord("a"), ord("a") + 26)] + ["\u0120", "\u0120a", "ab", "<|endoftext|>"]
bpe_tokens += [f"y{i}" for i in range(v - len(bpe_tokens))]
bpe = [kv("tokenizer.ggml.model", 8, s("gpt2")), kv("tokenizer.ggml.pre", 8, s("default")),
       kv("tokenizer.ggml.tokens", 9, arr(8, bpe_tokens, s)), kv("tokenizer.ggml.merges", 9, arr(8, ["\u0120 a", "a b"], s)),
       kv("tokenizer.ggml.token_type", 9, arr(5, [1] * 29 + [3] + [1] * (v - 30), lambda x: struct.pack("<i", x))),
       kv("tokenizer.ggml.bos_token_id", 4, struct.pack("<I", 29)), kv("tokenizer.ggml.eos_token_id", 4, struct.pack("<I", 29))]
open(f"{out}/tiny-llama-bpe.gguf", "wb").write(gguf(llama + bpe, tensors[:4] + [(n, dd, 0, f32(dd[0] * dd[1])) for n, dd, _, _ in tensors[4:]]))
every = [kv("u8", 0, b"\x07"), kv("i8", 1, b"\xff"), kv("u16", 2, b"\1\0"), kv("i16", 3, b"\xfe\xff"),
         kv("u32", 4, b"\1\0\0\0"), kv("i32", 5, b"\xff\xff\xff\xff"), kv("f32", 6, struct.pack("<f", 0.5)),
         kv("bool", 7, b"\1"), kv("str", 8, s("text")), kv("u64", 10, struct.pack("<Q", 1 << 40)),
         kv("i64", 11, struct.pack("<q", -5)), kv("f64", 12, struct.pack("<d", 2.5)),
         kv("nested", 9, struct.pack("<IQ", 9, 2) + arr(2, [1, 2], lambda x: struct.pack("<H", x)) + arr(8, ["a"], s)),
         kv("general.alignment", 4, struct.pack("<I", 64))]
open(f"{out}/every-type.gguf", "wb").write(gguf(every, [("w", [32, 2], 2, q4_0(64)), ("b", [4], 30, b"\0\x3f" * 4)], align=64))
PY
# Bit formats and method names.
for s in W4A4 W4A8KV4g128 W16A16 W8A8KV8 duquant+gptq hadamard rtn quarot; do
  printf '%s' "$s" > $C/bit_format/$s.txt
done
# chat_template: the real templates the oracle test checks (tests/text/chat_templates/).
cp tests/text/chat_templates/*.jinja $C/chat_template/

ls -R $C | head -80 >&2
