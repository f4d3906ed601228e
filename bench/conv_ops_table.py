#!/usr/bin/python3
"""Side-by-side table of bench/bench_resnet_ops.c (ag) and bench/peers/resnet_ops_peer.py
(torch): each convolution pass (fwd, dx, dw) and the batch-norm / add rows, at 1 and 2
threads, alternating ag and torch runs for ROUNDS rounds and taking the median of their
medians.  Writes bench/results/conv_ops.md (or the path given).
Usage (repository root, after `make build/bench_resnet_ops`):
  [OPS=op,op,...] /usr/bin/python3 bench/conv_ops_table.py [ROUNDS] [REPS] [OUT.md]
OPS (see bench_resnet_ops.c) limits both sides to those rows."""
import os, statistics, subprocess, sys, time

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
reps = sys.argv[2] if len(sys.argv) > 2 else "7"
out = sys.argv[3] if len(sys.argv) > 3 else "bench/results/conv_ops.md"


def run(cmd, threads):
    # 1 thread: process CPU time (immune to waiting for a core); 2 threads: wall time,
    # the fastest call (the least disturbed by other jobs)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_WAIT_POLICY="PASSIVE",
               CLOCK="cpu" if threads == 1 else "wall", STAT="median" if threads == 1 else "min")
    env.pop("OPENBLAS_CORETYPE", None), env.pop("OPENBLAS_L2_SIZE", None)
    rows = {}
    for line in subprocess.run(cmd, env=env, check=True, capture_output=True,
                               text=True).stdout.splitlines()[1:]:
        f = line.split(",")
        rows[f[2]] = (float(f[3]), float(f[4]) if len(f) > 4 and f[4] else None)
    return rows


res = {}  # (impl, threads, op) -> [ms...], gflops per op from the flop count
loads = []
for t in (1, 2):
    for r in range(rounds):
        loads.append(os.getloadavg()[0])
        for impl, cmd in (("ag", ["build/bench_resnet_ops", reps]),
                          ("torch", ["/usr/bin/python3", "bench/peers/resnet_ops_peer.py",
                                     str(t), reps])):
            for op, (ms, gf) in run(cmd, t).items():
                res.setdefault((impl, t, op), []).append((ms, gf))

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
           "unknown")
ops = [op for (impl, t, op) in res if impl == "ag" and t == 1]
lines = [
    ("# Convolution and batch-norm ops: ag vs PyTorch (issue 12)" if not os.environ.get("OPS")
     else f"# {os.environ['OPS'].replace(',', ', ')}: ag vs PyTorch (issues 9, 12)"), "",
    f"CPU: {cpu}, {os.cpu_count()} logical CPUs. PyTorch {__import__('torch').__version__}.",
    f"Command: `make build/bench_resnet_ops && "
    f"{'OPS=' + os.environ['OPS'] + ' ' if os.environ.get('OPS') else ''}"
    f"/usr/bin/python3 bench/conv_ops_table.py "
    f"{rounds} {reps}{' ' + out if len(sys.argv) > 3 else ''}` "
    f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}).",
    "Each cell: median over rounds of, at 1 thread, the median process CPU time of REPS "
    "calls, at 2 threads the fastest wall time of REPS calls; ag and torch runs "
    "alternate in one script. **The machine was shared** with other jobs (1-minute load "
    f"average {min(loads):.1f}-{max(loads):.1f} during the runs), so single numbers are noisy "
    "by tens of percent.", "",
    "Passes, float32, batch 128: `fwd` conv2d with bias (no grad recorded); `dx` the input "
    "gradient, `dw` the weight gradient (torch: `aten.convolution_backward` with one output); "
    "`bn_*`, `add`, `ln_*` (layer_norm, bench_resnet_ops.c's ln_cases): forward+backward, "
    "the leaves' gradients reset between calls (ag: ag_zero_grad; torch: None). ratio = ag / torch (< 1: ag faster). GFLOP/s = "
    "2 x N x O x OH x OW x C x KH x KW / time.", "",
    "| op | pass | threads | ag ms | torch ms | ratio | ag GFLOP/s | torch GFLOP/s |",
    "|---|---|---|---|---|---|---|---|"]
for op in ops:
    if op.endswith("_MiB"):
        continue
    name, pas = (op[5:].rsplit("_", 1) if op.startswith("conv_") else (op, "fwd+bwd"))
    for t in (1, 2):
        a, b = res.get(("ag", t, op)), res.get(("torch", t, op))
        if not a or not b:
            continue
        am, bm = statistics.median(x[0] for x in a), statistics.median(x[0] for x in b)
        ag_gf = f"{a[0][1] * a[0][0] / am:.1f}" if a[0][1] else ""
        tg_gf = f"{b[0][1] * b[0][0] / bm:.1f}" if b[0][1] else ""
        lines.append(f"| {name} | {pas} | {t} | {am:.2f} | {bm:.2f} | {am / bm:.2f} | {ag_gf} | {tg_gf} |")
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
