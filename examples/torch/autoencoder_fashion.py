#!/usr/bin/python3
"""PyTorch twin of examples/autoencoder_fashion.c (same Sequential, the first images in
order, batch 32, Adam 1e-3, MSE). Usage: autoencoder_fashion.py INIT STEPS LOSSES"""
import gzip
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, __file__.rsplit("/", 1)[0] + "/../../tests/py")
from read_safetensors import read  # noqa: E402

BATCH = 32


def main():
    init, steps, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    torch.set_num_threads(1)
    raw = gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").read()
    imgs = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 1, 28, 28)
    x = torch.from_numpy(imgs[:steps * BATCH].astype(np.float32) * np.float32(1 / 255.0))
    m = nn.Sequential(nn.Conv2d(1, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
                      nn.ConvTranspose2d(32, 16, 3, 2, 1, 1), nn.ReLU(), nn.ConvTranspose2d(16, 1, 3, 2, 1, 1),
                      nn.Sigmoid())
    m.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in read(init).items()}, strict=True)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    losses = []
    for s in range(steps):
        xb = x[s * BATCH:(s + 1) * BATCH]
        loss = nn.functional.mse_loss(m(xb), xb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with open(out, "w") as f:
        f.write("".join("%.9g\n" % v for v in losses))


if __name__ == "__main__":
    main()
