#!/usr/bin/env python3
"""Digits MLP: milliseconds per training epoch in Backprop and its peers, measured in one run.

Workloads (the same as `backprop digits`): the UCI digits in Data/digits.csv, standardized with
training-set statistics, an 80/20 split (1438 training rows), float32, Glorot-uniform kernels and
zero biases, ReLU, softmax cross-entropy, Adam at 1e-3, a new shuffled order every epoch, the
last smaller batch kept:

  mlp-128-b32    64-128-10,      batch 32
  mlp-128-b256   64-128-10,      batch 256
  mlp-256x2-b256 64-256-256-10,  batch 256

Each peer trains EPOCHS epochs (default 20) per workload, ROUNDS times (default 3, peers
interleaved); a round's figure is the median time of one epoch's training steps (epochs 2..N,
so one-time warm-up is excluded; evaluation excluded); the table gives the median over rounds,
the minimum epoch time seen, and the final test accuracy as a sanity check.

Peers:
  backprop  the release binary (.build/release/backprop digits ...), which prints each epoch's time
  torch     PyTorch (CPU) eager mode: nn.Sequential of nn.Linear + nn.ReLU, torch.optim.Adam
  numpy     a hand-written NumPy MLP with Adam (one matmul per layer and pass)

Usage (Scripts/bench_peers.sh sets up .venv-bench and runs this):
  python Scripts/bench_peers.py [--epochs 20] [--rounds 3] [--peers backprop,torch,numpy] [--markdown]
"""
import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
WORKLOADS = [("mlp-128-b32", [128], 32), ("mlp-128-b256", [128], 256), ("mlp-256x2-b256", [256, 256], 256)]


def load_digits(seed=0):
    data = np.loadtxt(os.path.join(ROOT, "Data", "digits.csv"), delimiter=",", dtype=np.float64)
    x, y = data[:, :-1], data[:, -1].astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(0.2 * len(x)))
    test, train = order[:n_test], order[n_test:]
    mean = x[train].mean(axis=0)
    std = x[train].std(axis=0)
    std[std == 0] = 1
    z = ((x - mean) / std).astype(np.float32)
    return z[train], y[train], z[test], y[test]


def glorot(rng, fan_in, fan_out):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32)


def bench_backprop(hidden, batch, epochs):
    binary = os.path.join(ROOT, ".build", "release", "backprop")
    if not os.path.exists(binary):
        raise RuntimeError("build it first: swift build -c release --product backprop")
    cmd = [binary, "digits", "--hidden", ",".join(map(str, hidden)), "--batch-size", str(batch),
           "--epochs", str(epochs)]
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    times, acc = [], None
    for line in out.splitlines():
        m = re.match(r"epoch\s+\d+/\d+\s+loss (\S+)\s+train (\S+)\s+test (\S+)\s+(\S+) ms", line)
        if m:
            times.append(float(m.group(4)) / 1000)
            acc = float(m.group(3))
    return times, acc


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--peers", default="backprop,jax,torch,numpy")
    parser.add_argument("--rounds", type=int, default=3,
                        help="repeat every (workload, peer) this many times, interleaved; report the median round")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is excluded as warm-up)")
    peers = args.peers.split(",")
    xtr, ytr, xte, yte = load_digits()
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    if "jax" in peers:
        import jax
        versions["jax"] = jax.__version__
    if "torch" in peers:
        import torch
        versions["torch"] = f"{torch.__version__} ({torch.get_num_threads()} threads)"
    rows = []
    for name, hidden, batch in WORKLOADS:
        results = {peer: [] for peer in peers}
        for _ in range(args.rounds):
            for peer in peers:
                if peer == "backprop":
                    times, acc = bench_backprop(hidden, batch, args.epochs)
                elif peer == "torch":
                    times, acc = bench_torch(hidden, batch, args.epochs, xtr, ytr, xte, yte)
                elif peer == "numpy":
                    times, acc = bench_numpy(hidden, batch, args.epochs, xtr, ytr, xte, yte)
                elif peer == "jax":
                    times, acc = bench_jax(hidden, batch, args.epochs, xtr, ytr, xte, yte)
                else:
                    parser.error(f"unknown peer {peer!r}")
                results[peer].append((statistics.median(times[1:]) * 1000, min(times[1:]) * 1000, acc))
        for peer in peers:
            medians = [r[0] for r in results[peer]]
            ms, mn, acc = statistics.median(medians), min(r[1] for r in results[peer]), results[peer][-1][2]
            rows.append((name, peer, ms, mn, acc))
            print(f"{name:15s} {peer:9s} median {ms:8.2f} ms/epoch  min {mn:8.2f}  "
                  f"rounds {', '.join(f'{m:.2f}' for m in medians)}  test accuracy {acc:.4f}",
                  file=sys.stderr, flush=True)
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {cpu}, {os.cpu_count()} cpus, load average at the end {load};",
          ", ".join(f"{k} {v}" for k, v in versions.items()))
    if args.markdown:
        print("\n| workload | peer | median ms/epoch | min ms/epoch | test accuracy |")
        print("|---|---|---:|---:|---:|")
        for name, peer, ms, mn, acc in rows:
            print(f"| {name} | {peer} | {ms:.2f} | {mn:.2f} | {acc:.4f} |")
    else:
        for name, peer, ms, mn, acc in rows:
            print(f"{name} {peer} {ms:.2f} {mn:.2f} {acc:.4f}")


if __name__ == "__main__":
    main()
