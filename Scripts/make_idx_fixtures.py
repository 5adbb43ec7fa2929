#!/usr/bin/env python3
"""Writes Tests/Fixtures/fashion-mini/: a tiny data set in the four IDX files of the MNIST layout
(the format of http://yann.lecun.com/exdb/mnist/, "FILE FORMATS FOR THE MNIST DATABASE"), for the
IDX reader and Fashion-MNIST recipe tests. Plain Python (struct, gzip, random), seeded.

Images are 28x28 unsigned bytes: class k (0-9) is a bright horizontal bar on rows 2k+4..2k+5
plus a few random dim dots, so a small model learns it in a few steps. 200 training images
(gzip-compressed files, as the distributed ones) and 50 test images (plain files).
"""
import gzip
import os
import random
import struct

root = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "fashion-mini")
os.makedirs(root, exist_ok=True)
rng = random.Random(2026)


def images_and_labels(n):
    labels = [rng.randrange(10) for _ in range(n)]
    pixels = bytearray()
    for k in labels:
        img = bytearray(28 * 28)
        for r in (2 * k + 4, 2 * k + 5):
            for c in range(4, 24):
                img[r * 28 + c] = 200 + rng.randrange(56)
        for _ in range(6):
            img[rng.randrange(28 * 28)] = rng.randrange(80)
        pixels += img
    return bytes(pixels), bytes(labels)


def idx(type_code, dims, payload):
    return struct.pack(">BBBB", 0, 0, type_code, len(dims)) + b"".join(struct.pack(">I", d) for d in dims) + payload


def write(name, data, compress):
    path = os.path.join(root, name + (".gz" if compress else ""))
    if compress:
        data = gzip.compress(data, mtime=0)
    with open(path, "wb") as f:
        f.write(data)


train_x, train_y = images_and_labels(200)
test_x, test_y = images_and_labels(50)
write("train-images-idx3-ubyte", idx(0x08, [200, 28, 28], train_x), True)
write("train-labels-idx1-ubyte", idx(0x08, [200], train_y), True)
write("t10k-images-idx3-ubyte", idx(0x08, [50, 28, 28], test_x), False)
write("t10k-labels-idx1-ubyte", idx(0x08, [50], test_y), False)
print("wrote", os.path.normpath(root), "labels", train_y[:10], test_y[:10])
