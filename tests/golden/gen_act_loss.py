#!/usr/bin/python3
"""Writes tests/golden/act_loss.txt: forward values and gradients of every activation and
loss from torch (1.13), in float64 and float32, on fixed inputs that include large
magnitudes (|x| up to 1e4) and avoid the kinks. Run: /usr/bin/python3 tests/golden/gen_act_loss.py

Format, one record per line, whitespace separated:
  case NAME DTYPE P1 P2 NIN          a test case: function NAME with parameters P1 P2
  in K KIND NDIM S... N v...          input K: KIND f (float, requires grad) / i (int64 labels)
  w N v...                            weights: L = sum(out * w)
  out NDIM S... N v...                the function's output
  grad K N v...                       dL/d(input K) (only for inputs torch differentiates)
  end
"""
import os
import torch
import torch.nn.functional as F

torch.manual_seed(0)
HERE = os.path.dirname(os.path.abspath(__file__))

# 16 points: big magnitudes, thresholds' neighbourhoods, away from every kink.
XS = [-1e4, -1e3, -50.0, -20.5, -5.0, -1.3, -0.7, -0.1,
      0.15, 0.6, 1.4, 4.5, 19.5, 21.0, 750.0, 1e4]
RED = {"mean": 0, "sum": 1, "none": 2}

out_lines = []


def fmt(v):
    return repr(float(v))


def emit_case(name, dtype, p1, p2, inputs, fn, grad_mask):
    """inputs: list of tensors (float ones get requires_grad where grad_mask says)."""
    ins = []
    for t, g in zip(inputs, grad_mask):
        t = t.detach().clone()
        if t.is_floating_point():
            t = t.to(dtype)
            t.requires_grad_(g)
        ins.append(t)
    y = fn(*ins)
    w = torch.tensor([0.5 + 0.25 * (i % 7) for i in range(y.numel())], dtype=y.dtype).reshape(y.shape)
    L = (y * w).sum()
    wanted = [t for t in ins if t.requires_grad]
    grads = torch.autograd.grad(L, wanted, allow_unused=True) if wanted else []
    dname = "f64" if dtype == torch.float64 else "f32"
    out_lines.append(f"case {name} {dname} {fmt(p1)} {fmt(p2)} {len(ins)}")
    for k, t in enumerate(ins):
        kind = "f" if t.is_floating_point() else "i"
        vals = " ".join(fmt(v) if kind == "f" else str(int(v)) for v in t.detach().reshape(-1).tolist())
        shape = " ".join(str(s) for s in t.shape)
        out_lines.append(f"in {k} {kind} {t.dim()} {shape} {t.numel()} {vals}")
    out_lines.append(f"w {w.numel()} " + " ".join(fmt(v) for v in w.reshape(-1).tolist()))
    shape = " ".join(str(s) for s in y.shape)
    out_lines.append(f"out {y.dim()} {shape} {y.numel()} " +
                     " ".join(fmt(v) for v in y.detach().reshape(-1).tolist()))
    gi = 0
    for k, t in enumerate(ins):
        if t.requires_grad:
            g = grads[gi]
            gi += 1
            if g is None:
                g = torch.zeros_like(t)
            out_lines.append(f"grad {k} {g.numel()} " + " ".join(fmt(v) for v in g.reshape(-1).tolist()))
    out_lines.append("end")


def x2d():
    return torch.tensor(XS, dtype=torch.float64).reshape(2, 8)


ACTS = [
    ("sigmoid", 0, 0, torch.sigmoid),
    ("tanh", 0, 0, torch.tanh),
    ("relu", 0, 0, F.relu),
    ("selu", 0, 0, F.selu),
    ("softplus", 0, 0, F.softplus),
    ("softplus_ex", 2.0, 5.0, lambda x: F.softplus(x, beta=2.0, threshold=5.0)),
    ("gelu", 0, 0, F.gelu),
    ("gelu_tanh", 0, 0, lambda x: F.gelu(x, approximate="tanh")),
    ("silu", 0, 0, F.silu),
    ("leaky_relu", 0.05, 0, lambda x: F.leaky_relu(x, 0.05)),
    ("elu", 1.3, 0, lambda x: F.elu(x, 1.3)),
    ("hardtanh", -0.5, 2.0, lambda x: F.hardtanh(x, -0.5, 2.0)),
    ("hardsigmoid", 0, 0, F.hardsigmoid),
]

