#!/usr/bin/python3
"""PyTorch twin of examples/dcgan_fashion.c: the same G and D (state_dict names G.* and D.*
under one root), the batches in order, the same counter-based noise (splitmix64 of the
element index, Box-Muller in float64), BCE-with-logits, two Adam (2e-4, betas 0.5/0.999).
Usage: dcgan_fashion.py INIT STEPS LOSSES [--f64]   (losses: D + G per step, one per line;
       --f64: every tensor in float64, as dcgan_fashion --f64)
       dcgan_fashion.py --bench STEPS       (bench/ protocol: one line)"""
import gzip
import os
import resource
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, __file__.rsplit("/", 1)[0] + "/../../tests/py")
from read_safetensors import read  # noqa: E402

BATCH, NZ = 64, 100
DTYPE = torch.float32


def mix(i):
    """splitmix64 of uint64 indices (wrapping arithmetic, as the C side)."""
    with np.errstate(over="ignore"):
        z = (i + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def noise(stream, first, n):
    """n normals of stream at element first (even), float32, as noise() in the C file."""
    i = (np.uint64(stream) << np.uint64(56)) | (np.uint64(first) + np.arange(0, n, 2, dtype=np.uint64))
    u1 = ((mix(i) >> np.uint64(11)).astype(np.float64) + 1) / 9007199254740992.0
    u2 = (mix(i + np.uint64(1)) >> np.uint64(11)).astype(np.float64) / 9007199254740992.0
    r = np.sqrt(-2 * np.log(u1))
    out = np.empty(n, dtype=np.float64)
    out[0::2] = r * np.cos(2 * np.pi * u2)
    out[1::2] = r * np.sin(2 * np.pi * u2)
    return torch.from_numpy(out if DTYPE == torch.float64 else out.astype(np.float32))


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(NZ, 128 * 7 * 7)
        self.net = nn.Sequential(nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64),
                                 nn.ReLU(), nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())

    def forward(self, z):
        return self.net(torch.relu(self.fc(z)).view(-1, 128, 7, 7))


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 64, 4, 2, 1)
        self.conv2 = nn.Conv2d(64, 128, 4, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(128)
        self.fc = nn.Linear(128 * 7 * 7, 1)

    def forward(self, x):
        h = F.leaky_relu(self.conv1(x), 0.2)
        h = F.leaky_relu(self.bn2(self.conv2(h)), 0.2)
        return self.fc(h.reshape(-1, 128 * 7 * 7))


class DCGAN(nn.Module):
    def __init__(self):
        super().__init__()
        self.G, self.D = Generator(), Discriminator()


def dcgan_init(m):
    for name, p in m.named_parameters():
        if name.endswith("weight"):
            nn.init.normal_(p, 1.0 if ".bn" in name or "net.1." in name else 0.0, 0.02)


def load_images():
    raw = gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").read()
    imgs = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 1, 28, 28)
    if DTYPE == torch.float64:
        return torch.from_numpy(imgs.astype(np.float64) * (1 / 255.0)) * 2 - 1
    return torch.from_numpy(imgs.astype(np.float32) * np.float32(1 / 255.0)) * 2 - 1


def step(m, opt_g, opt_d, real, s):
    z = noise(0, s * BATCH * NZ, BATCH * NZ).view(BATCH, NZ)
    ones, zeros = torch.ones(BATCH, 1, dtype=DTYPE), torch.zeros(BATCH, 1, dtype=DTYPE)
    fake = m.G(z)
    d_loss = (F.binary_cross_entropy_with_logits(m.D(real), ones) +
              F.binary_cross_entropy_with_logits(m.D(fake.detach()), zeros))
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    g_loss = F.binary_cross_entropy_with_logits(m.D(fake), ones)
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    return d_loss.item() + g_loss.item()


def optimizers(m):
    return (torch.optim.Adam(m.G.parameters(), lr=2e-4, betas=(0.5, 0.999)),
            torch.optim.Adam(m.D.parameters(), lr=2e-4, betas=(0.5, 0.999)))


def bench(steps):
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    torch.manual_seed(1)
    x = load_images()
    per_epoch = x.shape[0] // BATCH
    m = DCGAN()
    dcgan_init(m)
    opt_g, opt_d = optimizers(m)
    ms = []
    for i in range(3 + steps):
        b = i % per_epoch
        t0 = time.perf_counter()
        step(m, opt_g, opt_d, x[b * BATCH:(b + 1) * BATCH], i)
        if i >= 3:
            ms.append((time.perf_counter() - t0) * 1e3)
    med = float(np.median(ms))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("bench dcgan_fashion: step_ms=%.3f steps_per_epoch=%d epoch_s=%.2f peak_rss_mib=%.1f" %
          (med, per_epoch, med * per_epoch / 1000, rss))


def main():
    global DTYPE
    if sys.argv[1] == "--bench":
        return bench(int(sys.argv[2]))
    init, steps, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if "--f64" in sys.argv[4:]:
        DTYPE = torch.float64
    torch.set_num_threads(1)
    x = load_images()
    per_epoch = x.shape[0] // BATCH
    m = DCGAN().to(DTYPE)
    m.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in read(init).items()}, strict=True)
    opt_g, opt_d = optimizers(m)
    losses = []
    for s in range(steps):
        b = s % per_epoch
        losses.append(step(m, opt_g, opt_d, x[b * BATCH:(b + 1) * BATCH], s))
    with open(out, "w") as f:
        f.write("".join("%.9g\n" % v for v in losses))


if __name__ == "__main__":
    main()
