#!/usr/bin/env python3
"""Cross-checks juice's safetensors files against the reference implementation (the `safetensors`
PyPI package, fetched by scripts/install-deps into a cache; see README). Both directions:
  1. juice writes a file (safetensors_tool write); the reference must load it and find exactly the
     tensors, dtypes, shapes, bytes and metadata this script expects, computed here with struct;
  2. the reference writes a file; juice must read it (safetensors_tool dump) and report the same
     values. Exits 77 (a skipped test for ctest) when the reference package is not installed.
usage: safetensors_reference.py TOOL WORKDIR"""
import json
import os
import struct
import subprocess
import sys

try:
    import safetensors
except ImportError:
    print("safetensors (Python) is not installed; run scripts/install-deps", file=sys.stderr)
    sys.exit(77)

tool, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)

# name -> (dtype, shape, raw little-endian bytes, values as juice should read them)
f16 = b"\x00\x3c\x00\xc0\x01\x00"          # 1.0, -2.0, 2^-24
bf16 = b"\x80\x3f\x49\x40"                  # 1.0, 3.140625
expected = {
    "a.f32": ("F32", [2, 3], struct.pack("<6f", 0.0, 1.0, -2.5, 3.25, 1e-3, -7.0)),
    "b.f64": ("F64", [2], struct.pack("<2d", 1.0 / 3.0, -1e300)),
    "c.f16": ("F16", [3], f16),
    "d.bf16": ("BF16", [2], bf16),
    "e.empty": ("F32", [0, 4], b""),
}
values = {
    "a.f32": list(struct.unpack("<6f", expected["a.f32"][2])),
    "b.f64": [1.0 / 3.0, -1e300],
    "c.f16": [1.0, -2.0, 2.0 ** -24],
    "d.bf16": [1.0, 3.140625],
    "e.empty": [],
}
metadata = {"format": "pt", "note": "juice \u00fc"}
failures = []

# 1. juice -> reference
juice_file = os.path.join(work, "juice.safetensors")
subprocess.run([tool, "write", juice_file], check=True)
raw = open(juice_file, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
if n % 8 != 0:
    failures.append(f"juice's header length {n} is not a multiple of 8")
loaded = dict(safetensors.deserialize(raw))
if set(loaded) != set(expected):
    failures.append(f"reference sees tensors {sorted(loaded)}, expected {sorted(expected)}")
for name, (dt, shape, data) in expected.items():
    t = loaded.get(name)
    if t is None:
        continue
    if t["dtype"] != dt or list(t["shape"]) != shape or bytes(t["data"]) != data:
        failures.append(f"{name}: reference read {t['dtype']} {t['shape']} {bytes(t['data']).hex()}, "
                        f"expected {dt} {shape} {data.hex()}")
header = json.loads(raw[8:8 + n])
if header.get("__metadata__") != metadata:
    failures.append(f"metadata {header.get('__metadata__')} != {metadata}")

# 2. reference -> juice
ref_file = os.path.join(work, "reference.safetensors")
py_dtype = {"F32": "float32", "F64": "float64", "F16": "float16", "BF16": "bfloat16"}  # serialize's names
ref = {name: {"dtype": py_dtype[dt], "shape": shape, "data": data} for name, (dt, shape, data) in expected.items()}
open(ref_file, "wb").write(safetensors.serialize(ref, metadata=metadata))
out = subprocess.run([tool, "dump", ref_file], check=True, capture_output=True, text=True).stdout
got = json.loads(out)
if got.get("__metadata__") != metadata:
    failures.append(f"juice read metadata {got.get('__metadata__')} != {metadata}")
for name, (dt, shape, _) in expected.items():
    t = got.get(name)
    if t is None:
        failures.append(f"juice did not find {name} in the reference's file")
        continue
    if t["dtype"] != dt or t["shape"] != shape or t["values"] != values[name]:
        failures.append(f"{name}: juice read {t}, expected {dt} {shape} {values[name]}")

# The reference must refuse what juice refuses and vice versa: a file with a hole.
bad = os.path.join(work, "hole.safetensors")
hdr = json.dumps({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}).encode()
open(bad, "wb").write(struct.pack("<Q", len(hdr)) + hdr + b"\0" * 8)
try:
    safetensors.deserialize(open(bad, "rb").read())
    failures.append("the reference accepted a file with a hole")
except Exception:
    pass
if subprocess.run([tool, "dump", bad], capture_output=True).returncode == 0:
    failures.append("juice accepted a file with a hole")

for f in failures:
    print("FAIL:", f, file=sys.stderr)
print(f"safetensors {safetensors.__version__}: {'ok' if not failures else str(len(failures)) + ' failures'}")
sys.exit(1 if failures else 0)
