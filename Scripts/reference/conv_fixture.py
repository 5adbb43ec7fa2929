#!/usr/bin/env python3
"""Writes Tests/Fixtures/conv_reference.json: convolution and pooling values computed by
TensorFlow, which Tests/GraphCoreTests/ConvolutionTests.swift compares with Backprop's kernels.

Run from the repository root in an environment with tensorflow-cpu and numpy
(`Scripts/bench/peers.sh` creates .venv-bench/ with both):

    .venv-bench/bin/python Scripts/reference/conv_fixture.py

Each case holds its inputs (seeded uniform values in [-2, 2], rounded to float32 so that both
sides read the same numbers), its attributes and TensorFlow's outputs in float64:
  conv2d      tf.nn.conv2d (groups > 1 through tf.nn.depthwise_conv2d, whose [kh, kw, c, m]
              filter is Backprop's grouped [kh, kw, 1, c*m] filter), and the gradients of
              sum(y * r) for the input and the filter (tf.GradientTape), r seeded too (not for
              dilations > 1, which TensorFlow's CPU gradient kernels reject);
  transpose   tf.nn.conv2d_transpose with an explicit output shape;
  max_pool / avg_pool   tf.nn.max_pool2d / tf.nn.avg_pool2d and the input gradient of sum(y * r).
"""
import json
import os

import numpy as np
import tensorflow as tf

rng = np.random.default_rng(20261129)


def draw(shape):
    return rng.uniform(-2, 2, size=shape).astype(np.float32).astype(np.float64)


def flat(a):
    return {"shape": list(a.shape), "data": [float(v) for v in np.asarray(a).reshape(-1)]}


cases = []

conv_configs = [
    # (input shape, filter shape, strides, padding, dilations, groups)
    ([2, 5, 5, 2], [3, 3, 2, 3], [1, 1], "VALID", [1, 1], 1),
    ([2, 5, 6, 1], [3, 3, 1, 4], [2, 2], "SAME", [1, 1], 1),
    ([1, 6, 5, 3], [2, 2, 3, 2], [1, 1], "SAME", [1, 1], 1),
    ([1, 7, 7, 2], [3, 3, 2, 2], [1, 1], "VALID", [2, 2], 1),
    ([2, 6, 7, 2], [3, 2, 2, 3], [2, 1], "SAME", [1, 1], 1),
    ([1, 4, 4, 3], [1, 1, 3, 5], [1, 1], "VALID", [1, 1], 1),
    ([2, 5, 5, 3], [3, 3, 1, 6], [1, 1], "SAME", [1, 1], 3),   # depthwise, multiplier 2
    ([1, 6, 6, 2], [3, 3, 1, 2], [2, 2], "SAME", [1, 1], 2),   # depthwise, multiplier 1
]
for xs, ws, strides, padding, dilations, groups in conv_configs:
    x, w = draw(xs), draw(ws)
    xt, wt = tf.constant(x), tf.constant(w)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([xt, wt])
        if groups == 1:
            y = tf.nn.conv2d(xt, wt, strides=[1] + strides + [1], padding=padding, dilations=[1] + dilations + [1])
        else:
            c = xs[3]
            dw = tf.reshape(wt, [ws[0], ws[1], c, ws[3] // c])
            y = tf.nn.depthwise_conv2d(xt, dw, strides=[1] + strides + [1], padding=padding, dilations=dilations)
        r = tf.constant(draw(y.shape.as_list()))
        loss = tf.reduce_sum(y * r)
    case = {
        "op": "conv2d", "strides": strides, "padding": padding.lower(), "dilations": dilations, "groups": groups,
        "x": flat(x), "w": flat(w), "r": flat(r.numpy()), "y": flat(y.numpy()),
    }
    # TensorFlow's CPU kernels have no gradients for dilations > 1 ("Current CPU implementations
    # do not yet support dilation rates larger than 1"): those cases check the forward value only.
    if dilations == [1, 1]:
        gx, gw = tape.gradient(loss, [xt, wt])
        case["dx"], case["dw"] = flat(gx.numpy()), flat(gw.numpy())
    cases.append(case)

transpose_configs = [
    # (output shape, filter shape [kh, kw, out_channels_of_transpose, in_channels], strides, padding)
    ([2, 7, 7, 2], [3, 3, 2, 3], [2, 2], "SAME"),
    ([1, 6, 5, 1], [2, 3, 1, 2], [2, 1], "VALID"),
    ([1, 8, 8, 3], [3, 3, 3, 2], [2, 2], "SAME"),
]
for outs, ws, strides, padding in transpose_configs:
    w = draw(ws)
    probe = tf.nn.conv2d(tf.zeros(outs, tf.float64), tf.constant(w), strides=[1] + strides + [1], padding=padding)
    dy = draw(probe.shape.as_list())
    y = tf.nn.conv2d_transpose(tf.constant(dy), tf.constant(w), output_shape=outs, strides=[1] + strides + [1], padding=padding)
    cases.append({
        "op": "conv2d_transpose", "strides": strides, "padding": padding.lower(), "dilations": [1, 1], "groups": 1,
        "output_shape": outs, "x": flat(dy), "w": flat(w), "y": flat(y.numpy()),
    })

pool_configs = [
    ([2, 6, 6, 3], [2, 2], [2, 2], "VALID"),
    ([1, 5, 7, 2], [3, 3], [2, 2], "SAME"),
    ([2, 5, 5, 4], [3, 2], [1, 2], "SAME"),
    ([1, 4, 5, 1], [2, 3], [1, 1], "VALID"),
]
for kind in ["max_pool", "avg_pool"]:
    for xs, window, strides, padding in pool_configs:
        x = draw(xs)
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            f = tf.nn.max_pool2d if kind == "max_pool" else tf.nn.avg_pool2d
            y = f(xt, ksize=window, strides=strides, padding=padding)
            r = tf.constant(draw(y.shape.as_list()))
            loss = tf.reduce_sum(y * r)
        gx = tape.gradient(loss, xt)
        cases.append({
            "op": kind, "window": window, "strides": strides, "padding": padding.lower(),
            "x": flat(x), "r": flat(r.numpy()), "y": flat(y.numpy()), "dx": flat(gx.numpy()),
        })

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Fixtures")
path = os.path.join(root, "conv_reference.json")
doc = {
    "source": "Scripts/reference/conv_fixture.py",
    "tensorflow": tf.__version__,
    "numpy": np.__version__,
    "cases": cases,
}
tmp = path + ".tmp"
with open(tmp, "w") as f:
    json.dump(doc, f, separators=(",", ":"))
    f.write("\n")
os.replace(tmp, path)
print(f"wrote {len(cases)} cases to {os.path.normpath(path)} (TensorFlow {tf.__version__})")
