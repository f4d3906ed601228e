#!/usr/bin/python3
"""Golden values for tests/test_vmath.c: x, f(x), f'(x) from torch autograd, float64 and
float32, for every ag vector-math function (with torch's default parameters and one
alternative set where the function has parameters). Seeded; deterministic.
Run from the repository root:  /usr/bin/python3 tests/golden/gen_vmath_golden.py
Writes tests/golden/vmath.txt: lines 'bits name a b x y dx' (a, b = ag_vm_params)."""
import math, os
import torch
import torch.nn.functional as F

torch.manual_seed(1234)
SELU = None

FNS = [  # name, torch function of (x, a, b), [(a, b) parameter sets]
    ("exp", lambda x, a, b: torch.exp(x), [(0, 0)]),
    ("log", lambda x, a, b: torch.log(x), [(0, 0)]),
    ("sqrt", lambda x, a, b: torch.sqrt(x), [(0, 0)]),
    ("sin", lambda x, a, b: torch.sin(x), [(0, 0)]),
    ("cos", lambda x, a, b: torch.cos(x), [(0, 0)]),
    ("abs", lambda x, a, b: torch.abs(x), [(0, 0)]),
    ("neg", lambda x, a, b: torch.neg(x), [(0, 0)]),
    ("tanh", lambda x, a, b: torch.tanh(x), [(0, 0)]),
    ("sigmoid", lambda x, a, b: torch.sigmoid(x), [(0, 0)]),
    ("relu", lambda x, a, b: F.relu(x), [(0, 0)]),
    ("leaky_relu", lambda x, a, b: F.leaky_relu(x, a), [(0.01, 0), (0.2, 0)]),
    ("elu", lambda x, a, b: F.elu(x, a), [(1.0, 0), (0.5, 0)]),
    ("selu", lambda x, a, b: F.selu(x), [(0, 0)]),
    ("softplus", lambda x, a, b: F.softplus(x, a, b), [(1.0, 20.0), (2.0, 10.0)]),
    ("gelu", lambda x, a, b: F.gelu(x), [(0, 0)]),
    ("gelu_tanh", lambda x, a, b: F.gelu(x, approximate="tanh"), [(0, 0)]),
    ("silu", lambda x, a, b: F.silu(x), [(0, 0)]),
    ("hardtanh", lambda x, a, b: F.hardtanh(x, a, b), [(-1.0, 1.0), (-2.0, 0.5)]),
    ("hardsigmoid", lambda x, a, b: F.hardsigmoid(x), [(0, 0)]),
    ("log1p", lambda x, a, b: torch.log1p(x), [(0, 0)]),
    ("expm1", lambda x, a, b: torch.expm1(x), [(0, 0)]),
]

EXTREMES = [1e4, -1e4, 1e3, -1e3, 88.0, -88.0, 30.0, -30.0, 20.0, -20.0, 10.0, -10.0,
            3.0, -3.0, 1.0, -1.0, 0.5, -0.5, 0.0, 1e-20, -1e-20, 1e-5, -1e-5, float("nan")]


def inputs(name, a, b):
    r = torch.randn(40, dtype=torch.float64) * 4
    r2 = (torch.rand(8, dtype=torch.float64) * 2 - 1) * 200
    xs = EXTREMES + r.tolist() + r2.tolist()
    if name in ("log", "sqrt"):
        xs += [abs(v) + 1e-3 for v in r.tolist()]
    if name == "log1p":
        xs += [abs(v) - 0.999 for v in r.tolist()]
    if name == "softplus":
        xs += [b / a, -b / a]
    if name == "hardtanh":
        xs += [a, b]
    return xs


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vmath.txt")
    lines = ["# bits name a b x f(x) f'(x) -- torch %s autograd, gen_vmath_golden.py"
             % torch.__version__]
    for name, fn, psets in FNS:
        for a, b in psets:
            xs = inputs(name, a, b)
            for bits, dt in ((64, torch.float64), (32, torch.float32)):
                x = torch.tensor(xs, dtype=dt, requires_grad=True)
                y = fn(x, a, b)
                y.backward(torch.ones_like(y))
                for xv, yv, gv in zip(x.detach().tolist(), y.detach().tolist(),
                                      x.grad.tolist()):
                    lines.append("%d %s %r %r %r %r %r" % (bits, name, float(a), float(b),
                                                           xv, yv, gv))
    with open(out, "w") as fp:
        fp.write("\n".join(lines) + "\n")
    print("wrote", out, len(lines) - 1, "lines")


if __name__ == "__main__":
    main()
