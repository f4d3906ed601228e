#!/usr/bin/python3
"""PyTorch twin of tests/test_layers9.c: the issue-9 layers loaded from ag's state.
Usage: torch_layers9.py KIND STATE INPUTS RESULTS
Builds KIND (the same sizes as the C test), load_state_dict(STATE, strict=True), reads
INPUTS (safetensors: x, optional x2 / h0 / c0, and r of the output's shape), runs the
forward, back-propagates sum(out * r) and writes RESULTS (safetensors): out, hn / cn for
LSTM and GRU, grad.<param> for every parameter and grad.x for a float x."""
import json
import struct
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from read_safetensors import read  # noqa: E402


def write(path, sd):
    codes = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("int64"): "I64"}
    header, blobs, off = {}, [], 0
    for k, v in sd.items():
        a = v.detach().numpy().copy(order="C")
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[k] = {"dtype": codes[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


KINDS = {
    "layer_norm": lambda: nn.LayerNorm([3, 4]),
    "embedding": lambda: nn.Embedding(10, 4),
    "group_norm": lambda: nn.GroupNorm(2, 6),
    "conv_transpose2d": lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
    "mha": lambda: nn.MultiheadAttention(16, 4, bias=True, batch_first=True),
    "mha_cross": lambda: nn.MultiheadAttention(16, 4, bias=True, batch_first=True),
    "lstm": lambda: nn.LSTM(5, 8, 2, batch_first=True),
    "lstm_seq_first": lambda: nn.LSTM(5, 8, 2),
    "gru": lambda: nn.GRU(5, 8, 2),
}

kind, state, inputs, results = sys.argv[1:5]
m = KINDS[kind]()
m.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in read(state).items()}, strict=True)
inp = {k: torch.from_numpy(v.copy()) for k, v in read(inputs).items()}
x = inp["x"]
if x.is_floating_point():
    x.requires_grad_(True)
res = {}
if kind.startswith("mha"):
    kv = inp.get("x2", x)
    out = m(x, kv, kv, need_weights=False)[0]
elif kind.startswith("lstm"):
    st = (inp["h0"], inp["c0"]) if "h0" in inp else None
    out, (hn, cn) = m(x, st)
    res["hn"], res["cn"] = hn, cn
elif kind == "gru":
    out, hn = m(x, inp.get("h0"))
    res["hn"] = hn
else:
    out = m(x)
res["out"] = out
(out * inp["r"]).sum().backward()
for name, p in m.named_parameters():
    res["grad." + name] = p.grad
if x.requires_grad:
    res["grad.x"] = x.grad
write(results, res)
