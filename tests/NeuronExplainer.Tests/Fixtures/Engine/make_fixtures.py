#!/usr/bin/python3
"""Generates the engine's parity fixtures with an independent PyTorch reference (float64).

Run from anywhere with Debian's torch:  /usr/bin/python3 make_fixtures.py [path/to/stories260K.bin]
Writes, next to this script:
  gpt2-tiny/    random GPT-2 (HF layout: config.json + model.safetensors, F32, Conv1D [in, out] weights)
  llama-tiny/   random Llama with grouped-query attention and an untied lm_head, BF16, two shards + index
  qwen2-tiny/   random Qwen2 (q/k/v biases, tied embeddings), F16
  */expected.safetensors + */tokens.json   reference hook outputs (TransformerLens names: hook_resid_pre, attn.hook_z,
                attn.hook_pattern, hook_attn_out, mlp.hook_post, hook_mlp_out, hook_resid_post) and logits for a
                batch of token windows
  stories260K-expected.safetensors + stories260K-tokens.json   the same for ../shared's stories260K, computed
                with llama2.c's own interleaved-pair rotary convention straight from the .bin file
The safetensors files are written by hand (8-byte little-endian header length, JSON header, raw data).
"""
import json
import math
import os
import struct
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(20231101)

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        # numpy has no bfloat16: reinterpret the bits as int16.
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = tensor_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for blob in blobs:
            f.write(blob)


def rand(*shape, scale=0.2):
    return torch.randn(*shape) * scale


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * w + b


