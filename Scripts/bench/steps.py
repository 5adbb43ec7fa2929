"""Notebook steps in the peers: one training step of the notebook's two recipes (regression:
x * A against 10, squared error, gradient descent at 0.02; classification: sigmoid
cross-entropy of x + A, gradient descent at 0.05), batch 1, one fed sample per step, as the
notebook runs them.

Usage (the driver Scripts/bench/peers.sh runs it, with the thread settings in the environment):
    python Scripts/bench/steps.py tensorflow|torch|jax [--steps 2000] [--repetitions 5]

Prints one JSON line per (workload, system) with nanoseconds per step (see common.py).
Systems: TensorFlow compat.v1 Session.run with feed_dict (the notebook verbatim), TensorFlow
eager (GradientTape), TensorFlow tf.function, PyTorch eager with a manual update, JAX jit and
JAX without jit.
"""
import argparse

import numpy as np

from common import emit, summary, threads, time_calls

rng = np.random.default_rng(0)
X_REG = rng.normal(1, 0.1, 100)
X_CLS = np.concatenate((rng.normal(-1, 1, 50), rng.normal(3, 1, 50)))
Y_CLS = np.concatenate((np.repeat(0.0, 50), np.repeat(1.0, 50)))


def tensorflow_peers(report):
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads())
    tf1 = tf.compat.v1
    config = tf1.ConfigProto(intra_op_parallelism_threads=threads())

    # The notebook verbatim, in TF1 graph mode.
    g = tf1.Graph()
    with g.as_default():
        x_data = tf1.placeholder(shape=[1], dtype=tf.float32)
        y_target = tf1.placeholder(shape=[1], dtype=tf.float32)
        A = tf1.Variable(tf1.random_normal(shape=[1]))
        loss = tf.square(tf.multiply(x_data, A) - y_target)
        train = tf1.train.GradientDescentOptimizer(0.02).minimize(loss)
        sess = tf1.Session(graph=g, config=config)
        sess.run(tf1.global_variables_initializer())
    report("regression step", "TensorFlow compat.v1 Session.run",
           lambda i: sess.run(train, feed_dict={x_data: [X_REG[i % 100]], y_target: [10.0]}))

    g = tf1.Graph()
    with g.as_default():
        x_data = tf1.placeholder(shape=[1], dtype=tf.float32)
        y_target = tf1.placeholder(shape=[1], dtype=tf.float32)
        A = tf1.Variable(tf1.random_normal(mean=10, shape=[1]))
        out = tf.expand_dims(tf.add(x_data, A), 0)
        xent = tf.nn.sigmoid_cross_entropy_with_logits(logits=out, labels=tf.expand_dims(y_target, 0))
        train = tf1.train.GradientDescentOptimizer(0.05).minimize(xent)
        sess2 = tf1.Session(graph=g, config=config)
        sess2.run(tf1.global_variables_initializer())
    report("classification step", "TensorFlow compat.v1 Session.run",
           lambda i: sess2.run(train, feed_dict={x_data: [X_CLS[i % 100]], y_target: [Y_CLS[i % 100]]}))

    # TF2: the same steps eagerly (GradientTape) and as one tf.function.
    xr = [tf.constant([v], tf.float32) for v in X_REG]
    xc = [tf.constant([v], tf.float32) for v in X_CLS]
    yc = [tf.constant([v], tf.float32) for v in Y_CLS]
    ten = tf.constant([10.0], tf.float32)

    def reg_step(a, x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(x * a - y))
        a.assign_sub(0.02 * tape.gradient(loss, a))

    def cls_step(a, x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(
                logits=tf.expand_dims(x + a, 0), labels=tf.expand_dims(y, 0)))
        a.assign_sub(0.05 * tape.gradient(loss, a))

    for label, wrap in (("TensorFlow eager (GradientTape)", lambda f: f),
                        ("TensorFlow tf.function", tf.function)):
        a, b = tf.Variable([0.5]), tf.Variable([10.0])
        reg, cls = wrap(reg_step), wrap(cls_step)
        report("regression step", label, lambda i: reg(a, xr[i % 100], ten))
        report("classification step", label, lambda i: cls(b, xc[i % 100], yc[i % 100]))


def torch_peers(report):
    import torch
    torch.set_num_threads(threads())
    a = torch.randn(1, requires_grad=True)

    def reg(i):
        x = torch.tensor([X_REG[i % 100]], dtype=torch.float32)
        loss = torch.square(x * a - 10.0).sum()
        loss.backward()
        with torch.no_grad():
            a.sub_(0.02 * a.grad)
            a.grad.zero_()
    report("regression step", "PyTorch eager", reg)

    b = (torch.randn(1) + 10).requires_grad_(True)

    def cls(i):
        x = torch.tensor([X_CLS[i % 100]], dtype=torch.float32)
        y = torch.tensor([Y_CLS[i % 100]], dtype=torch.float32)
        loss = torch.nn.functional.binary_cross_entropy_with_logits((x + b).unsqueeze(0), y.unsqueeze(0))
        loss.backward()
        with torch.no_grad():
            b.sub_(0.05 * b.grad)
            b.grad.zero_()
    report("classification step", "PyTorch eager", cls)


def jax_peers(report):
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

    # Without jit: every step traces and dispatches operation by operation (JAX's eager mode).
    def reg_eager(i):
        a = state["ae"]
        g = jax.grad(lambda a: jnp.sum(jnp.square(xs[i % 100] * a - ten)))(a)
        state["ae"] = (a - 0.02 * g).block_until_ready()

    def cls_eager(i):
        b, x, y = state["be"], cx[i % 100], cy[i % 100]

        def loss(b):
            z = x + b
            return jnp.sum(jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z))))
        state["be"] = (b - 0.05 * jax.grad(loss)(b)).block_until_ready()
    state["ae"], state["be"] = state["a"], state["b"]
    report("regression step", "JAX without jit", reg_eager)
    report("classification step", "JAX without jit", cls_eager)

    def reg(i):
        state["a"] = reg_step(state["a"], xs[i % 100], ten).block_until_ready()

    def cls(i):
        state["b"] = cls_step(state["b"], cx[i % 100], cy[i % 100]).block_until_ready()
    report("regression step", "JAX jit", reg)
    report("classification step", "JAX jit", cls)


PEERS = {"tensorflow": tensorflow_peers, "torch": torch_peers, "jax": jax_peers}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("peer", choices=sorted(PEERS))
    ap.add_argument("--steps", type=int, default=2000, help="steps per timed repetition")
    ap.add_argument("--repetitions", type=int, default=5)
    args = ap.parse_args()
    # A fixed pseudo-random sample order, as the notebook draws one sample per step.
    order = np.random.default_rng(1).integers(0, 100, max(args.steps, 200))

    def report(workload, system, step):
        per_step = time_calls(lambda i: step(int(order[i])), args.steps, args.repetitions,
                              warmup=min(args.steps, 200))
        emit(group="steps", workload=workload, system=system, unit="ns", **summary(per_step))

    try:
        PEERS[args.peer](report)
    except ImportError as e:
        emit(group="steps", system=args.peer, error=str(e))


if __name__ == "__main__":
    main()
