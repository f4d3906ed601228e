#!/usr/bin/python3
"""torch peer for bench/bench_resnet_ops.c: forward+backward of batch_norm2d (training,
eval) and the residual add at [128,16,28,28] float32, layer_norm over the last dim (the
ln_* cases), and each pass of the convolutions
(fwd: conv2d with bias under no_grad; dx, dw: aten.convolution_backward with one output
asked for), median of reps.
Usage: OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/peers/resnet_ops_peer.py THREADS [reps]
Prints CSV: impl,threads,op,ms,gflops (and the RSS high-water mark one bn_train adds).
OPS=name,name,... runs only those rows ("conv" for all the convolution rows)."""
import os, resource, statistics, sys, time
import torch
import torch.nn.functional as F

# CLOCK=cpu: process CPU seconds; STAT=min: the fastest call (as bench_resnet_ops.c)
clock = time.process_time if os.environ.get("CLOCK") == "cpu" else time.perf_counter
stat = min if os.environ.get("STAT") == "min" else statistics.median
threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 21
torch.set_num_threads(threads)
torch.manual_seed(0)
x = torch.randn(128, 16, 28, 28, requires_grad=True)
y = torch.randn(128, 16, 28, 28, requires_grad=True)
w = torch.rand(16, requires_grad=True)
b = torch.randn(16, requires_grad=True)
rm, rv = torch.zeros(16), torch.ones(16)
only = [o for o in os.environ.get("OPS", "").split(",") if o]


def wanted(name):
    return not only or name in only


# name, rows, row length: bench_resnet_ops.c's ln_cases
LN_CASES = [("ln_gpt", 512, 64), ("ln_4k", 4096, 64), ("ln_large", 262144, 64),
            ("ln_wide", 8192, 1024)]


def ln_rows():
    for name, R, M in LN_CASES:
        if not wanted(name):
            continue
        lx = torch.randn(R, M, requires_grad=True)
        lw, lb = torch.rand(M, requires_grad=True), torch.randn(M, requires_grad=True)

        def once():
            t0 = clock()
            out = F.layer_norm(lx, (M,), lw, lb, 1e-5)
            out.backward(torch.ones_like(out))
            t = clock() - t0
            lx.grad = lw.grad = lb.grad = None
            return t
        for _ in range(2):
            once()
        print(f"torch,{threads},{name},{stat([once() for _ in range(reps)]) * 1e3:.3f},")


def run(op):
    t0 = clock()
    if op == "add":
        out = x + y
    else:
        out = F.batch_norm(x, rm, rv, w, b, training=op == "bn_train", momentum=0.1, eps=1e-5)
    out.backward(torch.ones_like(out))
    t = clock() - t0
    x.grad = y.grad = w.grad = b.grad = None
    return t


# name, C, H, O, K, stride, padding: bench_resnet_ops.c's conv_cases
CONV_CASES = [("resnet_stem_1x16_28", 1, 28, 16, 3, 1, 1), ("resnet_16x16_28", 16, 28, 16, 3, 1, 1),
              ("resnet_16x32_s2_28", 16, 28, 32, 3, 2, 1), ("resnet_32x32_14", 32, 14, 32, 3, 1, 1),
              ("resnet_1x1_16x32_s2", 16, 28, 32, 1, 2, 0), ("cnn_1x32_28", 1, 28, 32, 3, 1, 1),
              ("cnn_32x64_14", 32, 14, 64, 3, 1, 1)]


def conv_rows():
    for name, C, H, O, K, s, p in CONV_CASES:
        OH = (H + 2 * p - K) // s + 1
        cx, cw = torch.randn(128, C, H, H), torch.randn(O, C, K, K)
        cb, cg = torch.randn(O), torch.randn(128, O, OH, OH)
        flops = 2.0 * 128 * O * OH * OH * C * K * K

        def fwd():
            with torch.no_grad():
                F.conv2d(cx, cw, cb, stride=s, padding=p)

        def bwd(mask):
            torch.ops.aten.convolution_backward(cg, cx, cw, [O], [s, s], [p, p], [1, 1], False,
                                                [0, 0], 1, mask)
        for pas, fn in (("fwd", fwd), ("dx", lambda: bwd([True, False, False])),
                        ("dw", lambda: bwd([False, True, False]))):
            for _ in range(2):
                fn()
            ts = []
            for _ in range(reps):
                t0 = clock()
                fn()
                ts.append(clock() - t0)
            ms = stat(ts) * 1e3
            print(f"torch,{threads},conv_{name}_{pas},{ms:.3f},{flops / ms * 1e-6:.2f}")


def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


p0 = peak()
run("bn_train")
p1 = peak()
print("impl,threads,op,ms,gflops")
for op in ("bn_train", "bn_eval", "add"):
    if not wanted(op):
        continue
    for _ in range(2):
        run(op)
    print(f"torch,{threads},{op},{stat([run(op) for _ in range(reps)]) * 1e3:.3f},")
ln_rows()
if wanted("conv"):
    conv_rows()
print(f"torch,{threads},bn_train_peak_added_MiB,{p1 - p0:.1f},")
