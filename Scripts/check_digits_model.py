#!/usr/bin/env python3
"""Reads a model saved by `backprop digits --save FILE` with the Python `safetensors` package and
classifies Data/digits.csv with NumPy, then compares with `backprop predict`'s output.

    .build/release/backprop digits --save /tmp/model.safetensors
    .build/release/backprop predict --model /tmp/model.safetensors --input Data/digits.csv > /tmp/swift.txt
    .venv-bench/bin/python Scripts/check_digits_model.py /tmp/model.safetensors /tmp/swift.txt
"""
import os
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

model_path, swift_predictions = sys.argv[1], sys.argv[2]
tensors = load_file(model_path)
with safe_open(model_path, framework="numpy") as f:
    metadata = f.metadata()
sizes = [int(s) for s in metadata["layers"].split(",")]
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
data = np.loadtxt(os.path.join(root, "Data", "digits.csv"), delimiter=",")
h = ((data[:, :64] - tensors["standardizer/mean"]) / tensors["standardizer/std"]).astype(np.float32)
for i in range(1, len(sizes)):
    h = h @ tensors[f"layer{i}/kernel"] + tensors[f"layer{i}/bias"]
    if i < len(sizes) - 1:
        h = np.maximum(h, 0)
numpy_pred = h.argmax(axis=1)
swift_pred = np.loadtxt(swift_predictions, dtype=np.int64)
print("metadata:", metadata)
print("dtypes:", {k: str(v.dtype) for k, v in sorted(tensors.items())})
print(f"NumPy accuracy {np.mean(numpy_pred == data[:, 64]):.4f}; "
      f"agreement with backprop predict: {np.sum(numpy_pred == swift_pred)}/{len(swift_pred)}")
sys.exit(0 if np.array_equal(numpy_pred, swift_pred) else 1)
