// Drives `lowbit serve` with the official OpenAI Node client: completions, chat, streaming,
// logprobs, stop sequences and a 400 error. Usage: node client.mjs BASE_URL MODEL PROMPT EXPECTED
// where EXPECTED is the greedy continuation of PROMPT (16 tokens) that lowbit generates in-process.
// Exits non-zero with a message on the first mismatch.
import OpenAI from "openai";
import assert from "node:assert/strict";

const [baseURL, model, prompt, expected] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: "unused", maxRetries: 0 });

const models = await client.models.list();
assert.ok(models.data.some((m) => m.id === model), `models.list lacks ${model}`);

// Completions, greedy, with logprobs.
const c = await client.completions.create({
  model, prompt, max_tokens: 16, temperature: 0, logprobs: 3,
});
const choice = c.choices[0];
assert.equal(choice.text, expected, "greedy completion differs from lowbit generate");
assert.equal(c.object, "text_completion");
assert.ok(["stop", "length"].includes(choice.finish_reason));
const lp = choice.logprobs;
assert.equal(lp.tokens.length, c.usage.completion_tokens);
assert.equal(lp.token_logprobs.length, lp.tokens.length);
assert.equal(lp.top_logprobs.length, lp.tokens.length);
assert.equal(lp.text_offset.length, lp.tokens.length);
for (let i = 0; i < lp.tokens.length; i++) {
  assert.ok(lp.token_logprobs[i] <= 0, "a log-probability above 0");
  const top = Object.values(lp.top_logprobs[i]);
  assert.ok(top.length >= 1 && top.length <= 3, "top_logprobs size");
  // Greedy: the chosen token is the most likely one.
  assert.ok(Math.abs(Math.max(...top) - lp.token_logprobs[i]) < 1e-4, "greedy token not the top");
  if (i > 0) assert.ok(lp.text_offset[i] >= lp.text_offset[i - 1]);
}
assert.equal(c.usage.total_tokens, c.usage.prompt_tokens + c.usage.completion_tokens);

// The same completion streamed, with usage in the last chunk.
let streamed = "", usage = null, finish = null;
const stream = await client.completions.create({
  model, prompt, max_tokens: 16, temperature: 0, stream: true,
  stream_options: { include_usage: true },
});
for await (const chunk of stream) {
  if (chunk.usage) usage = chunk.usage;
  for (const ch of chunk.choices) {
    streamed += ch.text;
    if (ch.finish_reason) finish = ch.finish_reason;
  }
}
assert.equal(streamed, expected, "streamed completion differs");
assert.equal(finish, choice.finish_reason);
assert.deepEqual(usage, c.usage);

// Chat, greedy, with logprobs; then streamed.
const messages = [
  { role: "system", content: "You tell short stories." },
  { role: "user", content: "Tell me about a dog." },
];
const chat = await client.chat.completions.create({
  model, messages, max_tokens: 12, temperature: 0, logprobs: true, top_logprobs: 2,
});
const msg = chat.choices[0].message;
assert.equal(chat.object, "chat.completion");
assert.equal(msg.role, "assistant");
assert.equal(typeof msg.content, "string");
const content = chat.choices[0].logprobs.content;
assert.equal(content.length, chat.usage.completion_tokens);
for (const t of content) {
  assert.equal(t.top_logprobs.length, 2);
  assert.ok(Array.isArray(t.bytes));
  assert.ok(t.logprob <= 0);
}
let chatStreamed = "", role = null, chatFinish = null;
const chatStream = await client.chat.completions.create({
  model, messages, max_completion_tokens: 12, temperature: 0, stream: true,
});
for await (const chunk of chatStream) {
  const ch = chunk.choices[0];
  if (!ch) continue;
  if (ch.delta.role) role = ch.delta.role;
  if (ch.delta.content) chatStreamed += ch.delta.content;
  if (ch.finish_reason) chatFinish = ch.finish_reason;
}
assert.equal(role, "assistant");
assert.equal(chatStreamed, msg.content, "streamed chat differs");
assert.equal(chatFinish, chat.choices[0].finish_reason);

// A stop sequence taken from the greedy text ends the completion right before it.
const words = expected.trim().split(/\s+/);
if (words.length > 2) {
  const stop = " " + words[2];
  const s = await client.completions.create({ model, prompt, max_tokens: 16, temperature: 0, stop });
  assert.equal(s.choices[0].text, expected.slice(0, expected.indexOf(stop)));
  assert.equal(s.choices[0].finish_reason, "stop");
}

// Seeded sampling is reproducible.
const a = await client.completions.create({ model, prompt, max_tokens: 8, temperature: 0.9, seed: 42 });
const b = await client.completions.create({ model, prompt, max_tokens: 8, temperature: 0.9, seed: 42 });
assert.equal(a.choices[0].text, b.choices[0].text, "same seed, different text");

// A bad request is an APIError with status 400 and OpenAI's error shape.
try {
  await client.completions.create({ model, prompt, max_tokens: 16, logprobs: 9 });
  assert.fail("logprobs 9 was accepted");
} catch (e) {
  assert.ok(e instanceof OpenAI.BadRequestError, `expected BadRequestError, got ${e}`);
  assert.equal(e.status, 400);
  assert.match(e.message, /logprobs/);
}
console.log(JSON.stringify({ ok: true, completion: choice.text, chat: msg.content }));
