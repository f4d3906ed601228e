#!/usr/bin/env python3
"""Writes the committed seed corpus fuzz/corpus/<target>/ (run from the repository root).
Small valid files of each format, and the near-misses that once mattered."""
import gzip, json, os, struct

def put(target, name, data):
    d = os.path.join("fuzz", "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def st_header(entries):
    h = json.dumps(entries, separators=(",", ":")).encode()
    return h + b" " * (-len(h) % 8)

def st_file(entries, data):
    h = st_header(entries)
    return struct.pack("<Q", len(h)) + h + data

ST = {
    "one": ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, struct.pack("<2f", 1, 2)),
    "model": ({"0.weight": {"dtype": "F32", "shape": [1, 2], "data_offsets": [0, 8]},
               "0.bias": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}},
              struct.pack("<3f", 1, 2, 3)),
    "empty": ({}, b""),
    "meta": ({"__metadata__": {"format": "pt"},
              "a": {"dtype": "I64", "shape": [], "data_offsets": [0, 8]}}, struct.pack("<q", -3)),
    "f64_zero_size": ({"a": {"dtype": "F64", "shape": [0, 3], "data_offsets": [0, 0]},
                       "b": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}},
                      struct.pack("<d", 0.5)),
}
for name, (e, data) in ST.items():
    put("safetensors", name, st_file(e, data))
    put("safetensors_header", name, bytes([len(data) // 4]) + st_header(e))
put("safetensors_header", "escapes",
    b"\x01" + b'{"\\u00e9\\ud83d\\ude00\\"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}')

def idx(type_code, dims, payload):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload

IDX = {
    "u8": idx(0x08, [2, 3], bytes([0, 51, 102, 153, 204, 255])),
    "i8": idx(0x09, [3], bytes([0x80, 0, 0x7F])),
    "i16": idx(0x0B, [2], struct.pack(">2h", -300, 300)),
    "i32": idx(0x0C, [1, 3], struct.pack(">3i", 256, -2, 7)),
    "f32": idx(0x0D, [2], struct.pack(">2f", 1.5, -2.25)),
    "f64": idx(0x0E, [2], struct.pack(">2d", -2.5, float("nan"))),
    "zero_dim": idx(0x08, [0, 5], b""),
}
for name, data in IDX.items():
    put("idx", name, data)
    put("idx_gz", name, b"\x00" + data)
    put("idx_gz", name + "_file", b"\x01" + gzip.compress(data, mtime=0))
put("idx_gz", "u8_no_trailer", b"\x02" + IDX["u8"])

CSV = {
    "plain": (0x00, b"1,2\n3,4\n"),
    "header_label": (0x03, b"a,b,label\r\n1,2,0\r\n4.5, -5 ,1\n\n"),
    "label_last_float64": (0x1E, b"1;2.5\n3;4.25\n"),
    "specials": (0x10, b"nan,-inf,1e-999\n0x1p3,1e308,-0\n"),
}
for name, (flags, text) in CSV.items():
    if name == "label_last_float64":
        flags |= 0x20   # ';'
    put("csv", name, bytes([flags]) + text)
