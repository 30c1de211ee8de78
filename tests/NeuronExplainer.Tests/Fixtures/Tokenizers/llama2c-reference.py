"""Writes llama2c-tinystories.expected.txt: token ids of shared/corpora/tinystories-train-head.txt under
llama2.c's tokenizer (shared/models/stories260K/tok512.bin), computed by this independent, deliberately plain
implementation of llama2.c's encode/decode (written from the algorithm, not from llama2.c's code).
Rerun with Debian's python3 (no packages needed):
  /usr/bin/python3 tests/NeuronExplainer.Tests/Fixtures/Tokenizers/llama2c-reference.py \
    ../shared/models/stories260K/tok512.bin ../shared/corpora/tinystories-train-head.txt \
    > tests/NeuronExplainer.Tests/Fixtures/Tokenizers/llama2c-tinystories.expected.txt
Documents are the pieces between "<|endoftext|>" markers, stripped of surrounding whitespace, empty ones
dropped. The output format is the one described in gpt2-reference.mjs.
"""
import hashlib, json, struct, sys

BOS, EOS, FIRST_BYTE = 1, 2, 3


def load(path):
    data = open(path, "rb").read()
    (max_len,) = struct.unpack_from("<i", data, 0)
    pos, pieces, scores = 4, [], []
    while pos < len(data):
        score, length = struct.unpack_from("<fi", data, pos)
        pos += 8
        pieces.append(data[pos:pos + length])
        scores.append(score)
        pos += length
    return pieces, scores


PIECES, SCORES = load(sys.argv[1])
TEXTS = [p.decode("utf-8") for p in PIECES]
LOOKUP = {}
for i, t in enumerate(TEXTS):
    LOOKUP.setdefault(t, i)


def encode(text):
    if not text:
        return []
    tokens = [LOOKUP[" "]]
    for ch in text:
        if ch in LOOKUP:
            tokens.append(LOOKUP[ch])
        else:
            tokens.extend(b + FIRST_BYTE for b in ch.encode("utf-8", "replace"))
    # pair_scores[i] scores merging tokens[i] and tokens[i+1]; None when their concatenation is no token.
    def pair(i):
        merged = LOOKUP.get(TEXTS[tokens[i]] + TEXTS[tokens[i + 1]])
        return (SCORES[merged], merged) if merged is not None else None
    pairs = [pair(i) for i in range(len(tokens) - 1)]
    while True:
        best, best_i = None, -1
        for i, p in enumerate(pairs):
            if p is not None and (best is None or p[0] > best[0]):
                best, best_i = p, i
        if best is None:
            return tokens
        tokens[best_i:best_i + 2] = [best[1]]
        del pairs[best_i]
        if best_i > 0:
            pairs[best_i - 1] = pair(best_i - 1)
        if best_i < len(tokens) - 1:
            pairs[best_i] = pair(best_i)


def token_bytes(i):
    return bytes([i - FIRST_BYTE]) if FIRST_BYTE <= i < FIRST_BYTE + 256 else PIECES[i]


def decode(ids):
    out, at_start = bytearray(), True
    for i in ids:
        if i in (BOS, EOS):
            at_start = i == BOS
            continue
        b = token_bytes(i)
        if at_start and PIECES[i].startswith(b" "):
            b = b[1:]
        out += b
        at_start = False
    return out.decode("utf-8", "replace")


def int32(ids):
    return struct.pack("<%di" % len(ids), *ids)


raw = open(sys.argv[2], "rb").read().decode("utf-8", "replace")
docs = [d.strip() for d in raw.split("<|endoftext|>")]
docs = [d for d in docs if d]
all_ids = [encode(d) for d in docs]
out = []
corpus = hashlib.sha256()
for ids in all_ids:
    corpus.update(int32(ids) + int32([-1]))
out.append("corpus " + corpus.hexdigest())
for i, ids in enumerate(all_ids):
    out.append("doc %d %d %s" % (i, len(ids), hashlib.sha256(int32(ids)).hexdigest()[:16]))
non_ascii = sorted(((sum(ord(c) > 127 for c in d), i) for i, d in enumerate(docs)), reverse=True)
selected = sorted(set(range(60)) | {i for n, i in non_ascii[:40] if n > 0})
for i in selected:
    out.append("ids %d %s" % (i, " ".join(map(str, all_ids[i]))))
cases = ["Hello world", "Once upon a time, there was a little girl named Lily.", "", " ", "  two leading spaces",
         "trailing  ", "tabs\tand\nnewlines\n\n", " " * 100 + "x", "Emoji 👍🏽 family 👨‍👩‍👧", "café naïve 日本語 русский",
         "<s> and </s> and <|endoftext|> are plain text", "<0x41> literal", "\u00a0nbsp", "a" * 200, "Zz!?"]
for text in cases:
    out.append("case " + json.dumps({"text": text, "ids": encode(text)}))
for ids in ([1, 365, 1], [1, 259, 300], [259, 300], [3 + 0xE2], [3 + 0xE2, 3 + 0x82], [3 + 0xE2, 3 + 0x82, 3 + 0xAC],
            [3 + 0xF0, 3 + 0x9F, 3 + 0x91, 3 + 0x8D], [3 + 0x9F, 3 + 0x91], [2, 259], [1, 3 + 0x20, 300], [5, 300, 2, 1, 300]):
    out.append("decode " + json.dumps({"ids": ids, "text": decode(ids)}))
tokens = hashlib.sha256()
for i in range(len(PIECES)):
    tokens.update(token_bytes(i).decode("utf-8", "replace").encode("utf-8") + b"\xff")
out.append("tokens " + tokens.hexdigest())
sys.stdout.write("\n".join(out) + "\n")
