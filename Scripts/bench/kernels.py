"""Kernels in NumPy: the `backprop bench` kernel workloads (SGEMM and DGEMM GFLOP/s at 64..2048, SGEMM at
the training shapes 32x64 by 64x128, 128x1600 by 1600x10, matrix-vector and vector-matrix;
elementwise GB/s: a*x+b at 1e6 and 1e7 float32, x+y, relu and sum at 1e6, layer normalization and
the maximum of each row of 256x1024, and whole operations on 256x1024: exp, log, sqrt, tanh, sigmoid,
softmaxes, sigmoid cross-entropy, log1p, softplus, argMax, concat, transpose) in NumPy/OpenBLAS.

Usage (the driver Scripts/bench/peers.sh runs it, with OPENBLAS_NUM_THREADS etc. set and
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed from the environment before NumPy is imported):
    python Scripts/bench/kernels.py [--repetitions 5] [--only WORKLOAD ...]

Prints one JSON line per workload (throughput: the median is the median repetition's
throughput, min-max the slowest and fastest repetition's), then one line with NumPy's thread
pools as threadpoolctl reports them. PAIRS says which Backprop workload each is compared with.
"""
import argparse

from common import emit

SIZES = [64, 128, 256, 512, 1024, 2048]
# (m, k, n) of an m×k by k×n product (BenchKernels.swift's trainingShapes).
TRAINING_SHAPES = [(32, 64, 128), (128, 1600, 10), (1024, 1024, 1), (1, 1024, 1024)]
# (m, k, n) with A stored k×m and transposed (BenchKernels.swift's transposedTrainingShapes).
TRANSPOSED_SHAPES = [(1600, 128, 10), (288, 15488, 64)]


def shape_name(m, k, n):
    return f"sgemm {m}x{k} by {k}x{n}"


