#!/usr/bin/python3
"""PyTorch twin of examples/resnet_fashion.c: the same ResNet (state_dict names equal), the
training images in order, batch 128, SGD lr 0.01 momentum 0.9 weight decay 5e-4 with a
cosine schedule stepped every batch (T_max = the number of steps).
Usage: resnet_fashion.py INIT STEPS LOSSES [--final FILE] [--f64]
         INIT: the weights resnet_fashion --init wrote; LOSSES: one loss per line written;
         --final FILE: compare the weights and running statistics after training with the
         ones resnet_fashion --final wrote (exit 1 when they differ: relative 1e-9 in
         float64, the running statistics included; 1e-3 in float32)
         --f64: train in float64 (resnet_fashion --f64 wrote INIT)
       resnet_fashion.py --bench STEPS     (bench/zoo_bench.sh; /work/ZOO_BENCH.md)
       resnet_fashion.py --epochs E        (a real run: test accuracy after each epoch)
       resnet_fashion.py --eval-rss [STEPS] (STEPS training batches, default 300, then how
         much one torch.no_grad() evaluation of 1,000 test images, model.eval(), one batch,
         raises the peak RSS: resnet_fashion --eval-rss's twin)"""
import gzip
import os
import resource
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, __file__.rsplit("/", 1)[0] + "/../../tests/py")
from read_safetensors import read  # noqa: E402

BATCH, LR, MOMENTUM, WEIGHT_DECAY = 128, 0.01, 0.9, 5e-4
DIR = os.environ.get("AG_FASHION_DIR", "/usr/share/datasets/fashion-mnist")


def conv3x3(cin, cout, stride):
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.residual = nn.Sequential(conv3x3(cin, cout, stride), nn.BatchNorm2d(cout), nn.ReLU(),
                                      conv3x3(cout, cout, 1), nn.BatchNorm2d(cout))
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = self.residual(x)
        return torch.relu(h + (self.shortcut(x) if self.shortcut is not None else x))


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(conv3x3(1, 16, 1), nn.BatchNorm2d(16), nn.ReLU())
        self.layers = nn.Sequential(BasicBlock(16, 16, 1), BasicBlock(16, 32, 2), BasicBlock(32, 32, 1))
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        h = self.layers(self.stem(x))
        return self.fc(nn.functional.adaptive_avg_pool2d(h, 1).flatten(1))


def load(split):
    """float32 images [N,1,28,28] in [0,1] (x.float() / 255, as ag's byte loader) and int64 labels of a split ("train" or "t10k")."""
    raw = gzip.open("%s/%s-images-idx3-ubyte.gz" % (DIR, split)).read()
    x = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 1, 28, 28)
    y = np.frombuffer(gzip.open("%s/%s-labels-idx1-ubyte.gz" % (DIR, split)).read(), dtype=np.uint8, offset=8)
    return torch.from_numpy(x.copy()).float() / 255, torch.from_numpy(y.astype(np.int64))


def make(t_max):
    m = ResNet()
    opt = torch.optim.SGD(m.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    return m, opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=t_max)


def step(m, opt, sched, xb, yb):
    loss = nn.functional.cross_entropy(m(xb), yb)
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
    return loss.item()


def batches(x, y):
    """the training set in order, batch after batch, wrapping around"""
    nb = (len(x) + BATCH - 1) // BATCH
    s = 0
    while True:
        b = s % nb
        yield x[b * BATCH:(b + 1) * BATCH], y[b * BATCH:(b + 1) * BATCH]
        s += 1


def compare_final(m, path, tol):
    ours, theirs = m.state_dict(), read(path)
    worst = 0.0
    for k, v in ours.items():
        a = torch.from_numpy(theirs[k].copy()).double()
        d = ((a - v.double()).abs().max() / max(v.double().abs().max().item(), 1.0)).item()
        worst = max(worst, d)
        if d > tol:
            print("resnet_fashion.py: %s differs after training: relative %.3g" % (k, d))
            return 1
    print("resnet_fashion.py: %d state_dict entries agree (worst relative difference %.3g)" % (len(ours), worst))
    return 0


