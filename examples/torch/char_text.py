"""The text, vocabulary and windows of examples/char_text.h, for the PyTorch twins, and
the --bench STEPS mode of /work/ZOO_BENCH.md (bench)."""
import os
import resource
import time

import torch

FILES = ["Apache-2.0", "GPL-3", "LGPL-3", "MPL-2.0"]


def load_text():
    raw = b"".join(open("/usr/share/common-licenses/" + f, "rb").read() for f in FILES)
    chars = sorted(set(raw))
    index = {c: i for i, c in enumerate(chars)}
    return [index[c] for c in raw], len(chars)


def windows(data, n, T):
    xs, ys = [], []
    for j in range(n):
        s = (j * 2654435761) % (len(data) - T - 1)
        xs.append(data[s:s + T])
        ys.append(data[s + 1:s + T + 1])
    return torch.tensor(xs, dtype=torch.int64), torch.tensor(ys, dtype=torch.int64)


def bench_threads():
    """The thread count the bench protocol asks for (OMP_NUM_THREADS, default 1)."""
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))


def bench(name, steps, steps_per_epoch, step):
    """3 warm-up calls of step(k), then `steps` timed ones; prints the protocol's one line."""
    ms = []
    for k in range(3 + steps):
        t0 = time.perf_counter()
        step(k)
        if k >= 3:
            ms.append((time.perf_counter() - t0) * 1e3)
    ms.sort()
    n = len(ms)
    med = ms[n // 2] if n % 2 else (ms[n // 2 - 1] + ms[n // 2]) / 2
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("bench %s: step_ms=%.3f steps_per_epoch=%d epoch_s=%.2f peak_rss_mib=%.1f"
          % (name, med, steps_per_epoch, med * steps_per_epoch / 1000.0, rss))
