"""Digits MLP in the peers: milliseconds per training epoch of the `backprop digits` network.

The same workloads as `backprop digits`: the UCI digits in Data/digits.csv, standardized with
training-set statistics, an 80/20 split (1438 training rows), float32, Glorot-uniform kernels
and zero biases, ReLU, softmax cross-entropy, Adam at 1e-3, a new shuffled order every epoch,
the last smaller batch kept:

  64-128-10, batch 32        64-128-10, batch 256        64-256-256-10, batch 256

Each run trains EPOCHS epochs per workload (one round; the driver interleaves rounds of all
peers with Backprop's); the figure is the median time of one epoch's training steps over
epochs 2..N (the first epoch is warm-up and compilation; evaluation is excluded), with the
min-max over those epochs and the final test accuracy as a sanity check (the peers use their
own seeded split and initial weights, so their test sets differ from Backprop's).

Usage (the driver Scripts/bench/peers.sh runs it, with the thread settings in the environment):
    python Scripts/bench/digits.py tensorflow|jax|torch|torch1|numpy [--epochs 20]

Systems:
  TensorFlow tf.function  a Keras Sequential model and keras.optimizers.Adam, one tf.function
                          step per batch (batch gathered inside the step)
  Keras fit               the same model, model.compile + model.fit(batch_size, shuffle=True)
  JAX jit                 the network and Adam in jax.numpy, one jax.jit step per batch
  PyTorch eager           nn.Sequential of nn.Linear + nn.ReLU, torch.optim.Adam
                          (peer torch1: the same at one intra-op thread)
  NumPy                   a hand-written forward/backward pass with Adam (OpenBLAS)
"""
import argparse
import time

import numpy as np

from common import emit, load_digits, summary, threads

WORKLOADS = [("64-128-10, batch 32", [128], 32), ("64-128-10, batch 256", [128], 256),
             ("64-256-256-10, batch 256", [256, 256], 256)]


def glorot(rng, fan_in, fan_out):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32)


def keras_model(hidden):
    import keras
    keras.utils.set_random_seed(0)
    layers = [keras.Input(shape=(64,))]
    layers += [keras.layers.Dense(h, activation="relu", kernel_initializer="glorot_uniform") for h in hidden]
    layers.append(keras.layers.Dense(10, kernel_initializer="glorot_uniform"))
    return keras.Sequential(layers)


def keras_accuracy(model, xte, yte):
    return float((np.asarray(model(xte, training=False)).argmax(1) == yte).mean())


def bench_tf_function(hidden, batch, epochs, xtr, ytr, xte, yte):
    import keras
    import tensorflow as tf
    model = keras_model(hidden)
    opt = keras.optimizers.Adam(1e-3)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    x, y = tf.constant(xtr), tf.constant(ytr)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32)])
    def step(idx):
        xb, yb = tf.gather(x, idx), tf.gather(y, idx)
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    rng = np.random.default_rng(1)
    times = []
    for _ in range(epochs):
        perm = rng.permutation(len(xtr)).astype(np.int32)
        start = time.perf_counter()
        for s in range(0, len(xtr), batch):
            loss = step(tf.constant(perm[s:s + batch]))
        loss.numpy()
        times.append(time.perf_counter() - start)
    return times, keras_accuracy(model, xte, yte)


def bench_keras_fit(hidden, batch, epochs, xtr, ytr, xte, yte):
    import keras
    model = keras_model(hidden)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    times = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(xtr, ytr, batch_size=batch, epochs=epochs, shuffle=True, verbose=0, callbacks=[EpochTimer()])
    return times, keras_accuracy(model, xte, yte)


