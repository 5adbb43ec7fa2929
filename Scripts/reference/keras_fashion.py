#!/usr/bin/env python3
"""The Keras example CNN trained on Fashion-MNIST by Keras itself, for the accuracy that
`backprop fashion` is measured against (issue 11): Conv2D(32, 3x3) + ReLU, MaxPool 2,
Conv2D(64, 3x3) + ReLU, MaxPool 2, Flatten, Dropout 0.5, Dense(10); softmax cross-entropy, Adam
at 1e-3, batch 128, pixels / 255, all 60,000 training images (no validation split), the test
accuracy after every epoch. `--learning-rate 5e-3 --lr-decay cosine` is `backprop fashion`'s
default recipe (Adam from 5e-3 with Keras's CosineDecay to 0 over all the steps of the run).

  python3 Scripts/reference/keras_fashion.py [--seed S] [--epochs 15] [--data DIR]
      [--learning-rate 1e-3] [--lr-decay none|cosine]

Set up: python3 -m venv /work/venvs/formats && /work/venvs/formats/bin/pip install tensorflow-cpu
"""
import argparse
import gzip
import os

import numpy as np


def idx(path):
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(raw[3])]
    return np.frombuffer(raw[4 + 4 * len(dims):], np.uint8).reshape(dims)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--lr-decay", choices=["none", "cosine"], default="none")
    a = p.parse_args()
    import tensorflow as tf
    import keras
    keras.utils.set_random_seed(a.seed)
    f = lambda name: os.path.join(a.data, name)
    x = idx(f("train-images-idx3-ubyte.gz")).astype("float32")[..., None] / 255
    y = idx(f("train-labels-idx1-ubyte.gz")).astype("int32")
    xt = idx(f("t10k-images-idx3-ubyte.gz")).astype("float32")[..., None] / 255
    yt = idx(f("t10k-labels-idx1-ubyte.gz")).astype("int32")
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(), keras.layers.Dropout(0.5), keras.layers.Dense(10),
    ])
    rate = a.learning_rate
    if a.lr_decay == "cosine":
        steps = a.epochs * -(-len(x) // 128)
        rate = keras.optimizers.schedules.CosineDecay(a.learning_rate, decay_steps=steps, alpha=0.0)
    model.compile(optimizer=keras.optimizers.Adam(rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, seed {a.seed}, Adam {a.learning_rate} ({a.lr_decay} decay)")
    for epoch in range(a.epochs):
        h = model.fit(x, y, batch_size=128, epochs=1, verbose=0, shuffle=True)
        _, acc = model.evaluate(xt, yt, batch_size=500, verbose=0)
        print(f"epoch {epoch + 1:2d}/{a.epochs}  loss {h.history['loss'][0]:.4f}  train {h.history['accuracy'][0]:.4f}  test {acc:.4f}", flush=True)


if __name__ == "__main__":
    main()
