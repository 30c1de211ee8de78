// Writes gpt2-webtext.expected.txt: GPT-2 token ids of shared/corpora/webtext-test.jsonl computed by an
// independent implementation (js-tiktoken, a port of OpenAI's tiktoken, with its own copy of GPT-2's ranks).
// Rerun (needs npm and node; keep node_modules out of the repository):
//   mkdir -p /tmp/ref && cd /tmp/ref && npm install js-tiktoken@1.0.21
//   NODE_PATH=/tmp/ref/node_modules node --experimental-default-type=module \
//     tests/NeuronExplainer.Tests/Fixtures/Tokenizers/gpt2-reference.mjs ../shared/corpora/webtext-test.jsonl \
//     > tests/NeuronExplainer.Tests/Fixtures/Tokenizers/gpt2-webtext.expected.txt
// Format (read by Gpt2ParityTests): "corpus <sha256>" over every document's ids (int32 little-endian,
// each document followed by -1); "doc <index> <count> <first 16 hex of sha256 of its ids>" per document;
// "ids <index> <ids...>" for selected documents; "case <json>" with {text, ids} for hand-written strings;
// "decode <json>" with {ids, text} for id sequences cut inside characters; "tokens <sha256>" over every
// token's string (UTF-8, each followed by byte 0xFF).
import { createRequire } from "node:module";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

const require = createRequire(process.env.NODE_PATH + "/");
const { getEncoding } = require("js-tiktoken");
const enc = getEncoding("gpt2");
const encode = (text) => enc.encode(text, "all");
const decode = (ids) => enc.decode(ids);

const int32 = (ids) => {
  const buffer = Buffer.alloc(ids.length * 4);
  ids.forEach((id, i) => buffer.writeInt32LE(id, i * 4));
  return buffer;
};

const docs = readFileSync(process.argv[2], "utf8").split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l).text);
const allIds = docs.map(encode);
const corpus = createHash("sha256");
const out = [];
allIds.forEach((ids) => { corpus.update(int32(ids)); corpus.update(int32([-1])); });
out.push(`corpus ${corpus.digest("hex")}`);
allIds.forEach((ids, i) => out.push(`doc ${i} ${ids.length} ${createHash("sha256").update(int32(ids)).digest("hex").slice(0, 16)}`));

// Full ids for the first documents and for the ones richest in non-ASCII text, emoji and whitespace runs.
const nonAscii = (d) => [...d].filter((c) => c.codePointAt(0) > 127).length;
const longestSpace = (d) => Math.max(0, ...(d.match(/\s+/g) ?? []).map((s) => s.length));
const selected = new Set([...Array(30).keys()]);
const pick = (score, n) => docs.map((d, i) => [score(d), i]).filter(([s]) => s > 0).sort((a, b) => b[0] - a[0]).slice(0, n).forEach(([, i]) => selected.add(i));
pick(nonAscii, 25);
pick((d) => (/[\u{10000}-\u{10FFFF}]/u.test(d) ? 1e6 - d.length : 0), 17);
pick(longestSpace, 10);
let budget = 60000;
for (const i of [...selected].sort((a, b) => a - b)) {
  if (allIds[i].length > budget) continue;
  budget -= allIds[i].length;
  out.push(`ids ${i} ${allIds[i].join(" ")}`);
}

const cases = [
  "Hello world", "<|endoftext|>", "one<|endoftext|>two", "  <|endoftext|>  ", "<|endoftext", "don't I'll we've they're she'd I'M",
  "  leading and trailing  ", "tabs\t\tand\nnewlines\n\n\n", " ".repeat(300) + "x", "\n".repeat(50),
  "Emoji 👍🏽 family 👨‍👩‍👧 flags 🇫🇷🇯🇵", "数学 ∑ ∫ ≈ café naïve Ελληνικά русский 日本語のテキスト", "𝐀𝐁𝐂 bold math letters",
  "numbers 1234567890 ١٢٣ ½ Ⅻ", "mixed123abc!!!???...", "\u00a0nbsp\u2003em space\u3000ideographic", "'s's'S 't", "",
  "a\u0301e\u0301 combining", "\u200bzero\u200dwidth", "line\r\nbreaks\r\n", "#$%^&*()_+-=[]{}|;:,.<>/?`~",
];
for (const text of cases) out.push(`case ${JSON.stringify({ text, ids: encode(text) })}`);

// Cuts inside multi-byte characters: decoding must show U+FFFD where the bytes are incomplete.
for (const i of [...selected].slice(0, 40)) {
  const ids = allIds[i];
  for (let start = 0; start < ids.length; start += 37) {
    const slice = ids.slice(start, start + 5);
    const text = decode(slice);
    if (text.includes("\uFFFD")) out.push(`decode ${JSON.stringify({ ids: slice, text })}`);
  }
}
for (const ids of [[447], [447, 247], [247, 447], [12520, 239], [12520, 239, 235], [163, 226, 109, 163], [50256], [220, 50256, 220]])
  out.push(`decode ${JSON.stringify({ ids, text: decode(ids) })}`);

const tokens = createHash("sha256");
for (let id = 0; id < 50257; id++) { tokens.update(Buffer.from(decode([id]), "utf8")); tokens.update(Buffer.from([0xff])); }
out.push(`tokens ${tokens.digest("hex")}`);
process.stdout.write(out.join("\n") + "\n");
