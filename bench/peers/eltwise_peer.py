#!/usr/bin/python3
"""torch peer for bench/bench_vmath.c: float32 forward and backward throughput of the ag
vector-math functions at 1M and 16M elements, torch at its best: each op is timed with a
fresh output (what autograd does) and with a preallocated one (out= / grad_input=) where
torch has it, and the faster is reported. Backward calls the ATen backward kernels that
autograd runs (sigmoid_backward, gelu_backward, ...), without graph overhead.
Input uniform in [-5,5) (log: [0.1,5)); seeded.
Usage: ATEN_CPU_CAPABILITY=avx512 OMP_WAIT_POLICY=PASSIVE [AG_BENCH_OPS=exp,add,...] \
         /usr/bin/python3 bench/peers/eltwise_peer.py THREADS [reps] [--cpu]
--cpu: with 1 thread, time in per-thread CPU time (time.thread_time), as bench_vmath --cpu.
Prints CSV: torch,cap,op,dir,n,threads,Gelem_s (median of reps)."""
import os, statistics, sys, time
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "..", "shared", "peers"))
sys.path.insert(0, "/work/shared/peers")
from torch_common import setup_threads, cpu_capability  # noqa: E402

A = torch.ops.aten
threads = setup_threads(sys.argv[1])
args = [a for a in sys.argv[2:] if a != "--cpu"]
reps = int(args[0]) if args else 7
clock = time.thread_time if "--cpu" in sys.argv and threads == "1" else time.perf_counter
only = [o for o in os.environ.get("AG_BENCH_OPS", "").split(",") if o]
cap = cpu_capability()
torch.manual_seed(0)

# name -> (forward alloc, forward out, backward alloc, backward out); args (x, y, g, o)
OPS = {
    "exp": (lambda x, y, g, o: torch.exp(x), lambda x, y, g, o: torch.exp(x, out=o),
            lambda x, y, g, o: g * y, lambda x, y, g, o: torch.mul(g, y, out=o)),
    "log": (lambda x, y, g, o: torch.log(x), lambda x, y, g, o: torch.log(x, out=o),
            lambda x, y, g, o: g / x, lambda x, y, g, o: torch.div(g, x, out=o)),
    "sin": (lambda x, y, g, o: torch.sin(x), lambda x, y, g, o: torch.sin(x, out=o),
            lambda x, y, g, o: g * x.cos(), None),
    "tanh": (lambda x, y, g, o: torch.tanh(x), lambda x, y, g, o: torch.tanh(x, out=o),
             lambda x, y, g, o: A.tanh_backward(g, y),
             lambda x, y, g, o: A.tanh_backward.grad_input(g, y, grad_input=o)),
    "sigmoid": (lambda x, y, g, o: torch.sigmoid(x), lambda x, y, g, o: torch.sigmoid(x, out=o),
                lambda x, y, g, o: A.sigmoid_backward(g, y),
                lambda x, y, g, o: A.sigmoid_backward.grad_input(g, y, grad_input=o)),
    "relu": (lambda x, y, g, o: torch.relu(x), lambda x, y, g, o: torch.clamp_min(x, 0.0, out=o),
             lambda x, y, g, o: A.threshold_backward(g, y, 0),
             lambda x, y, g, o: A.threshold_backward.grad_input(g, y, 0, grad_input=o)),
    "leaky_relu": (lambda x, y, g, o: F.leaky_relu(x, 0.01),
                   lambda x, y, g, o: A.leaky_relu.out(x, 0.01, out=o),
                   lambda x, y, g, o: A.leaky_relu_backward(g, x, 0.01, False),
                   lambda x, y, g, o: A.leaky_relu_backward.grad_input(g, x, 0.01, False,
                                                                       grad_input=o)),
    "elu": (lambda x, y, g, o: F.elu(x), lambda x, y, g, o: A.elu.out(x, out=o),
            lambda x, y, g, o: A.elu_backward(g, 1.0, 1, 1, False, x),
            lambda x, y, g, o: A.elu_backward.grad_input(g, 1.0, 1, 1, False, x, grad_input=o)),
    "softplus": (lambda x, y, g, o: F.softplus(x),
                 lambda x, y, g, o: A.softplus.out(x, 1, 20, out=o),
                 lambda x, y, g, o: A.softplus_backward(g, x, 1, 20),
                 lambda x, y, g, o: A.softplus_backward.grad_input(g, x, 1, 20, grad_input=o)),
    "gelu": (lambda x, y, g, o: F.gelu(x), lambda x, y, g, o: A.gelu.out(x, out=o),
             lambda x, y, g, o: A.gelu_backward(g, x),
             lambda x, y, g, o: A.gelu_backward.grad_input(g, x, grad_input=o)),
    "gelu_tanh": (lambda x, y, g, o: F.gelu(x, approximate="tanh"),
                  lambda x, y, g, o: A.gelu.out(x, approximate="tanh", out=o),
                  lambda x, y, g, o: A.gelu_backward(g, x, approximate="tanh"),
                  lambda x, y, g, o: A.gelu_backward.grad_input(g, x, approximate="tanh",
                                                                grad_input=o)),
    "silu": (lambda x, y, g, o: F.silu(x), lambda x, y, g, o: A.silu.out(x, out=o),
             lambda x, y, g, o: A.silu_backward(g, x),
             lambda x, y, g, o: A.silu_backward.grad_input(g, x, grad_input=o)),
    "hardsigmoid": (lambda x, y, g, o: F.hardsigmoid(x),
                    lambda x, y, g, o: A.hardsigmoid.out(x, out=o),
                    lambda x, y, g, o: A.hardsigmoid_backward(g, x), None),
}


def med_rate(f, n):
    f()
    calls = 1
    while True:
        t0 = clock()
        for _ in range(calls):
            f()
        dt = clock() - t0
        if dt > 0.02:
            break
        calls *= 2
    k = max(1, int(calls * 0.05 / dt))
    rates = []
    for _ in range(reps):
        t0 = clock()
        for _ in range(k):
            f()
        rates.append(n * k / (clock() - t0) / 1e9)
    return statistics.median(rates)


def best(fns, args, n):
    r = 0.0
    for f in fns:
        if f is None:
            continue
        try:
            r = max(r, med_rate(lambda: f(*args), n))
        except (RuntimeError, TypeError):
            pass
    return r


print("lib,cpu_capability,op,dir,n,threads,Gelem_s")
for n in (1 << 20, 1 << 24):
    x0 = torch.rand(n) * 10 - 5
    xl = torch.rand(n) * 4.9 + 0.1
    g = torch.rand(n) * 2 - 1
    o = torch.empty(n)
    for name, (fa, fo, ba, bo) in OPS.items():
        if only and name not in only:
            continue
        x = xl if name == "log" else x0
        y = fa(x, None, g, o)
        for d, fns in (("fwd", (fa, fo)), ("bwd", (ba, bo))):
            r = best(fns, (x, y, g, o), n)
            print(f"torch,{cap},{name},{d},{n},{threads},{r:.4f}", flush=True)
    if only and "add" not in only:
        continue
    x2 = torch.rand(n) * 10 - 5
    r = best((lambda: x0 + x2, lambda: torch.add(x0, x2, out=o)), (), n)
    print(f"torch,{cap},add,fwd,{n},{threads},{r:.4f}", flush=True)
