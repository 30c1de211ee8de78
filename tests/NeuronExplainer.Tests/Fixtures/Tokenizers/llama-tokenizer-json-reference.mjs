// Writes llama-tokenizer-json.expected.txt: ids of hand-written texts under the two hand-made Llama-style
// tokenizer.json fixtures, computed by an independent implementation (@huggingface/tokenizers, tokenizers.js).
// Rerun (needs npm and node; keep node_modules out of the repository):
//   mkdir -p /tmp/ref && cd /tmp/ref && npm install @huggingface/tokenizers@0.2.0
//   cd tests/NeuronExplainer.Tests/Fixtures/Tokenizers && NODE_PATH=/tmp/ref/node_modules node llama-tokenizer-json-reference.mjs \
//     > llama-tokenizer-json.expected.txt
// Each line: {"file", "text", "ids"} for encode (without BOS), or {"file", "ids", "decoded"} for decode
// (valid UTF-8 only: for invalid bytes Hugging Face writes one U+FFFD per byte token, NeuronExplainer one per
// maximal invalid subpart, as for its other tokenizers).
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(process.env.NODE_PATH + "/");
const { Tokenizer } = require("@huggingface/tokenizers");

const texts = [
  "the cat sat on the mat.", "hello world", " leading space", "  two leading spaces", "trailing space ", "",
  "once upon a time there was a little girl", "unknown letters: xyz QV", "café naïve 日本", "emoji 👍🏽 ok",
  "double  space", "tab\tand\nnewline", "<s>the cat</s> sat", "the<s>hello", "\u2581already marked", "theee hhhello",
];
const out = [];
for (const file of ["llama-legacy.tokenizer.json", "llama-metaspace.tokenizer.json"]) {
  const tokenizer = new Tokenizer(JSON.parse(readFileSync(file, "utf8")), {});
  for (const text of texts) {
    const ids = tokenizer.encode(text, { add_special_tokens: false }).ids;
    out.push(JSON.stringify({ file, text, ids }));
  }
  for (const text of ["the cat sat.", " hello there", "café 👍", "a  b"]) {
    const ids = tokenizer.encode(text, { add_special_tokens: false }).ids;
    out.push(JSON.stringify({ file, ids: [1, ...ids, 2], decoded: tokenizer.decode(ids, { skip_special_tokens: true }) }));
  }
}
process.stdout.write(out.join("\n") + "\n");
