"""Shared by the peer benchmarks in Scripts/bench/: paths, the thread count, the timing loop, the
JSON-lines protocol between the peer scripts and the driver, and the digits data.

Not run on its own. The driver (Scripts/bench/peers.sh -> peers.py) runs each peer script
(steps.py, digits.py, kernels.py) in a child process with the thread settings already in its
environment; each child prints one JSON object per measured workload:

    {"group": "steps", "workload": ..., "system": ..., "median": ..., "min": ..., "max": ...,
     "unit": "ns" | "ms" | "GFLOP/s" | "GB/s", ...extra fields}
"""
import json
import os
import statistics
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BINARY = os.path.join(ROOT, ".build", "release", "backprop")


def threads():
    """The thread count every system gets: BENCH_THREADS, else the online cores of this process."""
    value = os.environ.get("BENCH_THREADS")
    if value:
        return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def emit(**record):
    """Prints one result (or an error record) for the driver."""
    print(json.dumps(record), flush=True)


def summary(values):
    """Median, min and max of a list of numbers, as the record fields."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def time_calls(fn, calls, repetitions, warmup):
    """Calls `fn(i)` for i in 0..<warmup, then `repetitions` times `calls` calls; returns the
    nanoseconds per call of each repetition."""
    for i in range(warmup):
        fn(i)
    per_call = []
    for _ in range(repetitions):
        start = time.perf_counter_ns()
        for i in range(calls):
            fn(i)
        per_call.append((time.perf_counter_ns() - start) / calls)
    return per_call


def load_digits(seed=0):
    """Data/digits.csv standardized with training-set statistics, a seeded 80/20 split (1438
    training rows), float32 inputs and int64 labels: (x_train, y_train, x_test, y_test)."""
    import numpy as np
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
