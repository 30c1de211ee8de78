#!/usr/bin/python3
"""Reference head activations and attended tokens, from make_fixtures.py's float64 PyTorch forward passes.

Run with Debian's torch:  /usr/bin/python3 make_head_fixtures.py [path/to/stories260K.bin]
For gpt2-tiny, llama-tiny (grouped KV heads, read from its BF16 shards) and ../shared's stories260K, on the token
windows of their existing tokens.json: per layer, window, head and token, the head's activation as the README defines
it (the L2 norm of z_h(t) @ W_O[h], bias left out) and its 3 strongest attended tokens among the window's tokens up to
the query (a leading BOS, when the case has one, is context: neither a query nor a source), written to
heads-{model}.json. Written from the definitions, not from our C# code.
"""
import json
import os
import sys

import torch

from make_ablation_fixtures import read_safetensors
from make_fixtures import HERE, gpt2_forward, llama_forward, llama2c_forward, read_llama2c

TOP = 3


def read_model(folder):
    index = os.path.join(folder, "model.safetensors.index.json")
    files = sorted(set(json.load(open(index))["weight_map"].values())) if os.path.exists(index) else ["model.safetensors"]
    w = {}
    for f in files:
        w.update(read_safetensors(os.path.join(folder, f)))
    return json.load(open(os.path.join(folder, "config.json"))), w


def tokens_of(path):
    t = json.load(open(path))
    return torch.tensor(t["tokens"]).reshape(t["batch"], t["seq"])


def heads(out, w_o, layers, n_heads, offset):
    """w_o(l, h) -> [d_head, d_model] rows of head h: its write into the residual stream is z_h @ w_o(l, h)."""
    result = {}
    for l in range(layers):
        z = out[f"blocks.{l}.attn.hook_z"].double()
        pattern = out[f"blocks.{l}.attn.hook_pattern"].double()
        batch, seq, width = z.shape
        hd = width // n_heads
        acts, sources = [], []
        for b in range(batch):
            wa, ws = [], []
            for h in range(n_heads):
                write = z[b, offset:, h * hd:(h + 1) * hd] @ w_o(l, h).double()
                wa.append(write.norm(dim=-1).tolist())
                per_token = []
                for t in range(seq - offset):
                    row = pattern[b, h, t + offset, offset:t + offset + 1]
                    k = min(TOP, row.shape[0])
                    values, positions = torch.topk(row, k)
                    per_token.append([[int(p), float(v)] for p, v in zip(positions, values)])
                ws.append(per_token)
            acts.append(wa)
            sources.append(ws)
        result[str(l)] = {"activations": acts, "attended": sources}
    return result


def save(name, offset, layers):
    with open(os.path.join(HERE, f"heads-{name}.json"), "w") as f:
        json.dump({"offset": offset, "layers": layers}, f)


def main():
    cfg, w = read_model(os.path.join(HERE, "gpt2-tiny"))
    out = gpt2_forward(cfg, w, tokens_of(os.path.join(HERE, "gpt2-tiny", "tokens.json")))
    hd = cfg["n_embd"] // cfg["n_head"]
    save("gpt2-tiny", 0, heads(out, lambda l, h: w[f"h.{l}.attn.c_proj.weight"][h * hd:(h + 1) * hd, :], cfg["n_layer"], cfg["n_head"], 0))

    # Llama-family windows carry BOS as context: the first token of each fixture window plays it.
    cfg, w = read_model(os.path.join(HERE, "llama-tiny"))
    out = llama_forward(cfg, w, tokens_of(os.path.join(HERE, "llama-tiny", "tokens.json")))
    hd = cfg["hidden_size"] // cfg["num_attention_heads"]
    save("llama-tiny", 1, heads(out, lambda l, h: w[f"model.layers.{l}.self_attn.o_proj.weight"][:, h * hd:(h + 1) * hd].T,
                                 cfg["num_hidden_layers"], cfg["num_attention_heads"], 1))

    stories = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../../../../../shared/models/stories260K/stories260K.bin")
    cfg, w = read_llama2c(stories)
    out = llama2c_forward(cfg, w, tokens_of(os.path.join(HERE, "stories260K-tokens.json")))
    hd = cfg["dim"] // cfg["heads"]
    save("stories260K", 1, heads(out, lambda l, h: w["wo"][l][:, h * hd:(h + 1) * hd].T, cfg["layers"], cfg["heads"], 1))


if __name__ == "__main__":
    main()
