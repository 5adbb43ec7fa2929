#!/usr/bin/env python3
"""Checks `backprop export --onnx` with onnx and onnxruntime from PyPI.

  backprop digits --save /tmp/digits.safetensors
  backprop export --onnx /tmp/digits.onnx --model /tmp/digits.safetensors --input Data/digits.csv --logits /tmp/logits.npy
  python3 Scripts/check_onnx.py /tmp/digits.onnx /tmp/logits.npy Data/digits.csv

onnx.checker.check_model must pass (full check, with shape inference); onnxruntime's logits for every
row of the CSV must be within 1e-5 of Backprop's (absolute, or relative for larger values) and give
the same classes.

Set up: python3 -m venv /work/venvs/formats && /work/venvs/formats/bin/pip install onnx onnxruntime numpy
"""
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main(model_path, logits_path, csv_path):
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    print(f"onnx.checker: ok (onnx {onnx.__version__}, IR {model.ir_version}, opset {model.opset_import[0].version}, "
          f"nodes: {', '.join(n.op_type for n in model.graph.node)})")
    table = np.loadtxt(csv_path, delimiter=",", ndmin=2)
    pixels = table[:, :64].astype(np.float32)
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    got = session.run(["logits"], {"pixels": pixels})[0]
    want = np.load(logits_path)
    assert got.shape == want.shape, (got.shape, want.shape)
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64)) / np.maximum(1.0, np.abs(want.astype(np.float64)))
    same = int((got.argmax(axis=1) == want.argmax(axis=1)).sum())
    print(f"onnxruntime {ort.__version__}: {len(pixels)} rows, same class for {same}/{len(pixels)}, "
          f"largest logit difference {diff.max():.3g} (limit 1e-5)")
    if table.shape[1] > 64:
        print(f"accuracy against the CSV's labels: {(got.argmax(axis=1) == table[:, 64]).mean():.4f}")
    ok = same == len(pixels) and diff.max() <= 1e-5
    print("1 passed, 0 failed" if ok else "0 passed, 1 failed")
    return ok


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__)
        sys.exit(2)
    sys.exit(0 if main(*sys.argv[1:]) else 1)
