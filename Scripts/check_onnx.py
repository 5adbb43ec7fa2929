#!/usr/bin/env python3
"""Checks `backprop export --onnx` with onnx and onnxruntime from PyPI.

  backprop digits --save /tmp/digits.safetensors
  backprop export --onnx /tmp/digits.onnx --model /tmp/digits.safetensors --input Data/digits.csv --logits /tmp/logits.npy
  python3 Scripts/check_onnx.py /tmp/digits.onnx /tmp/logits.npy Data/digits.csv

The Fashion-MNIST CNN (an IDX images file instead of the CSV, optionally its labels):

  backprop fashion --epochs 1 --train-limit 10000 --save /tmp/fashion.safetensors
  fm=/usr/share/datasets/fashion-mnist
  backprop export --onnx /tmp/fashion.onnx --model /tmp/fashion.safetensors --input $fm/t10k-images-idx3-ubyte.gz --logits /tmp/fashion_logits.npy
  python3 Scripts/check_onnx.py /tmp/fashion.onnx /tmp/fashion_logits.npy $fm/t10k-images-idx3-ubyte.gz $fm/t10k-labels-idx1-ubyte.gz

onnx.checker.check_model must pass (full check, with shape inference); onnxruntime's logits for every
row of the CSV must be within 1e-5 of Backprop's (absolute, or relative for larger values) and give
the same classes.

A whole-model directory (`--save-model`; its input is the raw values, 0...16 for digits, 0...255
for Fashion-MNIST) against the classes `backprop predict` prints for it:

  backprop digits --save-model /tmp/dig
  backprop export --onnx /tmp/dig.onnx --model /tmp/dig
  backprop predict --model /tmp/dig --input Data/digits.csv > /tmp/dig_classes.txt
  python3 Scripts/check_onnx.py --classes /tmp/dig.onnx /tmp/dig_classes.txt Data/digits.csv

A model exported by a test with its input and Backprop's outputs as .npy files (the layer
normalization fixture, Tests/Fixtures/onnx, written by ONNXLayerNormTests):

  python3 Scripts/check_onnx.py --outputs Tests/Fixtures/onnx/layernorm.onnx \
      Tests/Fixtures/onnx/layernorm_input.npy Tests/Fixtures/onnx/layernorm_output.npy

onnxruntime's outputs must be within 1e-5 of Backprop's (absolute, or relative for larger values).

Set up: python3 -m venv /work/venvs/formats && /work/venvs/formats/bin/pip install onnx onnxruntime numpy
"""
import gzip
import sys

import numpy as np
import onnx
import onnxruntime as ort


def read_idx(path):
    """An IDX file (plain or gzip) of unsigned bytes, as a numpy array."""
    data = (gzip.open if path.endswith(".gz") else open)(path, "rb").read()
    assert data[:2] == b"\0\0" and data[2] == 0x08, f"{path}: not an unsigned-byte IDX file"
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def main(model_path, logits_path, data_path, labels_path=None):
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    ops = {}
    for n in model.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    print(f"onnx.checker: ok (onnx {onnx.__version__}, IR {model.ir_version}, opset {model.opset_import[0].version}, "
          f"nodes: {', '.join(f'{k} x{v}' if v > 1 else k for k, v in ops.items())})")
    if data_path.endswith(".csv"):
        table = np.loadtxt(data_path, delimiter=",", ndmin=2)
        pixels = table[:, :64].astype(np.float32)
        labels = table[:, 64] if table.shape[1] > 64 else None
    else:
        images = read_idx(data_path)
        pixels = (images.reshape(len(images), -1).astype(np.float32) / np.float32(255))
        labels = read_idx(labels_path) if labels_path else None
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    got = session.run([session.get_outputs()[0].name], {session.get_inputs()[0].name: pixels})[0]
    want = np.load(logits_path)
    assert got.shape == want.shape, (got.shape, want.shape)
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64)) / np.maximum(1.0, np.abs(want.astype(np.float64)))
    same = int((got.argmax(axis=1) == want.argmax(axis=1)).sum())
    print(f"onnxruntime {ort.__version__}: {len(pixels)} rows, same class for {same}/{len(pixels)}, "
          f"largest logit difference {diff.max():.3g} (limit 1e-5)")
    if labels is not None:
        print(f"accuracy against the labels: {(got.argmax(axis=1) == labels).mean():.4f}")
    ok = same == len(pixels) and diff.max() <= 1e-5
    print("1 passed, 0 failed" if ok else "0 passed, 1 failed")
    return ok


def main_classes(model_path, classes_path, data_path, labels_path=None):
    """The ONNX model of a whole-model directory on raw rows, against `backprop predict`'s classes."""
    onnx.checker.check_model(onnx.load(model_path), full_check=True)
    if data_path.endswith(".csv"):
        pixels = np.loadtxt(data_path, delimiter=",", ndmin=2)[:, :64].astype(np.float32)
    else:
        images = read_idx(data_path)
        pixels = images.reshape(len(images), -1).astype(np.float32)
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    got = session.run([session.get_outputs()[0].name], {session.get_inputs()[0].name: pixels})[0].argmax(axis=1)
    want = np.loadtxt(classes_path, dtype=np.int64, ndmin=1)
    same = int((got == want).sum())
    print(f"onnx.checker: ok; onnxruntime {ort.__version__}: {len(pixels)} rows, same class as backprop predict for {same}/{len(want)}")
    ok = len(got) == len(want) and same == len(want)
    print("1 passed, 0 failed" if ok else "0 passed, 1 failed")
    return ok


def main_outputs(model_path, input_path, output_path):
    """An ONNX model on a saved input, against Backprop's saved outputs."""
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    ops = {}
    for n in model.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    x = np.load(input_path)
    got = session.run([session.get_outputs()[0].name], {session.get_inputs()[0].name: x})[0]
    want = np.load(output_path)
    assert got.shape == want.shape, (got.shape, want.shape)
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64)) / np.maximum(1.0, np.abs(want.astype(np.float64)))
    print(f"onnx.checker: ok (onnx {onnx.__version__}, opset {model.opset_import[0].version}, "
          f"nodes: {', '.join(f'{k} x{v}' if v > 1 else k for k, v in ops.items())}); onnxruntime {ort.__version__}: "
          f"{got.shape} outputs, largest difference {diff.max():.3g} (limit 1e-5)")
    ok = diff.max() <= 1e-5
    print("1 passed, 0 failed" if ok else "0 passed, 1 failed")
    return ok


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--outputs":
        sys.exit(0 if main_outputs(*sys.argv[2:]) else 1)
    if len(sys.argv) in (5, 6) and sys.argv[1] == "--classes":
        sys.exit(0 if main_classes(*sys.argv[2:]) else 1)
    if len(sys.argv) not in (4, 5):
        print(__doc__)
        sys.exit(2)
    sys.exit(0 if main(*sys.argv[1:]) else 1)
