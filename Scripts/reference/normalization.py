#!/usr/bin/env python3
"""Writes Tests/Fixtures/normalization_reference.json: batch and layer normalization computed by
TensorFlow/Keras on seeded inputs, for Tests/TrainingTests/NormalizationReferenceTests.swift.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install tensorflow-cpu numpy
    /tmp/venv/bin/python Scripts/reference/normalization.py

Made with tensorflow-cpu 2.21.0 (Keras 3), numpy 2.4.
"""
import json
import os

import numpy as np
import tensorflow as tf

rng = np.random.default_rng(2026)
out = {"tensorflow": tf.__version__}

# Layer normalization over the last axis, Keras's LayerNormalization(epsilon=1e-3).
x = rng.uniform(-2, 2, size=(3, 5)).astype(np.float32)
gamma = rng.uniform(0.5, 1.5, size=(5,)).astype(np.float32)
beta = rng.uniform(-0.5, 0.5, size=(5,)).astype(np.float32)
ln = tf.keras.layers.LayerNormalization(epsilon=1e-3)
ln.build(x.shape)
ln.set_weights([gamma, beta])
out["layer_norm"] = {
    "x": x.ravel().tolist(), "shape": list(x.shape), "gamma": gamma.tolist(), "beta": beta.tolist(),
    "epsilon": 1e-3, "y": ln(x).numpy().ravel().tolist(),
}

# Batch normalization, channels last, momentum 0.9: one training call (batch statistics, moving
# averages updated once), then an inference call on another batch (moving averages).
x = rng.uniform(-2, 2, size=(4, 3, 3, 2)).astype(np.float32) * np.array([1.0, 3.0], np.float32) + np.array([0.5, -1.0], np.float32)
x2 = rng.uniform(-2, 2, size=(2, 3, 3, 2)).astype(np.float32)
gamma = rng.uniform(0.5, 1.5, size=(2,)).astype(np.float32)
beta = rng.uniform(-0.5, 0.5, size=(2,)).astype(np.float32)
bn = tf.keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-3)
bn.build(x.shape)
bn.set_weights([gamma, beta, np.zeros(2, np.float32), np.ones(2, np.float32)])
y_train = bn(x, training=True).numpy()
moving_mean, moving_variance = bn.moving_mean.numpy(), bn.moving_variance.numpy()
y_infer = bn(x2, training=False).numpy()
out["batch_norm"] = {
    "x": x.ravel().tolist(), "shape": list(x.shape), "x2": x2.ravel().tolist(), "shape2": list(x2.shape),
    "gamma": gamma.tolist(), "beta": beta.tolist(), "momentum": 0.9, "epsilon": 1e-3,
    "y_train": y_train.ravel().tolist(), "moving_mean": moving_mean.tolist(),
    "moving_variance": moving_variance.tolist(), "y_inference": y_infer.ravel().tolist(),
}

path = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "normalization_reference.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print("wrote", os.path.normpath(path))
