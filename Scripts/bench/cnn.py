"""The Keras example CNN in the peers, without and with batch normalization: seconds per epoch
of 60,000 28x28x1 images, batch 128.

The model of `backprop bench`'s cnn group (Sources/BackpropCommands/BenchCNN.swift) and of the
Keras MNIST example: Conv2D(32, 3x3) + ReLU, MaxPool 2, Conv2D(64, 3x3) + ReLU, MaxPool 2,
Flatten, Dropout 0.5, Dense(10), softmax cross-entropy on the logits, Adam at 1e-3, batch 128,
float32, Glorot-uniform kernels and zero biases. The second model puts batch normalization in
training mode between each convolution and its ReLU (Keras's BatchNormalization(): momentum 0.99,
epsilon 1e-3, the moving averages updated every step; `backprop fashion --model cnn-bn`). Data:
60,000 synthetic images in [0, 1) and random labels (timing only), a fresh batch every step.

Each run warms up for 5 steps (tracing, compilation, buffers), then times REPETITIONS blocks of
STEPS steps; the figure is seconds per epoch = time per step x 469 (60,000 / 128 rounded up)
and images per second, median and min-max over the blocks.

Usage (the driver Scripts/bench/peers.sh runs it, with the thread settings in the environment):
    python Scripts/bench/cnn.py tensorflow|jax|torch|torch1 [--steps 100] [--repetitions 3] [--models cnn,cnn-bn]

Systems:
  TensorFlow tf.function  a Keras Sequential model and keras.optimizers.Adam, one tf.function
                          step per batch (the batch sliced inside the step)
  Keras fit               the same model, model.compile + model.fit (epochs of STEPS batches;
                          the first epoch is warm-up)
  JAX jit                 jax.lax.conv_general_dilated (NHWC, HWIO) and reduce_window, Adam in
                          jax.numpy, one jax.jit step per batch
  PyTorch eager           nn.Sequential of nn.Conv2d, nn.MaxPool2d, nn.Dropout, nn.Linear (NCHW),
                          torch.optim.Adam (peer torch1: the same at one intra-op thread)
Batch normalization: keras.layers.BatchNormalization, nn.BatchNorm2d(eps=1e-3, momentum=0.01)
(PyTorch's momentum is the new value's weight) and, in JAX, the batch's mean and biased variance
over N, H, W with the moving averages carried in the jitted step's state.
"""
import argparse
import time

import numpy as np

from common import emit, summary, threads

IMAGES, BATCH = 60_000, 128
STEPS_PER_EPOCH = (IMAGES + BATCH - 1) // BATCH
WORKLOADS = {"cnn": "Keras example CNN, batch 128", "cnn-bn": "Keras example CNN with batch normalization, batch 128"}


