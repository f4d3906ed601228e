#!/usr/bin/python3
"""torch peer for bench/bench_resnet_ops.c: forward+backward of batch_norm2d (training,
eval) and the residual add at [128,16,28,28] float32, median of reps.
Usage: OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/peers/resnet_ops_peer.py THREADS [reps]
Prints CSV: impl,threads,op,fwdbwd_ms (and the RSS high-water mark one bn_train adds)."""
import resource, statistics, sys, time
import torch
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 21
torch.set_num_threads(threads)
torch.manual_seed(0)
x = torch.randn(128, 16, 28, 28, requires_grad=True)
y = torch.randn(128, 16, 28, 28, requires_grad=True)
w = torch.rand(16, requires_grad=True)
b = torch.randn(16, requires_grad=True)
rm, rv = torch.zeros(16), torch.ones(16)


def run(op):
    t0 = time.perf_counter()
    if op == "add":
        out = x + y
    else:
        out = F.batch_norm(x, rm, rv, w, b, training=op == "bn_train", momentum=0.1, eps=1e-5)
    out.backward(torch.ones_like(out))
    t = time.perf_counter() - t0
    x.grad = y.grad = w.grad = b.grad = None
    return t


def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


p0 = peak()
run("bn_train")
p1 = peak()
print("impl,threads,op,fwdbwd_ms")
for op in ("bn_train", "bn_eval", "add"):
    for _ in range(2):
        run(op)
    print(f"torch,{threads},{op},{statistics.median(run(op) for _ in range(reps)) * 1e3:.3f}")
print(f"torch,{threads},bn_train_peak_added_MiB,{p1 - p0:.1f}")
