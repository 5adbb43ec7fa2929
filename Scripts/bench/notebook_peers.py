"""Times one training step of the notebook's two recipes in the peers, as the notebook runs
them: batch 1, one fed sample per step.

Prints one JSON object per line: {"workload", "system", "median", "min", "max", "unit": "ns"}.
Run it through Scripts/bench/run_peers.sh, which creates the virtual environment.
"""
import json
import os
import statistics
import sys
import time

import numpy as np

STEPS = int(os.environ.get("PEER_STEPS", "2000"))
REPS = int(os.environ.get("PEER_REPS", "5"))
rng = np.random.default_rng(0)
X_REG = rng.normal(1, 0.1, 100)
X_CLS = np.concatenate((rng.normal(-1, 1, 50), rng.normal(3, 1, 50)))
Y_CLS = np.concatenate((np.repeat(0.0, 50), np.repeat(1.0, 50)))
INDEX = rng.integers(0, 100, STEPS)


def report(workload, system, step):
    """Runs `step(i)` STEPS times per repetition after a warm-up; reports ns per step."""
    for i in range(min(STEPS, 200)):
        step(i)
    times = []
    for _ in range(REPS):
        t0 = time.perf_counter_ns()
        for i in range(STEPS):
            step(i)
        times.append((time.perf_counter_ns() - t0) / STEPS)
    print(json.dumps({"workload": workload, "system": system, "median": statistics.median(times),
                      "min": min(times), "max": max(times), "unit": "ns"}), flush=True)


def tensorflow_peers():
    import tensorflow as tf
    tf1 = tf.compat.v1
    version = tf.__version__

    # The notebook verbatim, in TF1 graph mode.
    g = tf1.Graph()
    with g.as_default():
        x_data = tf1.placeholder(shape=[1], dtype=tf.float32)
        y_target = tf1.placeholder(shape=[1], dtype=tf.float32)
        A = tf1.Variable(tf1.random_normal(shape=[1]))
        loss = tf.square(tf.multiply(x_data, A) - y_target)
        train = tf1.train.GradientDescentOptimizer(0.02).minimize(loss)
        sess = tf1.Session(graph=g)
        sess.run(tf1.global_variables_initializer())
    report("regression step", f"TensorFlow {version} compat.v1 Session.run",
           lambda i: sess.run(train, feed_dict={x_data: [X_REG[INDEX[i]]], y_target: [10.0]}))

    g = tf1.Graph()
    with g.as_default():
        x_data = tf1.placeholder(shape=[1], dtype=tf.float32)
        y_target = tf1.placeholder(shape=[1], dtype=tf.float32)
        A = tf1.Variable(tf1.random_normal(mean=10, shape=[1]))
        out = tf.expand_dims(tf.add(x_data, A), 0)
        xent = tf.nn.sigmoid_cross_entropy_with_logits(logits=out, labels=tf.expand_dims(y_target, 0))
        train = tf1.train.GradientDescentOptimizer(0.05).minimize(xent)
        sess2 = tf1.Session(graph=g)
        sess2.run(tf1.global_variables_initializer())
    report("classification step", f"TensorFlow {version} compat.v1 Session.run",
           lambda i: sess2.run(train, feed_dict={x_data: [X_CLS[INDEX[i]]], y_target: [Y_CLS[INDEX[i]]]}))


def torch_peers():
    import torch
    torch.set_num_threads(2)
    a = torch.randn(1, requires_grad=True)

    def reg(i):
        x = torch.tensor([X_REG[INDEX[i]]], dtype=torch.float32)
        loss = torch.square(x * a - 10.0).sum()
        loss.backward()
        with torch.no_grad():
            a.sub_(0.02 * a.grad)
            a.grad.zero_()
    report("regression step", f"PyTorch {torch.__version__} eager", reg)

    b = (torch.randn(1) + 10).requires_grad_(True)

    def cls(i):
        x = torch.tensor([X_CLS[INDEX[i]]], dtype=torch.float32)
        y = torch.tensor([Y_CLS[INDEX[i]]], dtype=torch.float32)
        loss = torch.nn.functional.binary_cross_entropy_with_logits((x + b).unsqueeze(0), y.unsqueeze(0))
        loss.backward()
        with torch.no_grad():
            b.sub_(0.05 * b.grad)
            b.grad.zero_()
    report("classification step", f"PyTorch {torch.__version__} eager", cls)


def jax_peers():
    import jax
    import jax.numpy as jnp

    @jax.jit
    def reg_step(a, x, y):
        g = jax.grad(lambda a: jnp.sum(jnp.square(x * a - y)))(a)
        return a - 0.02 * g

    @jax.jit
    def cls_step(a, x, y):
        def loss(a):
            z = x + a
            return jnp.sum(jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z))))
        return a - 0.05 * jax.grad(loss)(a)

    state = {"a": jnp.array([0.5], dtype=jnp.float32), "b": jnp.array([10.0], dtype=jnp.float32)}
    xs = [jnp.array([v], dtype=jnp.float32) for v in X_REG]
    cx = [jnp.array([v], dtype=jnp.float32) for v in X_CLS]
    cy = [jnp.array([v], dtype=jnp.float32) for v in Y_CLS]
    ten = jnp.array([10.0], dtype=jnp.float32)

    def reg(i):
        state["a"] = reg_step(state["a"], xs[INDEX[i]], ten).block_until_ready()

    def cls(i):
        state["b"] = cls_step(state["b"], cx[INDEX[i]], cy[INDEX[i]]).block_until_ready()
    report("regression step", f"JAX {jax.__version__} jit", reg)
    report("classification step", f"JAX {jax.__version__} jit", cls)


if __name__ == "__main__":
    which = sys.argv[1:] or ["tensorflow", "torch", "jax"]
    for name in which:
        try:
            {"tensorflow": tensorflow_peers, "torch": torch_peers, "jax": jax_peers}[name]()
        except ImportError as e:
            print(json.dumps({"system": name, "error": str(e)}), flush=True)
