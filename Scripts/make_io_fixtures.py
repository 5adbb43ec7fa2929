#!/usr/bin/env python3
"""Writes the array-file fixtures that Tests/ArrayCoreTests/ArrayFileTests.swift reads.

Run from the repository root with NumPy and the `safetensors` package installed
(`Scripts/bench/peers.sh` creates .venv-bench/ with both):

    .venv-bench/bin/python Scripts/make_io_fixtures.py

It writes, with NumPy's own writer and the `safetensors` package (safetensors.numpy.save_file):
  Tests/Fixtures/python_written.npy          float32 [2, 3]      (np.save, format 1.0)
  Tests/Fixtures/python_written_f8.npy       float64 [4]         (np.save)
  Tests/Fixtures/python_written_i4.npy       int32   [3, 1, 2]   (np.save)
  Tests/Fixtures/python_written_b1.npy       bool    [5]         (np.save)
  Tests/Fixtures/python_written_scalar.npy   float64 []          (np.save)
  Tests/Fixtures/python_written_v2.npy       float32 [2, 3]      (format 2.0, np.lib.format.write_array)
  Tests/Fixtures/python_written.safetensors  the four arrays below plus metadata

The Swift test repeats the values below literally; keep the two in step.
"""
import os
import numpy as np
from safetensors.numpy import save_file

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures")
os.makedirs(root, exist_ok=True)

f4 = np.array([[1.0, -2.5, 1.0 / 3.0], [1e-30, 65504.0, -0.0]], dtype="<f4")
f8 = np.array([np.pi, -np.e, 1e-300, 2.0 ** 60], dtype="<f8")
i4 = np.arange(-3, 3, dtype="<i4").reshape(3, 1, 2) * 1000003
b1 = np.array([True, False, False, True, True])
scalar = np.array(0.1, dtype="<f8")

np.save(os.path.join(root, "python_written.npy"), f4)
np.save(os.path.join(root, "python_written_f8.npy"), f8)
np.save(os.path.join(root, "python_written_i4.npy"), i4)
np.save(os.path.join(root, "python_written_b1.npy"), b1)
np.save(os.path.join(root, "python_written_scalar.npy"), scalar)
with open(os.path.join(root, "python_written_v2.npy"), "wb") as f:
    np.lib.format.write_array(f, f4, version=(2, 0))

save_file(
    {"dense/kernel": f4, "dense/bias": f8, "steps": i4, "mask": b1},
    os.path.join(root, "python_written.safetensors"),
    metadata={"written_by": "Scripts/make_io_fixtures.py", "layers": "64,128,10"},
)
print("wrote fixtures to", os.path.normpath(root))

# gzip fixtures for Tests/ArrayCoreTests/GzipTests.swift (Python's gzip module, zlib inside):
# a stored block (level 0), a short text (zlib chooses fixed Huffman codes), and two members.
import gzip

text = b"0,1,2,3\n4,5,6,7\nhello hello hello hello\n"
with open(os.path.join(root, "stored.gz"), "wb") as f:
    f.write(gzip.compress(text, compresslevel=0, mtime=0))
with open(os.path.join(root, "fixed.gz"), "wb") as f:
    f.write(gzip.compress(text, compresslevel=9, mtime=0))
with open(os.path.join(root, "two_members.gz"), "wb") as f:
    f.write(gzip.compress(b"first member\n", mtime=0) + gzip.compress(b"second member\n", mtime=0))
