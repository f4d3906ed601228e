#!/usr/bin/python3
"""Public element-wise ops, ours (build/bench_vmath_ops) vs torch, interleaved.
Usage (repository root, after `make build/bench_vmath_ops`):
    /usr/bin/python3 bench/peers/vmath_ops_cmp.py [rounds=3] [ops=exp,tanh,...]
Each round runs ours then torch, 1 thread (per-thread CPU time) and 2 threads (wall), one
process per thread count; the table gives the median over rounds of G elem/s and ours/torch.
Run as `vmath_ops_cmp.py peer THREADS REPS OPS` it is the torch side: the same ops, inputs
and timing as bench_vmath_ops.c (fwd: op(x) under no_grad; bwd: autograd.grad(y, x, g,
retain_graph=True)); CSV lines torch,op,dir,n,threads,Gelem_s."""
import os, statistics, subprocess, sys, time

OPS = "exp,tanh,sigmoid,gelu,softplus,relu,add,softmax,log_softmax"


def peer(threads, reps, ops):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    clock = time.thread_time if threads == 1 else time.perf_counter
    fns = {"exp": torch.exp, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "gelu": F.gelu,
           "softplus": F.softplus, "relu": torch.relu, "add": None,
           "softmax": lambda x: torch.softmax(x, 1),
           "log_softmax": lambda x: torch.log_softmax(x, 1)}

    def rate(f, n):
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
        k = int(calls * 0.05 / dt) + 1
        r = []
        for _ in range(reps):
            t0 = clock()
            for _ in range(k):
                f()
            r.append(n * k / (clock() - t0) / 1e9)
        return statistics.median(r)

    print("lib,op,dir,n,threads,Gelem_s")
    for n in (1 << 20, 1 << 24):
        x = (torch.rand(n // 1024, 1024) * 10 - 5).requires_grad_()
        x2 = torch.rand(n // 1024, 1024).requires_grad_()
        g = torch.rand(n // 1024, 1024)
        for op in ops.split(","):
            f = fns[op]
            ap = (lambda: x + x2) if op == "add" else (lambda: f(x))
            with torch.no_grad():
                r = rate(ap, n)
            print(f"torch,{op},fwd,{n},{threads},{r:.4f}", flush=True)
            y = ap()
            ins = (x, x2) if op == "add" else (x,)
            r = rate(lambda: torch.autograd.grad(y, ins, g, retain_graph=True), n)
            print(f"torch,{op},bwd,{n},{threads},{r:.4f}", flush=True)


def run(cmd, env):
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    res = {}
    for line in out.splitlines():
        f = line.split(",")
        if len(f) == 6 and f[0] in ("ours", "torch"):
            res[(f[1], f[2], int(f[3]), int(f[4]))] = float(f[5])
    return res


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    ops = sys.argv[2] if len(sys.argv) > 2 else OPS
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", ATEN_CPU_CAPABILITY="avx512")
    ours, torch_ = {}, {}
    for _ in range(rounds):
        for t in (1, 2):
            for k, v in run(["build/bench_vmath_ops", str(t), "5", "--cpu", "--ops", ops],
                            env).items():
                ours.setdefault(k, []).append(v)
            for k, v in run([sys.executable, __file__, "peer", str(t), "5", ops], env).items():
                torch_.setdefault(k, []).append(v)
    print(f"{'op':<12} {'dir':<3} {'n':>9} {'T':>2} {'ours':>8} {'torch':>8} {'ratio':>6}")
    for k in sorted(ours, key=lambda k: (k[2], k[3], ops.split(",").index(k[0]), k[1] == "bwd")):
        o = statistics.median(ours[k])
        t = statistics.median(torch_.get(k, [0]))
        print(f"{k[0]:<12} {k[1]:<3} {k[2]:>9} {k[3]:>2} {o:8.3f} {t:8.3f} "
              f"{o / t if t else 0:6.2f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "peer":
        peer(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        main()
