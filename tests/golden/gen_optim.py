#!/usr/bin/python3
"""Golden trajectories for tests/test_optim.c: 100 steps of torch.optim on a fixed problem.

Run: /usr/bin/python3 tests/golden/gen_optim.py > tests/golden/optim.txt
Each config prints "config <name>" then 100 lines "lr... p0 ... p9": the learning rate of
each parameter group (one, or two for the *_groups configs) and the 10 parameter values
(w[4], then B[2,3] row-major) after each step, in float64.
The loss: sum(a*(w-c)^2) + sum(w^4 * 0.1) + sum(e*(B-d)^2), the same as the C test builds.
"""
import torch

torch.set_default_dtype(torch.float64)
A = torch.tensor([1.0, 2.0, 0.5, 3.0])
C = torch.tensor([0.5, -1.0, 2.0, 0.25])
D = torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, -1.5]])
E = torch.tensor([[1.0, 0.5, 2.0], [1.5, 0.25, 1.0]])
W0 = [0.1, 0.2, -0.3, 0.4]
B0 = [[-0.5, 0.6, 0.7], [0.8, -0.9, 1.0]]


def loss_of(w, b):
    return (A * (w - C) * (w - C)).sum() + (w * w * w * w * 0.1).sum() + (E * (b - D) * (b - D)).sum()


def run(name, make_opt, make_sched=None, clip=None, groups=None):
    """groups(w, b) -> torch param_groups; default: one group [w, b]."""
    w = torch.tensor(W0, requires_grad=True)
    b = torch.tensor(B0, requires_grad=True)
    opt = make_opt(groups(w, b) if groups else [w, b])
    sched = make_sched(opt) if make_sched else None
    print("config", name)
    for _ in range(100):
        opt.zero_grad()
        loss_of(w, b).backward()
        if clip == "norm":
            torch.nn.utils.clip_grad_norm_([w, b], 1.0)
        elif clip == "value":
            torch.nn.utils.clip_grad_value_([w, b], 0.5)
        opt.step()
        if sched:
            sched.step()
        lrs = [g["lr"] for g in opt.param_groups]
        vals = lrs + w.detach().tolist() + b.detach().flatten().tolist()
        print(" ".join(repr(float(v)) for v in vals))


O = torch.optim
S = torch.optim.lr_scheduler
run("sgd", lambda p: O.SGD(p, lr=0.01))
run("sgd_momentum", lambda p: O.SGD(p, lr=0.01, momentum=0.9))
run("sgd_dampening_wd", lambda p: O.SGD(p, lr=0.01, momentum=0.9, dampening=0.1, weight_decay=0.01))
run("sgd_nesterov", lambda p: O.SGD(p, lr=0.01, momentum=0.9, nesterov=True, weight_decay=0.01))
run("adam", lambda p: O.Adam(p, lr=0.01))
run("adam_wd", lambda p: O.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1))
run("adamw", lambda p: O.AdamW(p, lr=0.01, weight_decay=0.1))
run("rmsprop", lambda p: O.RMSprop(p, lr=0.01))
run("rmsprop_centered", lambda p: O.RMSprop(p, lr=0.01, alpha=0.9, centered=True, momentum=0.5, weight_decay=0.01))
run("adagrad", lambda p: O.Adagrad(p, lr=0.1))
run("adagrad_decay", lambda p: O.Adagrad(p, lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1))
run("step_lr", lambda p: O.SGD(p, lr=0.02), lambda o: S.StepLR(o, 10, 0.5))
run("exponential_lr", lambda p: O.SGD(p, lr=0.02), lambda o: S.ExponentialLR(o, 0.97))
run("cosine_lr", lambda p: O.SGD(p, lr=0.02), lambda o: S.CosineAnnealingLR(o, 30, 0.001))
run("linear_warmup", lambda p: O.SGD(p, lr=0.02), lambda o: S.LinearLR(o, 0.1, 1.0, 20))
run("clip_norm", lambda p: O.SGD(p, lr=0.05), clip="norm")
run("clip_value", lambda p: O.SGD(p, lr=0.05), clip="value")

# Explicit zeros (ag_adamw_defaults() with weight_decay 0) and today's zero-means-default.
run("adamw_wd0", lambda p: O.AdamW(p, lr=0.01, weight_decay=0))
run("adamw_default_wd", lambda p: O.AdamW(p, lr=0.01))

# Parameter groups. In ag the constructor's options are group 0's and the defaults the
# other groups fill missing keys from, so group 0 never overrides anything here.
run("adamw_groups", lambda p: O.AdamW(p, lr=0.01, weight_decay=0.1),
    groups=lambda w, b: [{"params": [b]}, {"params": [w], "weight_decay": 0}])
run("adam_groups", lambda p: O.Adam(p, lr=0.01),
    groups=lambda w, b: [{"params": [b]},
                         {"params": [w], "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}])
run("sgd_groups", lambda p: O.SGD(p, lr=0.01, momentum=0.9),
    groups=lambda w, b: [{"params": [w]}, {"params": [b], "lr": 0.003}])
run("sgd_groups_mixed", lambda p: O.SGD(p, lr=0.02, momentum=0.9, nesterov=True, weight_decay=0.01),
    groups=lambda w, b: [{"params": [b]},
                         {"params": [w], "momentum": 0, "nesterov": False, "weight_decay": 0}])
run("rmsprop_groups", lambda p: O.RMSprop(p, lr=0.01, momentum=0.5),
    groups=lambda w, b: [{"params": [b]}, {"params": [w], "lr": 0.003, "alpha": 0.9, "centered": True}])
run("adagrad_groups", lambda p: O.Adagrad(p, lr=0.1, initial_accumulator_value=0.1),
    groups=lambda w, b: [{"params": [b]}, {"params": [w], "lr": 0.05, "lr_decay": 0.01}])
run("cosine_groups", lambda p: O.SGD(p, lr=0.02), lambda o: S.CosineAnnealingLR(o, 30, 0.001),
    groups=lambda w, b: [{"params": [w]}, {"params": [b], "lr": 0.005}])
run("linear_warmup_groups", lambda p: O.SGD(p, lr=0.02), lambda o: S.LinearLR(o, 0.1, 1.0, 20),
    groups=lambda w, b: [{"params": [w]}, {"params": [b], "lr": 0.005}])
run("step_lr_groups", lambda p: O.Adam(p, lr=0.02), lambda o: S.StepLR(o, 10, 0.5),
    groups=lambda w, b: [{"params": [w]}, {"params": [b], "lr": 0.005}])
