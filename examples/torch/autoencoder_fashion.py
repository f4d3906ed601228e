#!/usr/bin/python3
"""PyTorch twin of examples/autoencoder_fashion.c (same Sequential, the first images in
order, batch 32, Adam 1e-3, MSE). Usage: autoencoder_fashion.py INIT STEPS LOSSES
       autoencoder_fashion.py --bench STEPS   (bench/ protocol: one line)"""
import gzip
import os
import resource
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, __file__.rsplit("/", 1)[0] + "/../../tests/py")
from read_safetensors import read  # noqa: E402

BATCH = 32


def load_images():
    raw = gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").read()
    imgs = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 1, 28, 28)
    return torch.from_numpy(imgs.copy()).float() / 255  # as ag's byte loader


def autoencoder():
    return nn.Sequential(nn.Conv2d(1, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
                         nn.ConvTranspose2d(32, 16, 3, 2, 1, 1), nn.ReLU(),
                         nn.ConvTranspose2d(16, 1, 3, 2, 1, 1), nn.Sigmoid())


def step(m, opt, xb):
    loss = nn.functional.mse_loss(m(xb), xb)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


def bench(steps):
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    torch.manual_seed(1)
    x = load_images()
    m = autoencoder()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    ms = []
    for s in range(3 + steps):
        t0 = time.perf_counter()
        step(m, opt, x[s * BATCH:(s + 1) * BATCH])
        if s >= 3:
            ms.append((time.perf_counter() - t0) * 1e3)
    med, per_epoch = float(np.median(ms)), x.shape[0] // BATCH
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("bench autoencoder_fashion: step_ms=%.3f steps_per_epoch=%d epoch_s=%.2f peak_rss_mib=%.1f" %
          (med, per_epoch, med * per_epoch / 1000, rss))


def main():
    if sys.argv[1] == "--bench":
        return bench(int(sys.argv[2]))
    init, steps, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    torch.set_num_threads(1)
    x = load_images()
    m = autoencoder()
    m.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in read(init).items()}, strict=True)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    losses = [step(m, opt, x[s * BATCH:(s + 1) * BATCH]) for s in range(steps)]
    with open(out, "w") as f:
        f.write("".join("%.9g\n" % v for v in losses))


if __name__ == "__main__":
    main()
