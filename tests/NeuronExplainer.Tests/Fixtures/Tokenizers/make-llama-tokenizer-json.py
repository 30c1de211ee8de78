"""Builds the small hand-made Llama-style tokenizer.json fixtures (byte fallback, "\u2581" word marker, merges
learned greedily from a few sentences) in two flavours: llama-legacy.tokenizer.json (Llama 2's Prepend + Replace
normalizer) and llama-metaspace.tokenizer.json (Metaspace pre-tokenizer, prepend_scheme "first", as newer files).
Rerun: /usr/bin/python3 make-llama-tokenizer-json.py (in this folder); then run llama-tokenizer-json-reference.mjs.
"""
import collections, json

TEXT = ("the cat sat on the mat. the dog ate the hat! once upon a time there was a little girl. "
        "she saw the sea and the sun, then they went home to eat. hello world, hello there.")
MARK = "\u2581"

vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
for b in range(256):
    vocab["<0x%02X>" % b] = len(vocab)
words = [MARK + w for w in TEXT.split(" ")]
for ch in sorted(set("".join(words))):
    vocab.setdefault(ch, len(vocab))
merges = []
sequences = [list(w) for w in words]
for _ in range(80):
    pairs = collections.Counter()
    for seq in sequences:
        pairs.update(zip(seq, seq[1:]))
    if not pairs:
        break
    (a, b), count = max(pairs.items(), key=lambda item: (item[1], item[0]))
    if count < 2:
        break
    merges.append(a + " " + b)
    vocab.setdefault(a + b, len(vocab))
    for seq in sequences:
        i = 0
        while i < len(seq) - 1:
            if seq[i] == a and seq[i + 1] == b:
                seq[i:i + 2] = [a + b]
            i += 1

added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
         for i, t in enumerate(["<unk>", "<s>", "</s>"])]
model = {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None, "end_of_word_suffix": None,
         "fuse_unk": True, "byte_fallback": True, "vocab": vocab, "merges": merges}
decoder = {"type": "Sequence", "decoders": [
    {"type": "Replace", "pattern": {"String": MARK}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"},
    {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
legacy = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
          "normalizer": {"type": "Sequence", "normalizers": [
              {"type": "Prepend", "prepend": MARK}, {"type": "Replace", "pattern": {"String": " "}, "content": MARK}]},
          "pre_tokenizer": None, "post_processor": None, "decoder": decoder, "model": model}
metaspace = dict(legacy, normalizer=None,
                 pre_tokenizer={"type": "Metaspace", "replacement": MARK, "prepend_scheme": "first", "split": False})
for name, content in [("llama-legacy.tokenizer.json", legacy), ("llama-metaspace.tokenizer.json", metaspace)]:
    with open(name, "w", encoding="utf-8") as f:
        json.dump(content, f, ensure_ascii=False, indent=1)