def data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((IMAGES, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, size=IMAGES).astype(np.int32)
    return x, y


def timed(step, steps, repetitions):
    """Warm-up, then per-step seconds of each block (`step(i)` returns something to wait on)."""
    out = None
    for i in range(5):
        out = step(i)
    wait(out)
    blocks, i = [], 5
    for _ in range(repetitions):
        start = time.perf_counter()
        for _ in range(steps):
            out = step(i)
            i += 1
        wait(out)
        blocks.append((time.perf_counter() - start) / steps)
    return blocks


def wait(out):
    if out is None:
        return
    if hasattr(out, "block_until_ready"):
        out.block_until_ready()
    elif hasattr(out, "numpy"):
        out.numpy()
    elif hasattr(out, "item"):
        out.item()


def keras_model(bn):
    import keras
    keras.utils.set_random_seed(0)
    layers = keras.layers

    def block(filters):
        if bn:
            return [layers.Conv2D(filters, 3), layers.BatchNormalization(), layers.ReLU(), layers.MaxPooling2D(2)]
        return [layers.Conv2D(filters, 3, activation="relu"), layers.MaxPooling2D(2)]

    return keras.Sequential([keras.Input(shape=(28, 28, 1))] + block(32) + block(64) + [
        layers.Flatten(), layers.Dropout(0.5), layers.Dense(10),
    ])


def bench_tf_function(x, y, steps, repetitions, bn):
    import keras
    import tensorflow as tf
    model = keras_model(bn)
    opt = keras.optimizers.Adam(1e-3)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    xs, ys = tf.constant(x), tf.constant(y)

    @tf.function(input_signature=[tf.TensorSpec([], tf.int32)])
    def step(start):
        xb, yb = xs[start:start + BATCH], ys[start:start + BATCH]
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    return timed(lambda i: step(tf.constant((i % (IMAGES // BATCH)) * BATCH, tf.int32)), steps, repetitions)


def bench_keras_fit(x, y, steps, repetitions, bn):
    import keras
    model = keras_model(bn)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    n = steps * BATCH
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append((time.perf_counter() - self.start) / steps)

    model.fit(x[:n], y[:n], batch_size=BATCH, epochs=repetitions + 1, shuffle=True, verbose=0, callbacks=[Timer()])
    return times[1:]


def bench_torch(x, y, steps, repetitions, bn):
    import torch
    from torch import nn
    torch.manual_seed(0)

    def block(cin, filters):
        if bn:
            return [nn.Conv2d(cin, filters, 3), nn.BatchNorm2d(filters, eps=1e-3, momentum=0.01), nn.ReLU(), nn.MaxPool2d(2)]
        return [nn.Conv2d(cin, filters, 3), nn.ReLU(), nn.MaxPool2d(2)]

    model = nn.Sequential(*block(1, 32), *block(32, 64), nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10))
    for m in model:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    yt = torch.from_numpy(y.astype(np.int64))
    model.train()

    def step(i):
        s = (i % (IMAGES // BATCH)) * BATCH
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xt[s:s + BATCH]), yt[s:s + BATCH])
        loss.backward()
        opt.step()
        return loss.detach()

    return timed(step, steps, repetitions)


def bench_jax(x, y, steps, repetitions, bn):
    import jax
    import jax.numpy as jnp
    from jax import lax

    def glorot(key, shape, fan_in, fan_out):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return jax.random.uniform(key, shape, jnp.float32, -limit, limit)

    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    params = {
        "w1": glorot(keys[0], (3, 3, 1, 32), 9, 288), "b1": jnp.zeros(32),
        "w2": glorot(keys[1], (3, 3, 32, 64), 288, 576), "b2": jnp.zeros(64),
        "w3": glorot(keys[2], (1600, 10), 1600, 10), "b3": jnp.zeros(10),
    }
    if bn:
        params.update({"g1": jnp.ones(32), "be1": jnp.zeros(32), "g2": jnp.ones(64), "be2": jnp.zeros(64)})
    moving = {"m1": jnp.zeros(32), "v1": jnp.ones(32), "m2": jnp.zeros(64), "v2": jnp.ones(64)}
    dn = ("NHWC", "HWIO", "NHWC")

    def conv(h, w, b, norm=None):
        h = lax.conv_general_dilated(h, w, (1, 1), "VALID", dimension_numbers=dn) + b
        if norm is not None:
            gamma, beta, stats = norm
            mean = jnp.mean(h, axis=(0, 1, 2))
            var = jnp.mean(jnp.square(h - mean), axis=(0, 1, 2))
            stats.append((mean, var))
            h = (h - mean) * lax.rsqrt(var + 1e-3) * gamma + beta
        return jax.nn.relu(h)

    def pool(h):
        return lax.reduce_window(h, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")

    def loss_fn(p, xb, yb, key):
        stats = []
        h = pool(conv(xb, p["w1"], p["b1"], (p["g1"], p["be1"], stats) if bn else None))
        h = pool(conv(h, p["w2"], p["b2"], (p["g2"], p["be2"], stats) if bn else None))
        h = h.reshape(h.shape[0], -1)
        keep = jax.random.bernoulli(key, 0.5, h.shape)
        h = jnp.where(keep, h / 0.5, 0)
        logits = h @ p["w3"] + p["b3"]
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), yb[:, None], axis=1)), stats

    b1, b2, eps, lr = 0.9, 0.999, 1e-7, 1e-3

    @jax.jit
    def step(p, m, v, t, avg, xb, yb, key):
        (loss, stats), g = jax.value_and_grad(loss_fn, has_aux=True)(p, xb, yb, key)
        if bn:
            avg = {"m1": 0.99 * avg["m1"] + 0.01 * stats[0][0], "v1": 0.99 * avg["v1"] + 0.01 * stats[0][1],
                   "m2": 0.99 * avg["m2"] + 0.01 * stats[1][0], "v2": 0.99 * avg["v2"] + 0.01 * stats[1][1]}
        t = t + 1
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
        a = lr * jnp.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        p = jax.tree_util.tree_map(lambda p, m, v: p - a * m / (jnp.sqrt(v) + eps), p, m, v)
        return p, m, v, t, avg, loss

    xs, ys = jnp.asarray(x), jnp.asarray(y)
    state = {"p": params, "m": jax.tree_util.tree_map(jnp.zeros_like, params),
             "v": jax.tree_util.tree_map(jnp.zeros_like, params), "t": jnp.float32(0), "avg": moving, "key": keys[3]}

    def one(i):
        s = (i % (IMAGES // BATCH)) * BATCH
        state["key"], sub = jax.random.split(state["key"])
        state["p"], state["m"], state["v"], state["t"], state["avg"], loss = step(
            state["p"], state["m"], state["v"], state["t"], state["avg"], xs[s:s + BATCH], ys[s:s + BATCH], sub)
        return loss

    return timed(one, steps, repetitions)


def tensorflow_setup():
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads())


def torch_setup():
    import torch
    torch.set_num_threads(threads())


def torch_one_thread_setup():
    # PyTorch at one intra-op thread as well: on a 2-vCPU virtual machine its two OpenMP threads
    # can be 15x slower than one (2026-12-02: digits 64-128-10 at batch 256, 247 against 16 ms
    # per epoch under load), so the faster of the two settings is always in the table.
    import torch
    torch.set_num_threads(1)


PEERS = {
    "tensorflow": (tensorflow_setup, [("TensorFlow tf.function", bench_tf_function), ("Keras fit", bench_keras_fit)]),
    "jax": (None, [("JAX jit", bench_jax)]),
    "torch": (torch_setup, [("PyTorch eager", bench_torch)]),
    "torch1": (torch_one_thread_setup, [("PyTorch eager, 1 thread", bench_torch)]),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("peer", choices=sorted(PEERS))
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repetitions", type=int, default=3)
    ap.add_argument("--models", default="cnn,cnn-bn", help="comma-separated: cnn, cnn-bn")
    args = ap.parse_args()
    models = args.models.split(",")
    if not models or any(m not in WORKLOADS for m in models):
        ap.error(f"--models: each of {sorted(WORKLOADS)}, got {args.models!r}")
    x, y = data()
    setup, systems = PEERS[args.peer]
    try:
        if setup:
            setup()
        for model in models:
            for system, bench in systems:
                per_step = bench(x, y, args.steps, args.repetitions, model == "cnn-bn")
                epochs = [s * STEPS_PER_EPOCH for s in per_step]
                emit(group="cnn", workload=WORKLOADS[model], system=system, unit="s", **summary(epochs))
                emit(group="cnn", workload=WORKLOADS[model] + " images/s", system=system, unit="images/s",
                     **summary([IMAGES / e for e in epochs]))
    except ImportError as e:
        emit(group="cnn", system=args.peer, error=str(e))


if __name__ == "__main__":
    main()
