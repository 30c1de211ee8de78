#!/usr/bin/python3
"""Random sparse autoencoders in SAELens's and sparsify's layouts, and their latent activations from an
independent float64 PyTorch reference, on the engine fixtures' tiny GPT-2 and on ../shared's stories260K.

Run with Debian's torch:  /usr/bin/python3 make_sae_fixtures.py [path/to/stories260K.bin]
Writes, next to this script:
  {model}/{sae}/cfg.json + sae_weights.safetensors (SAELens) or sae.safetensors (sparsify)
  {model}-latents.safetensors   one tensor per SAE folder: latents [batch, seq, d_sae] for the engine
                                fixture's token windows ({model}'s tokens.json under ../Engine)
The model's hooks come from make_fixtures.py's reference forward passes (not from our engine). Encoding follows
the formats' definitions: SAELens  act(norm(x) - b_dec * apply_b_dec_to_input) @ W_enc + b_enc), act = ReLU,
JumpReLU (ReLU where the pre-activation exceeds threshold) or TopK (largest k, optionally after scaling by the
decoder rows' norms, then ReLU); sparsify  TopK(ReLU((x - b_dec) @ encoder.weight.T + encoder.bias)).
Random weights are redrawn until no TopK choice or JumpReLU threshold sits within 1e-3 of a tie, so float32
rounding in the engine cannot flip a latent on or off.
"""
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ENGINE = os.path.join(HERE, "..", "Engine")
sys.path.insert(0, ENGINE)
from make_fixtures import gpt2_forward, llama2c_forward, read_llama2c, write_safetensors  # noqa: E402
from make_ablation_fixtures import read_safetensors  # noqa: E402

torch.manual_seed(20260115)
MARGIN = 1e-3


def normalize(x, kind):
    if kind == "constant_norm_rescale":
        return x * (x.shape[-1] ** 0.5) / x.norm(dim=-1, keepdim=True)
    if kind == "layer_norm":
        x = x - x.mean(-1, keepdim=True)
        return x / (x.std(-1, keepdim=True) + 1e-5)  # torch.std is the N - 1 estimate, as SAELens uses
    return x


def keep_topk(h, k):
    values, indices = torch.topk(h, k + 1, dim=-1)
    gap = (values[..., k - 1] - values[..., k]).abs() / values.abs().amax(-1).clamp_min(1e-6)
    out = torch.zeros_like(h).scatter(-1, indices[..., :k], values[..., :k])
    return out, bool((gap > MARGIN).all())


def saelens_latents(x, cfg, w):
    arch = cfg.get("architecture", "standard")
    act = cfg.get("activation_fn_str", cfg.get("activation_fn", "relu"))
    x = normalize(x, cfg.get("normalize_activations") or "none")
    if cfg.get("apply_b_dec_to_input", True):
        x = x - w["b_dec"]
    h = x @ w["W_enc"] + w["b_enc"]
    if arch == "jumprelu":
        t = w["threshold"]
        ok = bool(((h - t).abs() > MARGIN * h.abs().amax()).all())
        return torch.relu(h) * (h > t), ok
    if arch == "topk" or act == "topk":
        k = cfg["k"] if "k" in cfg else cfg["activation_fn_kwargs"]["k"]
        if cfg.get("rescale_acts_by_decoder_norm", False):
            h = h * w["W_dec"].norm(dim=-1)
        out, ok = keep_topk(h, k)
        return torch.relu(out), ok
    return torch.relu(h), True


def sparsify_latents(x, cfg, w):
    h = torch.relu((x - w["b_dec"]) @ w["encoder.weight"].T + w["encoder.bias"])
    return keep_topk(h, cfg["k"])


def make_saelens(x, cfg, d_sae, jump=False):
    d_in = cfg["d_in"]
    while True:
        w = {"W_enc": torch.randn(d_in, d_sae) / d_in ** 0.5, "b_enc": torch.randn(d_sae) * 0.1,
             "W_dec": torch.randn(d_sae, d_in) / d_sae ** 0.5, "b_dec": torch.randn(d_in) * 0.1}
        if jump:
            # Thresholds at each latent's median pre-activation over the windows, so about half of them fire.
            xin = normalize(x, cfg.get("normalize_activations") or "none")
            if cfg.get("apply_b_dec_to_input", True):
                xin = xin - w["b_dec"].double()
            h = xin.reshape(-1, d_in) @ w["W_enc"].double() + w["b_enc"].double()
            w["threshold"] = (h.median(0).values.float() + 0.01 * torch.randn(d_sae)).abs()
        latents, ok = saelens_latents(x, cfg, {k: v.double() for k, v in w.items()})
        if ok:
            return w, latents


def make_sparsify(x, cfg):
    d_in, m = cfg["d_in"], cfg["num_latents"] or cfg["d_in"] * cfg["expansion_factor"]
    while True:
        w = {"encoder.weight": torch.randn(m, d_in) / d_in ** 0.5, "encoder.bias": torch.randn(m) * 0.1,
             "W_dec": torch.randn(m, d_in) / m ** 0.5, "b_dec": torch.randn(d_in) * 0.1}
        w = {k: v.to(torch.bfloat16) for k, v in w.items()}  # as sparsify's published SAEs are stored
        latents, ok = sparsify_latents(x, cfg, {k: v.double() for k, v in w.items()})
        if ok:
            return w, latents


