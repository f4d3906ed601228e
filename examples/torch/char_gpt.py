#!/usr/bin/python3
"""PyTorch twin of examples/char_gpt.c: the same GPT (state_dict names equal), the same
text, vocabulary and windows (examples/char_text.h), the same AdamW groups.
Usage: char_gpt.py INIT STEPS LOSSES  (INIT: the weights char_gpt --init wrote)
       char_gpt.py --bench STEPS         (torch's own init; /work/ZOO_BENCH.md)"""
import sys

import torch
from torch import nn

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from char_text import bench, bench_threads, load_text, windows  # noqa: E402
sys.path.insert(0, __file__.rsplit("/", 1)[0] + "/../../tests/py")
from read_safetensors import read  # noqa: E402

D, HEADS, BLOCKS, CTX, BATCH = 64, 4, 2, 32, 16


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(D)
        self.attn = nn.MultiheadAttention(D, HEADS, bias=True, batch_first=True)
        self.ln2 = nn.LayerNorm(D)
        self.fc = nn.Linear(D, 4 * D)
        self.proj = nn.Linear(4 * D, D)

    def forward(self, x):
        L = x.shape[1]
        mask = torch.triu(torch.ones(L, L, dtype=torch.bool), 1)
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.proj(torch.nn.functional.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.tok_emb = nn.Embedding(vocab, D)
        self.pos_emb = nn.Embedding(CTX, D)
        self.blocks = nn.Sequential(*[Block() for _ in range(BLOCKS)])
        self.ln_f = nn.LayerNorm(D)
        self.head = nn.Linear(D, vocab)

    def forward(self, idx):
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(idx.shape[1]))
        return self.head(self.ln_f(self.blocks(x)))


def main():
    bench_steps = int(sys.argv[2]) if sys.argv[1] == "--bench" else 0
    if bench_steps:
        bench_threads()
        steps = bench_steps + 3
    else:
        init, steps, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
        torch.set_num_threads(1)
    data, vocab = load_text()
    m = GPT(vocab)
    if not bench_steps:
        m.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in read(init).items()}, strict=True)
    decay = [p for p in m.parameters() if p.dim() >= 2]
    rest = [p for p in m.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                            lr=3e-3)
    x, y = windows(data, steps * BATCH, CTX)
    losses = []

    def step(s):
        xb, yb = x[s * BATCH:(s + 1) * BATCH], y[s * BATCH:(s + 1) * BATCH]
        logits = m(xb)
        loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), yb.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())

    if bench_steps:
        bench("char_gpt", bench_steps, len(data) // (BATCH * CTX), step)
        return
    for s in range(steps):
        step(s)
    with open(out, "w") as f:
        f.write("".join("%.9g\n" % v for v in losses))

if __name__ == "__main__":
    main()
