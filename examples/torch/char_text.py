"""The text, vocabulary and windows of examples/char_text.h, for the PyTorch twins."""
import torch

FILES = ["Apache-2.0", "GPL-3", "LGPL-3", "MPL-2.0"]


def load_text():
    raw = b"".join(open("/usr/share/common-licenses/" + f, "rb").read() for f in FILES)
    chars = sorted(set(raw))
    index = {c: i for i, c in enumerate(chars)}
    return [index[c] for c in raw], len(chars)


def windows(data, n, T):
    xs, ys = [], []
    for j in range(n):
        s = (j * 2654435761) % (len(data) - T - 1)
        xs.append(data[s:s + T])
        ys.append(data[s + 1:s + T + 1])
    return torch.tensor(xs, dtype=torch.int64), torch.tensor(ys, dtype=torch.int64)