def rms_norm(x, w, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w


def gelu_new(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def attend(q, k, v):
    """q [B, H, S, hd]; k, v [B, H, S, hd] -> output [B, S, H*hd], pattern [B, H, S, S]."""
    seq = q.shape[2]
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    mask = torch.triu(torch.ones(seq, seq, dtype=torch.bool), 1)
    pattern = torch.softmax(scores.masked_fill(mask, float("-inf")), -1)
    out = pattern @ v
    return out.transpose(1, 2).reshape(q.shape[0], seq, -1), pattern


# ---------------------------------------------------------------- GPT-2

def make_gpt2():
    d, layers, heads, vocab, ctx = 32, 2, 4, 50, 16
    cfg = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": d, "n_layer": layers, "n_head": heads,
           "n_positions": ctx, "n_ctx": ctx, "vocab_size": vocab, "layer_norm_epsilon": 1e-5,
           "activation_function": "gelu_new", "n_inner": None}
    w = {"wte.weight": rand(vocab, d), "wpe.weight": rand(ctx, d),
         "ln_f.weight": 1 + rand(d), "ln_f.bias": rand(d)}
    for l in range(layers):
        h = f"h.{l}"
        w.update({f"{h}.ln_1.weight": 1 + rand(d), f"{h}.ln_1.bias": rand(d),
                  f"{h}.attn.c_attn.weight": rand(d, 3 * d), f"{h}.attn.c_attn.bias": rand(3 * d),
                  f"{h}.attn.c_proj.weight": rand(d, d), f"{h}.attn.c_proj.bias": rand(d),
                  f"{h}.ln_2.weight": 1 + rand(d), f"{h}.ln_2.bias": rand(d),
                  f"{h}.mlp.c_fc.weight": rand(d, 4 * d), f"{h}.mlp.c_fc.bias": rand(4 * d),
                  f"{h}.mlp.c_proj.weight": rand(4 * d, d), f"{h}.mlp.c_proj.bias": rand(d)})
    return cfg, w


def gpt2_forward(cfg, w, tokens, edit=None):
    d, heads, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    w = {k: v.double() for k, v in w.items()}
    batch, seq = tokens.shape
    x = w["wte.weight"][tokens] + w["wpe.weight"][:seq]
    out = {}
    for l in range(cfg["n_layer"]):
        h = f"h.{l}"
        out[f"blocks.{l}.hook_resid_pre"] = x
        a = layer_norm(x, w[f"{h}.ln_1.weight"], w[f"{h}.ln_1.bias"], eps)
        qkv = a @ w[f"{h}.attn.c_attn.weight"] + w[f"{h}.attn.c_attn.bias"]
        q, k, v = (t.reshape(batch, seq, heads, d // heads).transpose(1, 2) for t in qkv.split(d, -1))
        att, pattern = attend(q, k, v)
        attn_out = att @ w[f"{h}.attn.c_proj.weight"] + w[f"{h}.attn.c_proj.bias"]
        x = x + attn_out
        m = gelu_new(layer_norm(x, w[f"{h}.ln_2.weight"], w[f"{h}.ln_2.bias"], eps) @ w[f"{h}.mlp.c_fc.weight"] + w[f"{h}.mlp.c_fc.bias"])
        if edit is not None:
            m = edit(l, m)
        mlp_out = m @ w[f"{h}.mlp.c_proj.weight"] + w[f"{h}.mlp.c_proj.bias"]
        x = x + mlp_out
        out[f"blocks.{l}.attn.hook_z"] = att
        out[f"blocks.{l}.hook_attn_out"] = attn_out
        out[f"blocks.{l}.hook_mlp_out"] = mlp_out
        out[f"blocks.{l}.mlp.hook_post"] = m
        out[f"blocks.{l}.hook_resid_post"] = x
        out[f"blocks.{l}.attn.hook_pattern"] = pattern
    out["logits"] = layer_norm(x, w["ln_f.weight"], w["ln_f.bias"], eps) @ w["wte.weight"].T
    return out


# ---------------------------------------------------------------- Llama layout (HF rotate-half RoPE)

def make_llama(arch, model_type, dtype, qkv_bias, tied):
    d, layers, heads, kv_heads, mlp, vocab, ctx = 32, 2, 4, 2, 48, 60, 32
    cfg = {"architectures": [arch], "model_type": model_type, "hidden_size": d, "intermediate_size": mlp,
           "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv_heads,
           "vocab_size": vocab, "max_position_embeddings": ctx, "rms_norm_eps": 1e-5, "rope_theta": 500.0,
           "hidden_act": "silu", "tie_word_embeddings": tied, "rope_scaling": None}
    hd = d // heads
    w = {"model.embed_tokens.weight": rand(vocab, d), "model.norm.weight": 1 + rand(d)}
    if not tied:
        w["lm_head.weight"] = rand(vocab, d)
    for l in range(layers):
        p = f"model.layers.{l}"
        w.update({f"{p}.input_layernorm.weight": 1 + rand(d),
                  f"{p}.self_attn.q_proj.weight": rand(heads * hd, d), f"{p}.self_attn.k_proj.weight": rand(kv_heads * hd, d),
                  f"{p}.self_attn.v_proj.weight": rand(kv_heads * hd, d), f"{p}.self_attn.o_proj.weight": rand(d, heads * hd),
                  f"{p}.post_attention_layernorm.weight": 1 + rand(d),
                  f"{p}.mlp.gate_proj.weight": rand(mlp, d), f"{p}.mlp.up_proj.weight": rand(mlp, d),
                  f"{p}.mlp.down_proj.weight": rand(d, mlp)})
        if qkv_bias:
            w.update({f"{p}.self_attn.q_proj.bias": rand(heads * hd), f"{p}.self_attn.k_proj.bias": rand(kv_heads * hd),
                      f"{p}.self_attn.v_proj.bias": rand(kv_heads * hd)})
    return cfg, {k: v.to(dtype) for k, v in w.items()}


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], -1)


def llama_forward(cfg, w, tokens):
    d, heads, kv_heads, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["rms_norm_eps"]
    hd = d // heads
    w = {k: v.double() for k, v in w.items()}
    batch, seq = tokens.shape
    inv_freq = cfg["rope_theta"] ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    angles = torch.arange(seq, dtype=torch.float64)[:, None] * inv_freq[None, :]
    cos, sin = torch.cat([angles.cos()] * 2, -1), torch.cat([angles.sin()] * 2, -1)
    x = w["model.embed_tokens.weight"][tokens]
    out = {}

    def proj(t, name):
        y = t @ w[name + ".weight"].T
        return y + w[name + ".bias"] if name + ".bias" in w else y

    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}"
        out[f"blocks.{l}.hook_resid_pre"] = x
        a = rms_norm(x, w[f"{p}.input_layernorm.weight"], eps)
        q = proj(a, f"{p}.self_attn.q_proj").reshape(batch, seq, heads, hd).transpose(1, 2)
        k = proj(a, f"{p}.self_attn.k_proj").reshape(batch, seq, kv_heads, hd).transpose(1, 2)
        v = proj(a, f"{p}.self_attn.v_proj").reshape(batch, seq, kv_heads, hd).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        group = heads // kv_heads
        att, pattern = attend(q, k.repeat_interleave(group, 1), v.repeat_interleave(group, 1))
        attn_out = proj(att, f"{p}.self_attn.o_proj")
        x = x + attn_out
        b = rms_norm(x, w[f"{p}.post_attention_layernorm.weight"], eps)
        m = torch.nn.functional.silu(proj(b, f"{p}.mlp.gate_proj")) * proj(b, f"{p}.mlp.up_proj")
        mlp_out = proj(m, f"{p}.mlp.down_proj")
        x = x + mlp_out
        out[f"blocks.{l}.attn.hook_z"] = att
        out[f"blocks.{l}.hook_attn_out"] = attn_out
        out[f"blocks.{l}.hook_mlp_out"] = mlp_out
        out[f"blocks.{l}.mlp.hook_post"] = m
        out[f"blocks.{l}.hook_resid_post"] = x
        out[f"blocks.{l}.attn.hook_pattern"] = pattern
    unembed = w["lm_head.weight"] if "lm_head.weight" in w else w["model.embed_tokens.weight"]
    out["logits"] = rms_norm(x, w["model.norm.weight"], eps) @ unembed.T
    return out


