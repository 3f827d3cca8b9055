// Prints what @huggingface/gguf reads from a GGUF file, as one JSON object on stdout:
// {"metadata": {key: {"type", "subType"?, "value"} | {"type", "subType", "length", "head"}},
//  "tensors": [{"name", "shape", "dtype", "offset"}], "tensorDataOffset"}.
// Arrays are summarised by length and first 8 entries; bigints become numbers.
// Usage: node inspect.mjs FILE.gguf
import { gguf } from "@huggingface/gguf";

const file = process.argv[2];
const { typedMetadata, tensorInfos, tensorDataOffset } = await gguf(file, {
  allowLocalFile: true,
  typedMetadata: true,
});
const plain = (v) => (typeof v === "bigint" ? Number(v) : v);
const metadata = {};
for (const [key, entry] of Object.entries(typedMetadata)) {
  if (Array.isArray(entry.value)) {
    metadata[key] = {
      type: entry.type,
      subType: entry.subType,
      length: entry.value.length,
      head: entry.value.slice(0, 8).map(plain),
    };
  } else {
    metadata[key] = { type: entry.type, value: plain(entry.value) };
  }
}
const tensors = tensorInfos.map((t) => ({
  name: t.name,
  shape: t.shape.map(plain),
  dtype: t.dtype,
  offset: plain(t.offset),
}));
process.stdout.write(JSON.stringify({ metadata, tensors, tensorDataOffset: plain(tensorDataOffset) }));
