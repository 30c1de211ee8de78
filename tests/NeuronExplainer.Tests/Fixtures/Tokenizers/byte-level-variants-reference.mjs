// Writes byte-level-<variant>.expected.txt for each pre-tokenizer variant in byte-level-variants.json
// (Llama-3-style Split pattern with ignore_merges; SmolLM-style Digits + ByteLevel), using GPT-2's vocabulary
// and merges from the shared folder, computed by an independent implementation (@huggingface/tokenizers).
// The test builds the same tokenizer.json (see ByteLevelVariantTests). Rerun:
//   mkdir -p /tmp/ref && cd /tmp/ref && npm install @huggingface/tokenizers@0.2.0
//   cd tests/NeuronExplainer.Tests/Fixtures/Tokenizers && NODE_PATH=/tmp/ref/node_modules node byte-level-variants-reference.mjs \
//     ../../../../../shared
// Format as in gpt2-reference.mjs ("corpus", "doc" for the first 300 WebText documents, "case").
import { createRequire } from "node:module";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";

const require = createRequire(process.env.NODE_PATH + "/");
const { Tokenizer } = require("@huggingface/tokenizers");
const shared = process.argv[2];
const vocab = JSON.parse(readFileSync(`${shared}/models/gpt2-tokenizer/encoder.json`, "utf8"));
const merges = readFileSync(`${shared}/models/gpt2-tokenizer/vocab.bpe`, "utf8").split("\n").slice(1).filter((l) => l.length > 0);
const docs = readFileSync(`${shared}/corpora/webtext-test.jsonl`, "utf8").split("\n").filter((l) => l.length > 0)
  .slice(0, 300).map((l) => JSON.parse(l).text);
const cases = [
  "Hello world", "I'M here, you're THERE and we'LL see", "12345678 and 3.14159", "١٢٣ ½ Ⅻ digits", "tabs\t\tand\r\nnewlines\n\n\n",
  " ".repeat(20) + "x", "Emoji 👍🏽 family 👨‍👩‍👧", "数学 ∑ café naïve Ελληνικά русский 日本語", "one<|endoftext|>two", "  leading",
  "a\n  b\n\n  c", "don't stop", "!!!???...", "",
];
const int32 = (ids) => { const b = Buffer.alloc(ids.length * 4); ids.forEach((id, i) => b.writeInt32LE(id, i * 4)); return b; };

for (const [name, variant] of Object.entries(JSON.parse(readFileSync("byte-level-variants.json", "utf8")))) {
  const json = {
    added_tokens: [{ id: 50256, content: "<|endoftext|>", single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null, pre_tokenizer: variant.pre_tokenizer, post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "", fuse_unk: false,
      byte_fallback: false, ignore_merges: variant.ignore_merges, vocab, merges },
  };
  const tokenizer = new Tokenizer(json, {});
  const encode = (text) => tokenizer.encode(text, { add_special_tokens: false }).ids;
  const out = [];
  const corpus = createHash("sha256");
  const all = docs.map(encode);
  all.forEach((ids) => { corpus.update(int32(ids)); corpus.update(int32([-1])); });
  out.push(`corpus ${corpus.digest("hex")}`);
  all.forEach((ids, i) => out.push(`doc ${i} ${ids.length} ${createHash("sha256").update(int32(ids)).digest("hex").slice(0, 16)}`));
  for (const text of cases) out.push(`case ${JSON.stringify({ text, ids: encode(text) })}`);
  writeFileSync(`byte-level-${name}.expected.txt`, out.join("\n") + "\n");
}