# (Backprop workload, NumPy workload): GB/s counts 4 bytes per float read or written once
# (a*x+b: 8 bytes per element for both, although NumPy's expression makes two passes and a
# temporary).
# "a*x+b graph" is what Backprop's graph runs for `a * x + b` (a prepared step, x fed every
# call: two kernels); "one-pass kernel" is a fused kernel that no graph operation runs today.
PAIRS = [(f"{p} {n}x{n}x{n}", f"{p} {n}x{n}x{n}") for p in ("sgemm", "dgemm") for n in SIZES] + [
    (shape_name(*s), shape_name(*s)) for s in TRAINING_SHAPES] + [
    (shape_name(*s) + ", A transposed", shape_name(*s) + ", A transposed") for s in TRANSPOSED_SHAPES] + [
    ("a*x+b graph, 1e6 float32", "a*x+b expression, 1e6 float32"),
    ("a*x+b one-pass kernel, 1e6 float32", "a*x+b expression, 1e6 float32"),
    ("a*x+b two kernels, 1e6 float32", "a*x+b two ufuncs with out=, 1e6 float32"),
    ("a*x+b graph, 1e7 float32", "a*x+b expression, 1e7 float32"),
    ("a*x+b one-pass kernel, 1e7 float32", "a*x+b expression, 1e7 float32"),
    ("a*x+b two kernels, 1e7 float32", "a*x+b two ufuncs with out=, 1e7 float32"),
    ("x+y, 1e6 float32", "x+y, 1e6 float32"),
    ("relu, 1e6 float32", "relu, 1e6 float32"),
    ("sum, 1e6 float32", "sum, 1e6 float32"),
    ("layer norm 256x1024, float32", "layer norm 256x1024, float32"),
    ("max of each row 256x1024, float32", "max of each row 256x1024, float32"),
] + [(f"op {label}, 256x1024 float32", f"op {label}, 256x1024 float32") for label in (
    "exp", "log of abs(x)", "sqrt of abs(x)", "tanh", "sigmoid", "softmax, last axis", "log-softmax, last axis", "softmax, first axis",
    "sigmoid cross-entropy", "log1p of y", "softplus", "argMax, last axis", "concat, last axis", "transpose")]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repetitions", type=int, default=5)
    ap.add_argument("--only", action="append", metavar="WORKLOAD",
                    help="measure only this workload (its exact name; repeatable)")
    args = ap.parse_args()
    import time
    import numpy as np

    def measure(name, unit, work, calls, fn):
        if args.only and name not in args.only:
            return
        for _ in range(min(calls, 1000)):
            fn()
        per = []
        for _ in range(args.repetitions):
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            per.append((time.perf_counter() - t0) / calls)
        per.sort()
        emit(group="kernels", workload=name, system="NumPy", unit=unit,
             median=work / per[len(per) // 2], min=work / per[-1], max=work / per[0])

    rng = np.random.default_rng(11)
    for prefix, dtype, budget in (("sgemm", np.float32, 2**31), ("dgemm", np.float64, 2**30)):
        for n in SIZES:
            a = rng.uniform(-1, 1, (n, n)).astype(dtype)
            b = rng.uniform(-1, 1, (n, n)).astype(dtype)
            c = np.empty((n, n), dtype)
            measure(f"{prefix} {n}x{n}x{n}", "GFLOP/s", 2 * n**3 / 1e9, max(1, budget // n**3),
                    lambda: np.matmul(a, b, out=c))
    for m, k, n in TRAINING_SHAPES:
        a = rng.uniform(-1, 1, (m, k)).astype(np.float32)
        b = rng.uniform(-1, 1, (k, n)).astype(np.float32)
        c = np.empty((m, n), np.float32)
        measure(shape_name(m, k, n), "GFLOP/s", 2 * m * k * n / 1e9, max(1, 2**29 // (m * k * n)),
                lambda: np.matmul(a, b, out=c))
    for m, k, n in TRANSPOSED_SHAPES:
        a = rng.uniform(-1, 1, (k, m)).astype(np.float32)
        b = rng.uniform(-1, 1, (k, n)).astype(np.float32)
        c = np.empty((m, n), np.float32)
        measure(shape_name(m, k, n) + ", A transposed", "GFLOP/s", 2 * m * k * n / 1e9, max(1, 2**29 // (m * k * n)),
                lambda: np.matmul(a.T, b, out=c))
    for count, label in [(1_000_000, "1e6"), (10_000_000, "1e7")]:
        x = rng.uniform(-1, 1, count).astype(np.float32)
        t = np.empty_like(x)
        y = np.empty_like(x)
        sa, sb = np.float32(1.5), np.float32(-0.25)
        calls = max(1, 200_000_000 // count)
        gb = 8 * count / 1e9
        measure(f"a*x+b expression, {label} float32", "GB/s", gb, calls, lambda: sa * x + sb)

        def two():
            np.multiply(x, sa, out=t)
            np.add(t, sb, out=y)
        measure(f"a*x+b two ufuncs with out=, {label} float32", "GB/s", gb, calls, two)
    n = 1_000_000
    x = rng.uniform(-1, 1, n).astype(np.float32)
    z = rng.uniform(0.5, 2, n).astype(np.float32)
    o = np.empty_like(x)
    measure("x+y, 1e6 float32", "GB/s", 12 * n / 1e9, 200, lambda: np.add(x, z, out=o))
    measure("relu, 1e6 float32", "GB/s", 8 * n / 1e9, 200, lambda: np.maximum(x, np.float32(0), out=o))
    measure("sum, 1e6 float32", "GB/s", 4 * n / 1e9, 200, lambda: x.sum())
    # Layer normalization over the last axis (epsilon 1e-3, as Backprop's default), into a
    # preallocated output: mean, variance, then (x - mean) / sqrt(variance + epsilon).
    rows = rng.uniform(-1, 1, (256, 1024)).astype(np.float32)
    normalized = np.empty_like(rows)

    def layer_norm():
        mean = rows.mean(axis=1, keepdims=True)
        variance = rows.var(axis=1, keepdims=True)
        np.subtract(rows, mean, out=normalized)
        np.divide(normalized, np.sqrt(variance + np.float32(1e-3)), out=normalized)
    measure("layer norm 256x1024, float32", "GB/s", 8 * rows.size / 1e9, 2000, layer_norm)
    # Whole operations as NumPy users write them (BenchKernels.swift's operation rows), on x in
    # [-1, 1) and y in [0, 1), GB/s counting 8 bytes per element of x.
    ys = rng.uniform(0, 1, (256, 1024)).astype(np.float32)

    def softmax(a, axis):
        e = np.exp(a - a.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)

    def log_softmax(a):
        shifted = a - a.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    operations = {
        "exp": lambda: np.exp(rows),
        "log of abs(x)": lambda: np.log(np.abs(rows)),
        "sqrt of abs(x)": lambda: np.sqrt(np.abs(rows)),
        "tanh": lambda: np.tanh(rows),
        "sigmoid": lambda: 1 / (1 + np.exp(-rows)),
        "softmax, last axis": lambda: softmax(rows, 1),
        "log-softmax, last axis": lambda: log_softmax(rows),
        "softmax, first axis": lambda: softmax(rows, 0),
        "sigmoid cross-entropy": lambda: np.maximum(rows, 0) - rows * ys + np.log1p(np.exp(-np.abs(rows))),
        "log1p of y": lambda: np.log1p(ys),
        "softplus": lambda: np.maximum(rows, 0) + np.log1p(np.exp(-np.abs(rows))),
        "argMax, last axis": lambda: rows.argmax(axis=1).astype(np.float32),
        "concat, last axis": lambda: np.concatenate([rows, ys], axis=1),
        "transpose": lambda: np.ascontiguousarray(rows.T),
    }
    for label, fn in operations.items():
        measure(f"op {label}, 256x1024 float32", "GB/s", 8 * rows.size / 1e9, 300, fn)
    row_max = np.empty(256, np.float32)
    measure("max of each row 256x1024, float32", "GB/s", 4 * rows.size / 1e9, 2000,
            lambda: np.max(rows, axis=1, out=row_max))
    try:
        import threadpoolctl
        pools = [{k: p.get(k) for k in ("internal_api", "version", "num_threads", "threading_layer", "architecture")}
                 for p in threadpoolctl.threadpool_info()]
    except ImportError:
        pools = "threadpoolctl not installed"
    emit(group="kernels", info="threadpools", threadpools=pools)


if __name__ == "__main__":
    main()