def bench_torch(hidden, batch, epochs, xtr, ytr, xte, yte):
    import torch
    torch.manual_seed(0)
    sizes = [64] + hidden + [10]
    layers = []
    for i in range(len(sizes) - 1):
        lin = torch.nn.Linear(sizes[i], sizes[i + 1])
        torch.nn.init.xavier_uniform_(lin.weight)
        torch.nn.init.zeros_(lin.bias)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    x, y = torch.from_numpy(xtr), torch.from_numpy(ytr)
    times = []
    g = torch.Generator().manual_seed(1)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        start = time.perf_counter()
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - start)
    with torch.no_grad():
        acc = (model(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean()
    return times, float(acc)


def bench_numpy(hidden, batch, epochs, xtr, ytr, xte, yte):
    rng = np.random.default_rng(0)
    sizes = [64] + hidden + [10]
    params = []
    for i in range(len(sizes) - 1):
        params += [glorot(rng, sizes[i], sizes[i + 1]), np.zeros(sizes[i + 1], np.float32)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    lr, b1, b2, eps, t = 1e-3, 0.9, 0.999, 1e-8, 0
    times = []

    def forward(xb):
        acts = [xb]
        h = xb
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i < len(params) - 2:
                h = np.maximum(h, 0)
            acts.append(h)
        return acts

    for _ in range(epochs):
        perm = rng.permutation(len(xtr))
        start = time.perf_counter()
        for s in range(0, len(xtr), batch):
            idx = perm[s:s + batch]
            xb, yb = xtr[idx], ytr[idx]
            acts = forward(xb)
            logits = acts[-1]
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            p[np.arange(len(yb)), yb] -= 1
            d = p / len(yb)
            grads = [None] * len(params)
            for i in range(len(params) - 2, -1, -2):
                grads[i] = acts[i // 2].T @ d
                grads[i + 1] = d.sum(0)
                if i > 0:
                    d = (d @ params[i].T) * (acts[i // 2] > 0)
            t += 1
            lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            for k in range(len(params)):
                m[k] = b1 * m[k] + (1 - b1) * grads[k]
                v[k] = b2 * v[k] + (1 - b2) * grads[k] * grads[k]
                params[k] -= lr_t * m[k] / (np.sqrt(v[k]) + eps)
        times.append(time.perf_counter() - start)
    acc = (forward(xte)[-1].argmax(1) == yte).mean()
    return times, float(acc)


def bench_jax(hidden, batch, epochs, xtr, ytr, xte, yte):
    """JAX: the same network and Adam update (as the NumPy peer), one `jax.jit`-compiled step
    per batch; the last, smaller batch compiles once more."""
    import jax
    import jax.numpy as jnp
    rng = np.random.default_rng(0)
    sizes = [64] + hidden + [10]
    params = []
    for i in range(len(sizes) - 1):
        params += [jnp.asarray(glorot(rng, sizes[i], sizes[i + 1])), jnp.zeros(sizes[i + 1], jnp.float32)]
    state = {"p": params, "m": [jnp.zeros_like(q) for q in params], "v": [jnp.zeros_like(q) for q in params],
             "t": jnp.zeros((), jnp.float32)}

    def logits_of(ps, xb):
        h = xb
        for i in range(0, len(ps), 2):
            h = h @ ps[i] + ps[i + 1]
            if i < len(ps) - 2:
                h = jnp.maximum(h, 0)
        return h

    def loss_of(ps, xb, yb):
        lg = logits_of(ps, xb)
        lse = jax.scipy.special.logsumexp(lg, axis=1)
        return jnp.mean(lse - jnp.take_along_axis(lg, yb[:, None], axis=1)[:, 0])

    x, y = jnp.asarray(xtr), jnp.asarray(ytr.astype(np.int32))

    @jax.jit
    def step(st, idx):
        # The batch is gathered inside the compiled step, from arrays already on the device.
        grads = jax.grad(loss_of)(st["p"], x[idx], y[idx])
        t = st["t"] + 1
        lr_t = 1e-3 * jnp.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        m = [0.9 * a + 0.1 * g for a, g in zip(st["m"], grads)]
        v = [0.999 * a + 0.001 * g * g for a, g in zip(st["v"], grads)]
        p = [q - lr_t * a / (jnp.sqrt(b) + 1e-8) for q, a, b in zip(st["p"], m, v)]
        return {"p": p, "m": m, "v": v, "t": t}

    times = []
    for _ in range(epochs):
        perm = jnp.asarray(rng.permutation(len(xtr)).astype(np.int32))
        start = time.perf_counter()
        for s0 in range(0, len(xtr), batch):
            state = step(state, perm[s0:s0 + batch])
        jax.block_until_ready(state["p"])
        times.append(time.perf_counter() - start)
    acc = float((np.asarray(logits_of(state["p"], jnp.asarray(xte))).argmax(1) == yte).mean())
    return times, acc


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
    "numpy": (None, [("NumPy", bench_numpy)]),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("peer", choices=sorted(PEERS))
    ap.add_argument("--epochs", type=int, default=20)
    args = ap.parse_args()
    if args.epochs < 2:
        ap.error("--epochs must be at least 2 (the first epoch is excluded as warm-up)")
    data = load_digits()
    setup, systems = PEERS[args.peer]
    try:
        if setup:
            setup()
        for workload, hidden, batch in WORKLOADS:
            for system, bench in systems:
                times, acc = bench(hidden, batch, args.epochs, *data)
                emit(group="digits", workload=workload, system=system, unit="ms", accuracy=acc,
                     **summary([t * 1000 for t in times[1:]]))
    except ImportError as e:
        emit(group="digits", system=args.peer, error=str(e))


if __name__ == "__main__":
    main()