def write(model, outputs, specs):
    expected = {}
    for name, kind, cfg, extra in specs:
        folder = os.path.join(HERE, model, name)
        os.makedirs(folder, exist_ok=True)
        if kind == "sparsify":
            x = outputs[extra["hook"]]
            w, latents = make_sparsify(x, cfg)
            write_safetensors(os.path.join(folder, "sae.safetensors"), w)
        else:
            hook = cfg.get("hook_name") or cfg.get("hook_point") or cfg["metadata"]["hook_name"]
            w, latents = make_saelens(outputs[hook], cfg, cfg["d_sae"], jump=cfg.get("architecture") == "jumprelu")
            write_safetensors(os.path.join(folder, "sae_weights.safetensors"), w)
        with open(os.path.join(folder, "cfg.json"), "w") as f:
            json.dump(cfg, f, indent=1)
        expected[name] = latents.float().contiguous()
        fired = (latents > 0).double().mean().item()
        print(f"{model}/{name}: {tuple(latents.shape)}, {fired:.2f} of latents fire")
    write_safetensors(os.path.join(HERE, f"{model}-latents.safetensors"), expected)


def tokens_of(path):
    with open(path) as f:
        t = json.load(f)
    return torch.tensor(t["tokens"]).reshape(t["batch"], t["seq"])


def main():
    # ---- tiny GPT-2 (d_model 32, 4 heads of 8, d_mlp 128, 2 layers)
    with open(os.path.join(ENGINE, "gpt2-tiny", "config.json")) as f:
        cfg = json.load(f)
    w = read_safetensors(os.path.join(ENGINE, "gpt2-tiny", "model.safetensors"))
    out = gpt2_forward(cfg, w, tokens_of(os.path.join(ENGINE, "gpt2-tiny", "tokens.json")))
    write("gpt2-tiny", out, [
        # SAELens 6: hook in metadata, standard ReLU, b_dec subtracted.
        ("relu-resid-pre", "saelens", {"architecture": "standard", "d_in": 32, "d_sae": 96, "dtype": "float32", "device": "cpu",
                                       "apply_b_dec_to_input": True, "normalize_activations": "none", "reshape_activations": "none",
                                       "metadata": {"hook_name": "blocks.1.hook_resid_pre", "model_name": "gpt2-tiny", "sae_lens_version": "6.18.0"}}, None),
        ("jumprelu-mlp-out", "saelens", {"architecture": "jumprelu", "d_in": 32, "d_sae": 80, "dtype": "float32", "apply_b_dec_to_input": False,
                                         "normalize_activations": "layer_norm",
                                         "metadata": {"hook_name": "blocks.0.hook_mlp_out", "sae_lens_version": "6.18.0"}}, None),
        ("topk-hook-z", "saelens", {"architecture": "topk", "d_in": 32, "d_sae": 64, "k": 5, "rescale_acts_by_decoder_norm": True,
                                    "apply_b_dec_to_input": True, "normalize_activations": "constant_norm_rescale", "reshape_activations": "hook_z",
                                    "metadata": {"hook_name": "blocks.1.attn.hook_z", "sae_lens_version": "6.18.0"}}, None),
        # Before SAELens 6: hook_point, activation_fn_str topk with its k in activation_fn_kwargs, boolean normalisation.
        ("old-topk-resid-post", "saelens", {"d_in": 32, "d_sae": 48, "hook_point": "blocks.0.hook_resid_post", "hook_point_layer": 0,
                                            "hook_point_head_index": None, "activation_fn_str": "topk", "activation_fn_kwargs": {"k": 4},
                                            "normalize_activations": False, "sae_lens_training_version": "3.13.0"}, None),
        ("h.1", "sparsify", {"activation": "topk", "expansion_factor": 32, "normalize_decoder": True, "num_latents": 72, "k": 6,
                             "multi_topk": False, "skip_connection": False, "transcode": False, "d_in": 32}, {"hook": "blocks.1.hook_resid_post"}),
        ("h.0.mlp", "sparsify", {"expansion_factor": 2, "num_latents": 0, "k": 3, "d_in": 32}, {"hook": "blocks.0.hook_mlp_out"}),
    ])

    # ---- stories260K (d_model 64, 8 heads of 8, 5 layers), BOS-led windows
    stories = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../../../../../shared/models/stories260K/stories260K.bin")
    cfg, w = read_llama2c(stories)
    out = llama2c_forward(cfg, w, tokens_of(os.path.join(ENGINE, "stories260K-tokens.json")))
    write("stories260K", out, [
        ("relu-resid-pre", "saelens", {"architecture": "standard", "d_in": 64, "d_sae": 128, "apply_b_dec_to_input": True,
                                       "normalize_activations": "none", "metadata": {"hook_name": "blocks.2.hook_resid_pre", "sae_lens_version": "6.0.0"}}, None),
        ("jumprelu-hook-z", "saelens", {"architecture": "jumprelu", "d_in": 64, "d_sae": 96, "apply_b_dec_to_input": True,
                                        "normalize_activations": "none", "metadata": {"hook_name": "blocks.3.attn.hook_z", "sae_lens_version": "6.0.0"}}, None),
        ("topk-attn-out", "saelens", {"architecture": "topk", "d_in": 64, "d_sae": 100, "k": 8, "apply_b_dec_to_input": False,
                                      "normalize_activations": "none", "metadata": {"hook_name": "blocks.1.hook_attn_out", "sae_lens_version": "6.0.0"}}, None),
        ("layers.4", "sparsify", {"activation": "topk", "num_latents": 160, "k": 10, "d_in": 64}, {"hook": "blocks.4.hook_resid_post"}),
    ])


if __name__ == "__main__":
    main()
