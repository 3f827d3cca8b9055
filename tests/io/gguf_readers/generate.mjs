// Loads a GGUF model in llama.cpp (node-llama-cpp's prebuilt CPU binary: no build, no download)
// and prints one JSON object on stdout: {"prompt_ids": llama.cpp's tokenization of the prompt
// (with BOS as the model adds it), "greedy_ids": N greedy tokens continuing the given ids,
// "text": their detokenization}.
// Usage: node generate.mjs FILE.gguf PROMPT IDS(comma-separated) N
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const [file, prompt, idList, n] = process.argv.slice(2);
const llama = await getLlama({
  gpu: false,
  build: "never",
  usePrebuiltBinaries: true,
  skipDownload: true,
  progressLogs: false,
  logLevel: LlamaLogLevel.error,
});
const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
const context = await model.createContext({ contextSize: 256, threads: 2 });
const sequence = context.getSequence();
const promptIds = model.tokenize(prompt, false);
const bos = model.tokens.bos;
const withBos = bos != null && model.tokens.shouldPrependBosToken ? [bos, ...promptIds] : promptIds;
const input = idList.split(",").map(Number);
const greedy = [];
for await (const token of sequence.evaluate(input, { temperature: 0 })) {
  greedy.push(token);
  if (greedy.length >= Number(n)) break;
}
process.stdout.write(
  JSON.stringify({ prompt_ids: withBos, greedy_ids: greedy, text: model.detokenize(greedy) }),
);
await context.dispose();
await model.dispose();
await llama.dispose();
