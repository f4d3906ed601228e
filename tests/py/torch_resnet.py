#!/usr/bin/python3
"""PyTorch twin of the residual network tests/test_module.c builds from ag modules.
Usage: torch_resnet.py AG_WEIGHTS INPUT N TORCH_WEIGHTS
 1. loads AG_WEIGHTS (written by ag_module_save) with load_state_dict(strict=True) and
    prints the eval-mode outputs for the N x 2 float32 raw INPUT, one row per line;
 2. prints a line "--";
 3. changes every parameter and buffer (a training-mode forward moves the batch-norm
    running statistics and num_batches_tracked; 'steps' becomes 7), writes the state_dict
    to TORCH_WEIGHTS as safetensors and prints the new eval-mode outputs."""
import json
import struct
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from read_safetensors import read  # noqa: E402


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc1 = nn.Linear(d, d)
        self.bn = nn.BatchNorm1d(d)
        self.fc2 = nn.Linear(d, d)

    def forward(self, x):
        return torch.relu(x + self.fc2(torch.relu(self.bn(self.fc1(x)))))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))
        self.stem = nn.Linear(2, 8)
        self.blocks = nn.Sequential(Block(8), Block(8))
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x))) * self.scale


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


def show(model, x):
    model.eval()
    with torch.no_grad():
        for row in model(x).numpy():
            print(" ".join(repr(float(v)) for v in row))


ag_path, inp, n, out_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
model = Net()
model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in read(ag_path).items()}, strict=True)
x = torch.from_numpy(np.fromfile(inp, dtype="<f4").reshape(n, 2))
show(model, x)
print("--")
torch.manual_seed(5)
with torch.no_grad():
    for p in model.parameters():
        p.add_(0.1 * torch.randn_like(p))
    model.steps.fill_(7)
model.train()
with torch.no_grad():
    model(3 * torch.randn(16, 2) + 1)
write(out_path, model.state_dict())
show(model, x)