# ---------------------------------------------------------------- llama2.c (interleaved-pair RoPE), from the .bin

def read_llama2c(path):
    with open(path, "rb") as f:
        raw = f.read()
    dim, hidden, layers, heads, kv_heads, vocab, seq_len = struct.unpack("<7i", raw[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    data = torch.frombuffer(bytearray(raw[28:]), dtype=torch.float32).double()
    pos = 0

    def take(*shape):
        nonlocal pos
        n = math.prod(shape)
        t = data[pos:pos + n].reshape(*shape)
        pos += n
        return t

    kv_dim = dim * kv_heads // heads
    w = {"emb": take(vocab, dim), "rms_att": take(layers, dim), "wq": take(layers, dim, dim),
         "wk": take(layers, kv_dim, dim), "wv": take(layers, kv_dim, dim), "wo": take(layers, dim, dim),
         "rms_ffn": take(layers, dim), "w1": take(layers, hidden, dim), "w2": take(layers, dim, hidden),
         "w3": take(layers, hidden, dim), "rms_final": take(dim)}
    take(seq_len, dim // heads // 2)
    take(seq_len, dim // heads // 2)
    w["cls"] = w["emb"] if shared else take(vocab, dim)
    return dict(dim=dim, layers=layers, heads=heads, kv_heads=kv_heads), w


def llama2c_forward(cfg, w, tokens, edit=None):
    dim, heads, kv_heads = cfg["dim"], cfg["heads"], cfg["kv_heads"]
    hd = dim // heads
    batch, seq = tokens.shape
    freq = 10000.0 ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    angles = torch.arange(seq, dtype=torch.float64)[:, None] * freq[None, :]
    cos, sin = angles.cos(), angles.sin()

    def rope(t):  # t [B, H, S, hd]; rotate pairs (2i, 2i+1)
        even, odd = t[..., 0::2], t[..., 1::2]
        r = torch.empty_like(t)
        r[..., 0::2] = even * cos - odd * sin
        r[..., 1::2] = even * sin + odd * cos
        return r

    x = w["emb"][tokens]
    out = {}
    for l in range(cfg["layers"]):
        out[f"blocks.{l}.hook_resid_pre"] = x
        a = rms_norm(x, w["rms_att"][l], 1e-5)
        q = rope((a @ w["wq"][l].T).reshape(batch, seq, heads, hd).transpose(1, 2))
        k = rope((a @ w["wk"][l].T).reshape(batch, seq, kv_heads, hd).transpose(1, 2))
        v = (a @ w["wv"][l].T).reshape(batch, seq, kv_heads, hd).transpose(1, 2)
        group = heads // kv_heads
        att, pattern = attend(q, k.repeat_interleave(group, 1), v.repeat_interleave(group, 1))
        attn_out = att @ w["wo"][l].T
        x = x + attn_out
        b = rms_norm(x, w["rms_ffn"][l], 1e-5)
        m = torch.nn.functional.silu(b @ w["w1"][l].T) * (b @ w["w3"][l].T)
        if edit is not None:
            m = edit(l, m)
        mlp_out = m @ w["w2"][l].T
        x = x + mlp_out
        out[f"blocks.{l}.attn.hook_z"] = att
        out[f"blocks.{l}.hook_attn_out"] = attn_out
        out[f"blocks.{l}.hook_mlp_out"] = mlp_out
        out[f"blocks.{l}.mlp.hook_post"] = m
        out[f"blocks.{l}.hook_resid_post"] = x
        out[f"blocks.{l}.attn.hook_pattern"] = pattern
    out["logits"] = rms_norm(x, w["rms_final"], 1e-5) @ w["cls"].T
    return out


# ---------------------------------------------------------------- writing

def save_expected(prefix, tokens, outputs):
    write_safetensors(prefix + "expected.safetensors", {k: v.float().contiguous() for k, v in outputs.items()})
    with open(prefix + "tokens.json", "w") as f:
        json.dump({"batch": tokens.shape[0], "seq": tokens.shape[1], "tokens": tokens.flatten().tolist()}, f)


def save_model(name, cfg, w, shards=1):
    folder = os.path.join(HERE, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    if shards == 1:
        write_safetensors(os.path.join(folder, "model.safetensors"), w)
        return folder
    names = list(w)
    weight_map = {}
    for s in range(shards):
        shard = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = names[s::shards]
        write_safetensors(os.path.join(folder, shard), {n: w[n] for n in part})
        weight_map.update({n: shard for n in part})
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f, indent=1)
    return folder


def main():
    cfg, w = make_gpt2()
    folder = save_model("gpt2-tiny", cfg, w)
    tokens = torch.randint(0, cfg["vocab_size"], (2, 7))
    save_expected(os.path.join(folder, ""), tokens, gpt2_forward(cfg, w, tokens))

    cfg, w = make_llama("LlamaForCausalLM", "llama", torch.bfloat16, qkv_bias=False, tied=False)
    folder = save_model("llama-tiny", cfg, w, shards=2)
    tokens = torch.randint(0, cfg["vocab_size"], (3, 9))
    save_expected(os.path.join(folder, ""), tokens, llama_forward(cfg, w, tokens))

    cfg, w = make_llama("Qwen2ForCausalLM", "qwen2", torch.float16, qkv_bias=True, tied=True)
    folder = save_model("qwen2-tiny", cfg, w)
    tokens = torch.randint(0, cfg["vocab_size"], (2, 5))
    save_expected(os.path.join(folder, ""), tokens, llama_forward(cfg, w, tokens))

    stories = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../../../../../shared/models/stories260K/stories260K.bin")
    cfg, w = read_llama2c(stories)
    # BOS-led windows of varied tokens (ids from tok512's range), two windows of 12.
    tokens = torch.tensor([[1, 403, 407, 261, 378, 283, 28, 425, 296, 352, 259, 13],
                           [1, 75, 300, 480, 2, 33, 511, 3, 290, 263, 319, 406]])
    out = llama2c_forward(cfg, w, tokens)
    save_expected(os.path.join(HERE, "stories260K-"), tokens, {k: v for k, v in out.items() if "pattern" not in k or k.startswith("blocks.2.")})


if __name__ == "__main__":
    main()