def run_steps(init, steps, out, final, f64):
    x, y = load("train")
    if f64:
        torch.set_default_dtype(torch.float64)
        x = x.double()
    m, opt, sched = make(steps)
    m.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in read(init).items()}, strict=True)
    it = batches(x, y)
    losses = [step(m, opt, sched, *next(it)) for _ in range(steps)]
    with open(out, "w") as f:
        f.write("".join("%.9g\n" % v for v in losses))
    return compare_final(m, final, 1e-9 if f64 else 1e-3) if final else 0


def bench(steps):
    x, y = load("train")
    torch.manual_seed(1)
    nb = (len(x) + BATCH - 1) // BATCH
    m, opt, sched = make(nb)
    it = batches(x, y)
    ms = []
    for s in range(steps + 3):
        t0 = time.perf_counter()
        step(m, opt, sched, *next(it))
        if s >= 3:
            ms.append(1e3 * (time.perf_counter() - t0))
    med = statistics.median(ms)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("bench resnet_fashion: step_ms=%.3f steps_per_epoch=%d epoch_s=%.2f peak_rss_mib=%.1f" %
          (med, nb, med * nb / 1e3, rss))


def epochs(n):
    x, y = load("train")
    xt, yt = load("t10k")
    torch.manual_seed(1)
    nb = (len(x) + BATCH - 1) // BATCH
    m, opt, sched = make(n * nb)
    for e in range(n):
        t0, total = time.time(), 0.0
        m.train()
        perm = torch.randperm(len(x))
        for b in range(nb):
            i = perm[b * BATCH:(b + 1) * BATCH]
            total += step(m, opt, sched, x[i], y[i])
        m.eval()
        with torch.no_grad():
            correct = sum((m(xt[i:i + 1000]).argmax(1) == yt[i:i + 1000]).sum().item() for i in range(0, len(xt), 1000))
        print("epoch %d: train loss %.4f, test accuracy %.2f %%, %.1f s, peak RSS %.0f MiB" %
              (e + 1, total / nb, 100.0 * correct / len(xt), time.time() - t0,
               resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0))


def rss_mib():
    """The resident set now, from /proc/self/statm."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1024.0 * 1024.0)


def eval_rss(steps):
    x, y = load("train")
    xt, yt = load("t10k")
    torch.manual_seed(1)
    m, opt, sched = make(steps)
    for b in (i % ((len(x) + BATCH - 1) // BATCH) for i in range(steps)):
        step(m, opt, sched, x[b * BATCH:(b + 1) * BATCH], y[b * BATCH:(b + 1) * BATCH])
    xe, ye = xt[:1000].clone(), yt[:1000].clone()
    m.eval()
    before = rss_mib()
    peak0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    with torch.no_grad():
        out = m(xe)
        loss, acc = nn.functional.cross_entropy(out, ye).item(), (out.argmax(1) == ye).float().mean().item()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("eval of 1000 images: loss %.4f, accuracy %.1f %%; RSS before %.0f MiB (peak so far %.0f), "
          "peak after %.0f MiB: +%.0f MiB" % (loss, 100 * acc, before, peak0, peak, peak - before))


def main():
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    a = sys.argv[1:]
    if a[:1] == ["--bench"]:
        return bench(int(a[1]))
    if a[:1] == ["--eval-rss"]:
        return eval_rss(int(a[1]) if len(a) > 1 else 300)
    if a[:1] == ["--epochs"]:
        return epochs(int(a[1]))
    final = a[a.index("--final") + 1] if "--final" in a else None
    return run_steps(a[0], int(a[1]), a[2], final, "--f64" in a)


if __name__ == "__main__":
    sys.exit(main())
