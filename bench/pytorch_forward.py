#!/usr/bin/python3
"""PyTorch timing of the same GPT-2-small-shaped forward pass that `neuron-explainer bench` times.

Run with Debian's torch (OpenBLAS backend):  /usr/bin/python3 bench/pytorch_forward.py [--batch 8 32] [--iterations 5]
Random weights; 12 layers, d_model 768, d_mlp 3072, 12 heads, 64-token windows, no unembedding; the output of
the last block is the result. Prints median and best tokens/s per batch size, and raw sgemm GFLOP/s at the
forward's projection shapes, so the two programs can be compared side by side.
"""
import argparse
import math
import os
import statistics
import time

import torch
import torch.nn.functional as F

D, MLP, HEADS, VOCAB, CTX = 768, 3072, 12, 50257, 1024


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = torch.nn.LayerNorm(D)
        self.attn = torch.nn.Linear(D, 3 * D)
        self.proj = torch.nn.Linear(D, D)
        self.ln_2 = torch.nn.LayerNorm(D)
        self.fc = torch.nn.Linear(D, MLP)
        self.out = torch.nn.Linear(MLP, D)

    def forward(self, x, mask):
        b, s, _ = x.shape
        q, k, v = self.attn(self.ln_1(x)).split(D, -1)
        q, k, v = (t.view(b, s, HEADS, D // HEADS).transpose(1, 2) for t in (q, k, v))
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(D // HEADS)
        pattern = torch.softmax(scores.masked_fill(mask, float("-inf")), -1)
        x = x + self.proj((pattern @ v).transpose(1, 2).reshape(b, s, D))
        return x + self.out(F.gelu(self.fc(self.ln_2(x)), approximate="tanh"))


class Gpt2Shaped(torch.nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.wte = torch.nn.Embedding(VOCAB, D)
        self.wpe = torch.nn.Embedding(CTX, D)
        self.blocks = torch.nn.ModuleList(Block() for _ in range(layers))

    def forward(self, tokens):
        s = tokens.shape[1]
        mask = torch.triu(torch.ones(s, s, dtype=torch.bool), 1)
        x = self.wte(tokens) + self.wpe(torch.arange(s))
        for block in self.blocks:
            x = block(x, mask)
        return x


def raw_sgemm(m, n, k):
    a, w = torch.randn(m, k), torch.randn(n, k)
    a @ w.T
    best, start, i = float("inf"), time.perf_counter(), 0
    while i < 3 or time.perf_counter() - start < 0.3:
        t = time.perf_counter()
        a @ w.T
        best = min(best, time.perf_counter() - t)
        i += 1
    return 2 * m * n * k / best / 1e9


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="intra-op threads (Debian's build defaults to 1)")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    blas = next((f.strip() for f in torch.__config__.show().replace("\n", ",").split(",") if "BLAS_INFO" in f), "BLAS_INFO=?")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {blas} (Debian: the system libblas, i.e. OpenBLAS)")
    model = Gpt2Shaped(args.layers).eval()
    for batch in args.batch:
        m = batch * args.seq
        rates = [raw_sgemm(m, n, k) for n, k in ((3 * D, D), (D, D), (MLP, D), (D, MLP))]
        flops = [2 * m * n * k for n, k in ((3 * D, D), (D, D), (MLP, D), (D, MLP))]
        mix = sum(flops) / sum(f / r for f, r in zip(flops, rates))
        tokens = torch.randint(0, VOCAB, (batch, args.seq))
        with torch.no_grad():
            warm = time.perf_counter()
            while time.perf_counter() - warm < 1:
                model(tokens)
            times = []
            cpu = time.process_time()
            for _ in range(args.iterations):
                t = time.perf_counter()
                model(tokens)
                times.append(time.perf_counter() - t)
            cpu = (time.process_time() - cpu) / args.iterations
        print(f"batch {batch}: {m / statistics.median(times):.0f} tokens/s (median of {args.iterations}), best {m / min(times):.0f}, {m / cpu:.0f} tokens/CPU-s; "
              f"raw sgemm GFLOP/s " + " ".join(f"{r:.1f}" for r in rates) + f", layer mix {mix:.1f}")


if __name__ == "__main__":
    main()
