#!/usr/bin/python3
"""PyTorch peer of `make bench`'s op table: times the torch equivalent of each of our ops.

Usage: /usr/bin/python3 optable_torch.py THREADS JOBS.csv QUICK
JOBS.csv lines: op,dir,shapes,lo,hi  (shapes: "1048576;1048576", "0d" for a scalar).
Prints op,dir,shapes,seconds for the ops it knows (others are left out), timed like
ag_bench_time: one warm-up, samples of about 0.2 ms, the median over at least 3-5 samples
lasting at least 0.01-0.1 s. Forward runs under no_grad; backward is y.backward(ones,
retain_graph=True) into the leaves' .grad, as ours. Float32, inputs U[lo, hi]."""
import os, statistics, sys, time
sys.path.insert(0, "/work/shared/peers")
import torch
import torch.nn.functional as F
try:
    from torch_common import setup_threads
except ImportError:                      # the shared peers are optional
    def setup_threads(arg):
        torch.set_num_threads(int(arg))
        return str(arg)

OPS = {  # our op name -> torch function of the input list
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "neg": torch.neg, "exp": torch.exp, "log": torch.log,
    "sqrt": torch.sqrt, "abs": torch.abs, "sin": torch.sin, "cos": torch.cos,
    "tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu, "selu": F.selu,
    "silu": F.silu, "gelu": F.gelu, "softplus": F.softplus, "elu": F.elu,
    "log1p": torch.log1p, "expm1": torch.expm1, "maximum": torch.maximum,
    "minimum": torch.minimum, "sum": torch.sum, "mean": torch.mean, "max": torch.max,
    "contiguous": torch.clone,   # our op-table contiguous always copies: compare a copy
    "clone": torch.clone,
    "softmax": lambda a: torch.softmax(a, -1), "log_softmax": lambda a: F.log_softmax(a, -1),
    "matmul": torch.matmul, "hardsigmoid": F.hardsigmoid, "hardtanh": F.hardtanh,
}


def bench(fn, min_reps, min_seconds):
    t0 = time.perf_counter(); fn(); first = time.perf_counter() - t0
    calls = 1 if first >= 2e-4 else max(1, int(2e-4 / max(first, 1e-9)))
    times, start = [], time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - t0) / calls)
    return statistics.median(times)


def main():
    threads = setup_threads(sys.argv[1])
    quick = len(sys.argv) > 3 and sys.argv[3] == "1"
    reps, secs = (3, 0.005) if quick else (5, 0.1)
    for line in open(sys.argv[2]):
        op, d, shapes, lo, hi = line.strip().split(",")
        if op not in OPS:
            continue
        lo, hi = float(lo), float(hi)
        ins = []
        for s in shapes.split(";"):
            shape = () if s == "0d" else tuple(int(v) for v in s.split("x"))
            ins.append((torch.rand(shape) * (hi - lo) + lo).requires_grad_(True))
        f = OPS[op]
        try:
            if d == "fwd":
                def run():
                    with torch.no_grad():
                        f(*ins)
            else:
                y = f(*ins)
                g = torch.ones_like(y)
                def run():
                    y.backward(g, retain_graph=True)
            t = bench(run, reps, secs)
        except Exception as e:  # an op whose shapes torch reads differently: no peer
            print(f"# {op} {d}: {e}", file=sys.stderr)
            continue
        print(f"{op},{d},{shapes},{t:.9g}", flush=True)


main()
