#!/usr/bin/python3
"""Writes tests/golden/core_golden.h: values and gradients of the core ops, and print
bodies, computed by PyTorch (torch 1.13). Run from the repo root:
    /usr/bin/python3 tests/golden/gen_core.py > tests/golden/core_golden.h
Gradients are d/d input of sum(out * w) with w = 1, 2, 3, ... over out's elements."""
import math
import torch
from torch._tensor_str import _tensor_str

torch.set_default_dtype(torch.float64)
nan, inf = float('nan'), float('inf')

def c_num(v):
    v = float(v)
    if math.isnan(v): return "NAN"
    if math.isinf(v): return "INFINITY" if v > 0 else "-INFINITY"
    return repr(v)

def c_arr(vals):
    return "(const double[]){" + ", ".join(c_num(v) for v in vals) + "}"

def c_shape(s):
    return "{" + ", ".join(str(x) for x in s) + "}" if len(s) else "{0}"

OPS = {
    'pow': lambda a, x: x.pow(a[0]),
    'sqrt': lambda a, x: x.sqrt(),
    'abs': lambda a, x: x.abs(),
    'sin': lambda a, x: x.sin(),
    'cos': lambda a, x: x.cos(),
    'sign': lambda a, x: x.sign(),
    'add_scalar': lambda a, x: x + a[0],
    'mul_scalar': lambda a, x: x * a[0],
    'maximum': lambda a, x, y: torch.maximum(x, y),
    'minimum': lambda a, x, y: torch.minimum(x, y),
    'clamp': lambda a, x: x.clamp(a[0], a[1]),
    'where': lambda a, c, x, y: torch.where(c != 0, x, y),
    'eq': lambda a, x, y: (x == y).to(x.dtype),
    'gt': lambda a, x, y: (x > y).to(x.dtype),
    'max_dim': lambda a, x: x.max(int(a[0]), keepdim=bool(a[1])).values,
    'argmax_dim': lambda a, x: x.argmax(int(a[0]), keepdim=bool(a[1])),
    'max': lambda a, x: x.max(),
    'logsumexp_dim': lambda a, x: x.logsumexp(int(a[0]), keepdim=bool(a[1])),
    'var_dim': lambda a, x: torch.var(x, int(a[0]), correction=int(a[2]), keepdim=bool(a[1])),
    'sum': lambda a, x: x.sum(),
    'mean': lambda a, x: x.mean(),
    'mean_dim': lambda a, x: x.mean(int(a[0]), keepdim=bool(a[1])),
}
NO_GRAD = {'eq', 'gt', 'argmax_dim'}

def case(op, args, *inputs, grad_mask=None):
    ts = [torch.tensor(v) if not isinstance(v, torch.Tensor) else v for v in inputs]
    mask = grad_mask or [op not in NO_GRAD] * len(ts)
    for t, m in zip(ts, mask):
        t.requires_grad_(m)
    out = OPS[op](list(args) + [0, 0, 0], *ts)
    grads = [None] * len(ts)
    if op not in NO_GRAD:
        w = torch.arange(1, out.numel() + 1, dtype=out.dtype).reshape(out.shape)
        need = [t for t, m in zip(ts, mask) if m]
        g = torch.autograd.grad((out * w).sum(), need)
        it = iter(g)
        grads = [next(it) if m else None for m in mask]
    a = list(args) + [0] * (3 - len(args))
    lines = [f'    {{"{op}", {{{", ".join(c_num(x) for x in a)}}}, {len(ts)},']
    lines.append('     {' + ", ".join(str(t.dim()) for t in ts) + '}, {' +
                 ", ".join(c_shape(list(t.shape)) for t in ts) + '},')
    lines.append('     {' + ", ".join(c_arr(t.detach().reshape(-1).tolist()) for t in ts) + '},')
    lines.append(f'     {out.dim()}, {c_shape(list(out.shape))}, {out.numel()}, '
                 f'{c_arr(out.detach().reshape(-1).tolist())},')
    lines.append('     {' + ", ".join("NULL" if g is None else c_arr(g.reshape(-1).tolist())
                                     for g in grads) + '}},')
    return "\n".join(lines)

