#!/usr/bin/python3
"""A short safetensors reader (json + numpy) used by tests/test_nn.c.
Usage: read_safetensors.py FILE  -> prints "name dtype shape sum first last" per tensor,
in file order, so the C test can compare with what it wrote."""
import json
import struct
import sys

import numpy as np

DT = {"F32": np.float32, "F64": np.float64, "I64": np.int64}


def read(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        a = np.frombuffer(data[b:end], dtype=np.dtype(DT[e["dtype"]]).newbyteorder("<"))
        out[name] = a.reshape(e["shape"])
    return out


if __name__ == "__main__":
    for name, a in read(sys.argv[1]).items():
        flat = a.reshape(-1).astype(np.float64)
        print(name, a.dtype, "x".join(map(str, a.shape)) or "scalar", repr(float(flat.sum())),
              repr(float(flat[0])) if flat.size else "nan", repr(float(flat[-1])) if flat.size else "nan")
