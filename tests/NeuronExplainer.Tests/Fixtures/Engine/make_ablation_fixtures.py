#!/usr/bin/python3
"""Reference values for the ablation scorer, from make_fixtures.py's float64 PyTorch forward passes.

Run with Debian's torch:  /usr/bin/python3 make_ablation_fixtures.py [path/to/stories260K.bin]
For gpt2-tiny (read from its model.safetensors) and ../shared's stories260K, one neuron over a few windows: the
neuron's activations, and the ablation effects as AblationScorer defines them (see its summary), written to
ablation-{model}.json. Written from the definitions, not from our C# code.
"""
import json
import os
import struct
import sys

import torch

from make_fixtures import HERE, gpt2_forward, llama2c_forward, read_llama2c


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        data = bytearray(raw[8 + n + a:8 + n + b])
        if meta["dtype"] == "F32":
            t = torch.frombuffer(data, dtype=torch.float32)
        elif meta["dtype"] == "BF16":
            # bfloat16 is the top half of a float32.
            t = (torch.frombuffer(data, dtype=torch.int16).to(torch.int32) << 16).view(torch.float32)
        else:
            raise ValueError(f"{path}: {name} is {meta['dtype']}; expected F32 or BF16")
        out[name] = t.reshape(meta["shape"])
    return out


def effects(forward, windows, layer, neuron, mean, offset, w_out, gain, unembed, layer_norm, eps):
    def ablate(value):
        def edit(l, m):
            if l == layer:
                m = m.clone()
                m[..., neuron] = value
            return m
        return edit

    zero_sum = mean_sum = direct_sum = 0.0
    predictions = firing = direct = 0
    change = torch.zeros(unembed.shape[0], dtype=torch.float64)
    activations = []
    last = None
    for window in windows:
        t = torch.tensor([window])
        clean = forward(t, None)
        last = max(int(k.split(".")[1]) for k in clean if k.endswith("hook_resid_post"))
        act = clean[f"blocks.{layer}.mlp.hook_post"][0, :, neuron]
        activations.append(act[offset:].tolist())
        logits = clean["logits"][0]
        zero = forward(t, ablate(0.0))["logits"][0]
        meaned = forward(t, ablate(mean))["logits"][0]
        targets = torch.tensor(window[1:])

        def loss(lg):
            return -torch.log_softmax(lg[:-1], -1).gather(1, targets[:, None])[:, 0]

        zero_sum += float((loss(zero) - loss(logits)).sum())
        mean_sum += float((loss(meaned) - loss(logits)).sum())
        predictions += len(window) - 1
        excerpt = act[offset:]
        threshold = 0.5 * float(excerpt.max())
        resid = clean[f"blocks.{last}.hook_resid_post"][0]
        for r in range(offset, len(window)):
            a = float(act[r])
            if a > 0 and a >= threshold:
                firing += 1
                change += logits[r] - zero[r]
                if r + 1 < len(window):
                    x = resid[r]
                    if layer_norm:
                        scale = torch.sqrt(((x - x.mean()) ** 2).mean() + eps)
                        row = w_out - w_out.mean()
                    else:
                        scale = torch.sqrt((x * x).mean() + eps)
                        row = w_out
                    direct_sum += a * float((row * gain * unembed[window[r + 1]]).sum() / scale)
                    direct += 1
    change /= max(firing, 1)
    order = sorted(range(len(change)), key=lambda i: (-float(change[i]), i))
    return {"layer": layer, "neuron": neuron, "mean": mean, "windows": windows, "offset": offset, "activations": activations,
            "predictions": predictions, "firing_positions": firing, "loss_change_zero": zero_sum / predictions,
            "loss_change_mean": mean_sum / predictions, "direct_logit_effect": direct_sum / direct,
            "promoted": [[i, float(change[i])] for i in order[:10]], "suppressed": [[i, float(change[i])] for i in order[::-1][:10]]}


def main():
    w = read_safetensors(os.path.join(HERE, "gpt2-tiny", "model.safetensors"))
    with open(os.path.join(HERE, "gpt2-tiny", "config.json")) as f:
        cfg = json.load(f)
    wd = {k: v.double() for k, v in w.items()}
    layer, neuron = 0, 5
    result = effects(lambda t, e: gpt2_forward(cfg, w, t, e), [[3, 17, 8, 41, 22, 9, 30, 12], [44, 2, 19, 7, 7, 33, 26, 1]],
                     layer, neuron, 0.0625, 0, wd[f"h.{layer}.mlp.c_proj.weight"][neuron], wd["ln_f.weight"], wd["wte.weight"], True,
                     cfg["layer_norm_epsilon"])
    with open(os.path.join(HERE, "ablation-gpt2-tiny.json"), "w") as f:
        json.dump(result, f)

    stories = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../../../../../shared/models/stories260K/stories260K.bin")
    cfg, w = read_llama2c(stories)
    layer, neuron = 2, 100
    result = effects(lambda t, e: llama2c_forward(cfg, w, t, e),
                     [[1, 403, 407, 261, 378, 283, 28, 425, 296, 352, 259, 13], [1, 75, 300, 480, 2, 33, 511, 3, 290, 263, 319, 406]],
                     layer, neuron, 0.03125, 1, w["w2"][layer][:, neuron], w["rms_final"], w["cls"], False, 1e-5)
    with open(os.path.join(HERE, "ablation-stories260K.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
