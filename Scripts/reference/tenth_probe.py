#!/usr/bin/env python3
"""The tenth probe's reference values (RELIABILITY.md, "The tenth probe: numerics at the edges"):
what TensorFlow, PyTorch and NumPy give at the edges the probe tested, printed one case a line.
Tests/GraphCoreTests/TenthProbeTests.swift and the RELIABILITY.md section cite these lines;
Scripts/reference/tenth_probe.log is this script's output.

    /path/to/venv/bin/python Scripts/reference/tenth_probe.py > Scripts/reference/tenth_probe.log

Made with tensorflow 2.21, torch 2.x and numpy 2.x (CPU).
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf
import torch

inf, nan = float("inf"), float("nan")
print(f"versions: tensorflow {tf.__version__}, torch {torch.__version__}, numpy {np.__version__}")


def show(label, value):
    print(f"{label}: {np.asarray(value).ravel().tolist()}")


# logSumExp, softmax and friends with an infinite maximum.
for row in ([-inf, -inf], [inf, 1.0], [-inf, 0.0], [1e30, -1e30]):
    x = tf.constant([row], dtype=tf.float32)
    show(f"tf.reduce_logsumexp {row}", tf.reduce_logsumexp(x, axis=1))
    show(f"torch.logsumexp {row}", torch.logsumexp(torch.tensor([row]), 1))
    show(f"tf.nn.softmax {row}", tf.nn.softmax(x))
    show(f"tf.nn.log_softmax {row}", tf.nn.log_softmax(x))
    show(f"tf sparse_softmax_cross_entropy label 1 {row}",
         tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[1], logits=x))

# Max pooling over a 2x2 window holding NaN.
for window in ([1.0, nan, 3.0, 2.0], [nan, 1.0, 3.0, 2.0], [1.0, 3.0, 2.0, nan]):
    x = np.array(window, dtype=np.float32).reshape(1, 2, 2, 1)
    show(f"tf.nn.max_pool2d {window}", tf.nn.max_pool2d(x, 2, 2, "VALID"))
    show(f"torch max_pool2d {window}", torch.nn.functional.max_pool2d(torch.tensor(x).permute(0, 3, 1, 2), 2))

# NaN through other operations.
show("tf.nn.relu [nan, -0.0]", tf.nn.relu(tf.constant([nan, -0.0])))
show("torch.relu [nan, -0.0]", torch.relu(torch.tensor([nan, -0.0])))
show("tf.argmax [1, nan, 3]", tf.argmax(tf.constant([1.0, nan, 3.0])))
show("np.argmax [1, nan, 3]", np.argmax([1.0, nan, 3.0]))
show("tf.maximum(1, nan), tf.maximum(nan, 1)", [tf.maximum(1.0, nan).numpy(), tf.maximum(nan, 1.0).numpy()])
show("tf.clip_by_value(nan, 0, 1)", tf.clip_by_value(tf.constant([nan]), 0.0, 1.0))

# Sigmoid cross-entropy at extreme logits (labels 0, 0.5, 1).
logits = tf.constant([-1e30, -1e4, -88, 0, 88, 1e4, 1e30, -inf, inf], dtype=tf.float32)
for z in (0.0, 0.5, 1.0):
    show(f"tf sigmoid_cross_entropy_with_logits z={z}",
         tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.fill(logits.shape, z), logits=logits))

# Gradients at the edges.
def grad(f, values, dtype=tf.float32):
    v = tf.Variable(values, dtype=dtype)
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(f(v))
    return tape.gradient(y, v)


show("tf gelu(approximate) gradient at [1e20, -1e20, 3]", grad(lambda v: tf.nn.gelu(v, approximate=True), [1e20, -1e20, 3.0]))
show("tf gelu(exact) gradient at [1e20, -1e20, 3]", grad(lambda v: tf.nn.gelu(v, approximate=False), [1e20, -1e20, 3.0]))
show("tf sqrt gradient at [0, 4]", grad(tf.sqrt, [0.0, 4.0]))
show("tf pow(x, 2) gradient at [0, 4]", grad(lambda v: tf.pow(v, 2.0), [0.0, 4.0]))
show("tf pow(x, 0.5) gradient at [0, 4]", grad(lambda v: tf.pow(v, 0.5), [0.0, 4.0]))
show("tf sigmoid gradient at [20, -20]", grad(tf.sigmoid, [20.0, -20.0]))
show("tf elu gradient at [-20]", grad(tf.nn.elu, [-20.0]))

# Normalization of float32 values 1e4 + noise: error of the float32 result against float64.
rng = np.random.default_rng(0)
x = (1e4 + rng.uniform(size=64).astype(np.float32) * np.float32(0.01)).astype(np.float32)
xd = x.astype(np.float64)
mu, var = xd.mean(), ((xd - xd.mean()) ** 2).mean()
truth = (xd - mu) / np.sqrt(var + 1e-3)
ln = tf.keras.layers.LayerNormalization(epsilon=1e-3, center=False, scale=False)
print("keras LayerNormalization, max abs error:", float(np.abs(ln(x[None, :]).numpy()[0] - truth).max()))
torch_ln = torch.nn.functional.layer_norm(torch.tensor(x[None, :]), (64,), eps=1e-3).numpy()[0]
print("torch layer_norm, max abs error:", float(np.abs(torch_ln - truth).max()))
fused = tf.compat.v1.nn.fused_batch_norm(x.reshape(64, 1, 1, 1), scale=np.ones(1, np.float32),
                                         offset=np.zeros(1, np.float32), epsilon=1e-3)[0]
print("tf fused_batch_norm (training), max abs error:", float(np.abs(fused.numpy().ravel() - truth).max()))
torch_bn = torch.nn.functional.batch_norm(torch.tensor(x.reshape(64, 1)), None, None, training=True, eps=1e-3)
print("torch batch_norm (training), max abs error:", float(np.abs(torch_bn.numpy().ravel() - truth).max()))

# Sums of float32 values over a middle axis: relative error against float64.
rng = np.random.default_rng(10)
x = (1 + 2 * rng.uniform(size=(10, 50000, 2))).astype(np.float32)
t = x.astype(np.float64).sum(axis=1)
for name, v in (("numpy", x.sum(axis=1)), ("torch", torch.tensor(x).sum(1).numpy()), ("tensorflow", tf.reduce_sum(x, axis=1).numpy())):
    print(f"{name} sum over the middle axis of [10, 50000, 2], max relative error:", float(np.abs((v - t) / t).max()))
x = (1 + 2 * rng.uniform(size=(1, 1000000, 1))).astype(np.float32)
t = x.astype(np.float64).sum(axis=1)
for name, v in (("numpy", x.sum(axis=1)), ("torch", torch.tensor(x).sum(1).numpy()), ("tensorflow", tf.reduce_sum(x, axis=1).numpy())):
    print(f"{name} sum over axis 1 of [1, 1000000, 1], relative error:", float(np.abs((v - t) / t).max()))
