#!/usr/bin/python3
"""PyTorch twin of examples/char_lstm.c: the same model (state_dict names equal), streams,
truncated BPTT and Adam. Usage: char_lstm.py INIT STEPS LOSSES, or char_lstm.py --bench STEPS
(torch's own init; /work/ZOO_BENCH.md)."""
import sys

import torch
from torch import nn

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from char_text import bench, bench_threads, load_text  # noqa: E402
sys.path.insert(0, __file__.rsplit("/", 1)[0] + "/../../tests/py")
from read_safetensors import read  # noqa: E402

EMB, HID, T, B = 64, 128, 32, 16


class CharLSTM(nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.emb = nn.Embedding(vocab, EMB)
        self.lstm = nn.LSTM(EMB, HID, 1, batch_first=True)
        self.head = nn.Linear(HID, vocab)

    def forward(self, x, state):
        out, state = self.lstm(self.emb(x), state)
        return self.head(out), state


def main():
    bench_steps = int(sys.argv[2]) if sys.argv[1] == "--bench" else 0
    if bench_steps:
        bench_threads()
        steps = bench_steps + 3
    else:
        init, steps, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
        torch.set_num_threads(1)
    data, vocab = load_text()
    m = CharLSTM(vocab)
    if not bench_steps:
        m.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in read(init).items()}, strict=True)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    seg = len(data) // B
    per = (seg - 1) // T
    losses = []
    state = None

    def step(k):
        nonlocal state
        if k % per == 0:
            state = (torch.zeros(1, B, HID), torch.zeros(1, B, HID))
        off = (k % per) * T
        x = torch.tensor([data[b * seg + off:b * seg + off + T] for b in range(B)])
        y = torch.tensor([data[b * seg + off + 1:b * seg + off + T + 1] for b in range(B)])
        logits, state = m(x, state)
        state = (state[0].detach(), state[1].detach())
        loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())

    if bench_steps:
        bench("char_lstm", bench_steps, per, step)
        return
    for k in range(steps):
        step(k)
    with open(out, "w") as f:
        f.write("".join("%.9g\n" % v for v in losses))

if __name__ == "__main__":
    main()
