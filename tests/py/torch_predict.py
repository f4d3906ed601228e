#!/usr/bin/python3
"""PyTorch reproduces the C model's predictions from its safetensors weights.
Usage: torch_predict.py WEIGHTS INPUT.npy-like-raw N D -> prints the logits of an
nn.Sequential(Linear(D,16), ReLU(), Linear(16,3)) (the model tests/test_nn.c builds) for the
N x D float32 input in the raw file INPUT, one row per line."""
import sys

import numpy as np
import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from read_safetensors import read  # noqa: E402

weights, inp, n, d = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
model = torch.nn.Sequential(torch.nn.Linear(d, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in read(weights).items()})
x = torch.from_numpy(np.fromfile(inp, dtype="<f4").reshape(n, d))
with torch.no_grad():
    for row in model(x).numpy():
        print(" ".join(repr(float(v)) for v in row))