for dtype in (torch.float64, torch.float32):
    for name, p1, p2, fn in ACTS:
        emit_case(name, dtype, p1, p2, [x2d()], fn, [True])
    # softmax / log_softmax over several dims, with large logits
    x3 = torch.tensor(XS[:12], dtype=torch.float64).reshape(2, 3, 2) / 10
    xb = x2d()
    for dim in (1, -1, 0):
        emit_case("softmax", dtype, dim, 0, [xb], lambda x, d=dim: F.softmax(x, d), [True])
        emit_case("log_softmax", dtype, dim, 0, [xb], lambda x, d=dim: F.log_softmax(x, d), [True])
    emit_case("softmax", dtype, 1, 0, [x3], lambda x: F.softmax(x, 1), [True])
    emit_case("log_softmax", dtype, -2, 0, [x3], lambda x: F.log_softmax(x, -2), [True])
    # prelu: one weight per channel on dim 1, and a single weight
    xp = torch.tensor(XS, dtype=torch.float64).reshape(2, 4, 2)
    emit_case("prelu", dtype, 0, 0, [xp, torch.tensor([0.1, 0.25, -0.3, 0.6], dtype=torch.float64)],
              F.prelu, [True, True])
    emit_case("prelu", dtype, 0, 0, [xb, torch.tensor([0.2], dtype=torch.float64)], F.prelu, [True, True])

    # ---- losses
    a = torch.tensor([0.3, -1.2, 2.5, 1e4, -7.0, 0.05, 3.3, -0.4], dtype=torch.float64).reshape(2, 4)
    b = torch.tensor([0.1, 0.4, -1.5, 9.9e3, -6.2, 1.0, 3.0, 0.9], dtype=torch.float64).reshape(2, 4)
    for red, r in RED.items():
        emit_case("mse", dtype, 0, r, [a, b], lambda p, t, red=red: F.mse_loss(p, t, reduction=red), [True, True])
        emit_case("l1", dtype, 0, r, [a, b], lambda p, t, red=red: F.l1_loss(p, t, reduction=red), [True, True])
        for delta in (1.0, 2.5):
            emit_case("huber", dtype, delta, r, [a, b],
                      lambda p, t, red=red, d=delta: F.huber_loss(p, t, reduction=red, delta=d), [True, True])
        prob = torch.tensor([0.3, 1e-8, 0.999, 0.5, 0.02, 0.7, 1 - 1e-6, 0.45], dtype=torch.float64).reshape(2, 4)
        tgt = torch.tensor([0.0, 0.3, 1.0, 0.5, 0.9, 0.25, 0.0, 1.0], dtype=torch.float64).reshape(2, 4)
        emit_case("bce", dtype, 0, r, [prob, tgt],
                  lambda p, t, red=red: F.binary_cross_entropy(p, t, reduction=red), [True, True])
        logits = torch.tensor([1e4, -1e4, 30.0, -30.0, 0.5, -2.0, 800.0, -0.3], dtype=torch.float64).reshape(2, 4)
        emit_case("bce_logits", dtype, 0, r, [logits, tgt],
                  lambda x, t, red=red: F.binary_cross_entropy_with_logits(x, t, reduction=red), [True, True])
        lin = torch.log_softmax(torch.tensor(XS[4:12], dtype=torch.float64).reshape(2, 4), 1)
        tp = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.25, 0.25, 0.05, 0.45], dtype=torch.float64).reshape(2, 4)
        kred = "batchmean" if red == "mean" else red
        emit_case("kl_div", dtype, 0, r, [lin, tp],
                  lambda x, t, red=kred: F.kl_div(x, t, reduction=red), [True, True])
        # classification: logits [4,5] with large values, int64 labels
        ce_x = torch.tensor([[1e4, 0, -3, 2, 1], [0.5, -1e4, 3, 2.5, -1], [20, 21, 19.5, -4, 0],
                             [-2, -1, 0, 1, 2]], dtype=torch.float64)
        labels = torch.tensor([1, 0, 2, 4])
        for eps in (0.0, 0.1):
            emit_case("ce", dtype, eps, r, [ce_x, labels],
                      lambda x, y, red=red, e=eps: F.cross_entropy(x, y, reduction=red, label_smoothing=e),
                      [True, False])
            probs = torch.softmax(torch.tensor(XS[:20] if len(XS) >= 20 else XS + XS[:4],
                                               dtype=torch.float64).reshape(4, 5) / 7, 1)
            emit_case("ce_probs", dtype, eps, r, [ce_x, probs],
                      lambda x, t, red=red, e=eps: F.cross_entropy(x, t, reduction=red, label_smoothing=e),
                      [True, True])
        emit_case("nll", dtype, 0, r, [torch.log_softmax(ce_x, 1), labels],
                  lambda x, y, red=red: F.nll_loss(x, y, reduction=red), [True, False])

path = os.path.join(HERE, "act_loss.txt")
with open(path, "w") as f:
    f.write(f"# generated by tests/golden/gen_act_loss.py with torch {torch.__version__}; do not edit\n")
    f.write("\n".join(out_lines) + "\n")
print(f"wrote {path}: {sum(1 for l in out_lines if l.startswith('case'))} cases")