def op_cases():
    xs = [-1.5, 0.0, 0.5, 1.5, 3.0]
    out = [case('pow', [e], xs) for e in [2.5, 0, 1, 2, 3, 0.5, -1, -2, -0.5]]
    out += [
        case('sqrt', [], [0.0, 0.25, 2.0, 9.0]),
        case('abs', [], [-2.0, 0.0, 1.5, -0.25]),
        case('sin', [], [-1.0, 0.0, 0.5, 3.0]),
        case('cos', [], [-1.0, 0.0, 0.5, 3.0]),
        case('sign', [], [-2.0, 0.0, 3.0, -0.5]),
        case('add_scalar', [2.5], [[1.0, -2.0], [0.5, 4.0]]),
        case('mul_scalar', [-3.0], [[1.0, -2.0], [0.5, 4.0]]),
        case('maximum', [], [1.0, 2.0, 3.0, 4.0], [1.0, 5.0, 3.0, 0.0]),   # ties split
        case('minimum', [], [1.0, 2.0, 3.0, 4.0], [1.0, 5.0, 3.0, 0.0]),
        case('maximum', [], [[1.0, 2.0, 3.0], [3.0, 0.0, -1.0]], [3.0, 0.0, 2.0]),  # broadcast
        case('minimum', [], [[1.0, 2.0, 3.0], [3.0, 0.0, -1.0]], [3.0, 0.0, 2.0]),
        case('clamp', [-1.0, 1.0], [-2.0, -1.0, 0.0, 0.5, 1.0, 2.0]),     # inclusive ends
        case('clamp', [1.0, -1.0], [-2.0, 0.0, 2.0]),                      # lo > hi: hi
        case('where', [], [[1.0, 0.0, 2.0], [0.0, -1.0, 0.0]], [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
             [10.0, 20.0, 30.0], grad_mask=[False, True, True]),
        case('eq', [], [1.0, 2.0, 3.0, nan], [1.0, 1.0, 4.0, nan]),
        case('gt', [], [[1.0, 2.0, 3.0]], [[1.0], [2.5]]),
    ]
    m = [[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 5.0, 5.0], [-1.0, -2.0, -1.0, -4.0]]
    out += [
        case('max_dim', [1, 0], m), case('max_dim', [0, 1], m), case('max_dim', [-1, 1], m),
        case('argmax_dim', [1, 0], m), case('argmax_dim', [0, 1], m),
        case('max', [], [[1.0, 3.0], [3.0, 2.0]]),          # ties share evenly
        case('max', [], m),
        case('logsumexp_dim', [1, 0], [[1.0, 2.0, 3.0], [1000.0, 1000.0, -inf]]),
        case('logsumexp_dim', [0, 1], [[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]]),
        case('var_dim', [1, 0, 1], m), case('var_dim', [0, 1, 0], m),
        case('sum', [], m), case('mean', [], m), case('mean_dim', [-2, 1], m),
    ]
    return out

def print_case(name, dtype, vals):
    t = torch.tensor(vals, dtype=dtype)
    return t, name

def print_cases():
    cs = [
        ("f64_2x2", torch.float64, torch.tensor([[1.0, 2.0], [3.0, 4.0]])),
        ("f64_frac", torch.float64, torch.tensor([[1.5, -2.25], [3.125, 4.0]])),
        ("f32_small", torch.float32, torch.tensor([1e-5, 1.0, 2.0])),
        ("f32_big_int", torch.float32, torch.tensor([1e9, 1.0, -3.0])),
        ("f64_nonfinite", torch.float64, torch.tensor([nan, inf, -inf, 0.0, 1.5])),
        ("f64_zeros", torch.float64, torch.tensor([0.0, -0.0, 0.0])),
        ("i64", torch.int64, torch.tensor([[1, -20, 300], [4, 5, 6]])),
        ("f64_scalar", torch.float64, torch.tensor(3.5)),
        ("f64_3d", torch.float64, torch.arange(24.0).reshape(2, 3, 4) / 7),
        ("f64_long_row", torch.float64, torch.arange(30.0) * 1.25),

        ("f64_sci", torch.float64, torch.tensor([[1e-8, 2.5e3], [-3.0, 1e10]])),
    ]
    big = [  # data NULL in C: element i is i / div in the dtype
        ("f32_summarized", torch.float32, (torch.arange(2000.0, dtype=torch.float32) / 3).reshape(40, 50), 3),
        ("i64_summarized", torch.int64, torch.arange(1200), 1),
        ("f64_summarized_3d", torch.float64, (torch.arange(1400.0) / 7).reshape(2, 7, 100), 7),
    ]
    lines = []
    for name, dtype, t, div in [c + (0,) for c in cs] + big:
        t = t.to(dtype)
        body = "tensor(" + _tensor_str(t, 7)
        vals = t.reshape(-1).tolist()
        dt = {torch.float32: "AG_F32", torch.float64: "AG_F64", torch.int64: "AG_I64"}[dtype]
        esc = body.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        lines.append(f'    {{"{name}", {dt}, {t.dim()}, {c_shape(list(t.shape))}, {t.numel()}, '
                     f'{c_arr(vals) if not div else "NULL"}, {div},\n     "{esc}"}},')
    return lines

print("/* Generated by tests/golden/gen_core.py from torch " + torch.__version__ +
      "; do not edit. */")
print("#ifndef CORE_GOLDEN_H\n#define CORE_GOLDEN_H\n#include <ag.h>\n#include <math.h>\n#include <stdint.h>\n")
print("struct golden_op {\n    const char *op;\n    double arg[3];\n    int nin;\n"
      "    int ndim[3];\n    int64_t shape[3][4];\n    const double *in[3];\n"
      "    int out_ndim;\n    int64_t out_shape[4];\n    int64_t nout;\n    const double *out;\n"
      "    const double *grad[3];   /* NULL: no gradient */\n};\n")
print("static const struct golden_op golden_ops[] = {")
print("\n".join(op_cases()))
print("};\n")
print("struct golden_print {\n    const char *name;\n    int dtype;\n    int ndim;\n"
      "    int64_t shape[4];\n    int64_t n;\n    const double *data;   /* NULL: element i is i / div */\n    int div;\n"
      "    const char *body;   /* torch's repr up to the suffixes */\n};\n")
print("static const struct golden_print golden_prints[] = {")
print("\n".join(print_cases()))
print("};\n#endif")
