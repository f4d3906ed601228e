#!/usr/bin/python3
"""PyTorch peer of bench/bench_conv.c: forward+backward of the Fashion-MNIST CNN's conv and
pool layers, batch 128, float32: conv3x3(1->32)+maxpool2 (no ReLU: timed elsewhere) on 28x28 and conv3x3(32->64)+maxpool2
on the result (padding P: 0 as /work/shared/peers/cnn_fmnist.py, 1 as the 'pad1' variant).
Prints median milliseconds per layer over REPS runs.
CLOCK=cpu in the environment times process CPU seconds instead of wall seconds.
Usage: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_WAIT_POLICY=PASSIVE \
         /usr/bin/python3 bench/peers/conv_peer.py THREADS [PAD] [REPS]"""
import ctypes, os, statistics, sys, time
import torch
import torch.nn.functional as F

threads = int(sys.argv[1]); pad = int(sys.argv[2]) if len(sys.argv) > 2 else 0
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 30
torch.set_num_threads(threads)
try:
    ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(threads)
except OSError:
    pass
torch.manual_seed(0)
B = 128
clock = time.process_time if os.environ.get("CLOCK") == "cpu" else time.perf_counter


def layer(x, w, b, need_dx):
    x = x.detach().requires_grad_(need_dx)
    w = w.detach().requires_grad_(True); b = b.detach().requires_grad_(True)
    y = F.max_pool2d(F.conv2d(x, w, b, padding=pad), 2)
    y.backward(torch.ones_like(y))
    return y


def timeit(fn):
    for _ in range(3): fn()
    ts = []
    for _ in range(reps):
        t0 = clock(); fn(); ts.append(clock() - t0)
    return statistics.median(ts) * 1e3


x1 = torch.rand(B, 1, 28, 28); w1 = torch.randn(32, 1, 3, 3) * 0.3; b1 = torch.zeros(32)
h = 28 + 2 * pad - 2; h //= 2
x2 = torch.rand(B, 32, h, h); w2 = torch.randn(64, 32, 3, 3) * 0.05; b2 = torch.zeros(64)
t1 = timeit(lambda: layer(x1, w1, b1, False))
t2 = timeit(lambda: layer(x2, w2, b2, True))
with torch.no_grad():
    f1 = timeit(lambda: F.max_pool2d(F.conv2d(x1, w1, b1, padding=pad), 2))
    f2 = timeit(lambda: F.max_pool2d(F.conv2d(x2, w2, b2, padding=pad), 2))
print("impl,clock,threads,pad,layer1_fwd_ms,layer2_fwd_ms,layer1_fwdbwd_ms,layer2_fwdbwd_ms,total_fwdbwd_ms")
print(f"torch,{os.environ.get('CLOCK', 'wall')},{threads},{pad},{f1:.3f},{f2:.3f},{t1:.3f},{t2:.3f},{t1 + t2:.3f}")
