// Encodes every string of a JSON list with @huggingface/tokenizers, without special tokens added
// around it, and prints the id lists as JSON. Usage: node encode.mjs tokenizer.json inputs.json
import { readFileSync } from "node:fs";
import { Tokenizer } from "@huggingface/tokenizers";

const [tokenizerPath, inputsPath] = process.argv.slice(2);
const tokenizer = new Tokenizer(JSON.parse(readFileSync(tokenizerPath, "utf8")), {});
const inputs = JSON.parse(readFileSync(inputsPath, "utf8"));
const ids = inputs.map((text) => tokenizer.encode(text, { add_special_tokens: false }).ids);
process.stdout.write(JSON.stringify(ids));
