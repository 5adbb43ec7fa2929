#!/usr/bin/env python3
"""Kernel benchmarks side by side: Backprop's `backprop bench` kernel workloads against NumPy.

Measures SGEMM GFLOP/s at 64..2048 and elementwise GB/s (a*x+b at 1e6 and 1e7 float32, plus
x+y, relu and sum at 1e6) in Backprop and in NumPy, alternating the two in rounds so both see the
same machine load, and writes the comparison into BENCHMARKS.md under "## Kernels".

Usage (from the repository root; not part of `swift test` or CI):
    swift build -c release --product backprop
    python3 Scripts/bench_kernels_peers.py [--rounds 3] [--repetitions 5] [--venv DIR] [--no-write]

NumPy runs with OPENBLAS_NUM_THREADS (and OMP/MKL) set to the same thread count as Backprop
(the online cores), and with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed from its environment
(set on some machines, they slow OpenBLAS down). `--venv DIR` creates a virtual environment with
numpy and threadpoolctl from PyPI and uses it; by default the running interpreter's numpy is used.
Ratios are NumPy time / Backprop time (= Backprop throughput / NumPy throughput): above 1 means
Backprop is faster.
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The NumPy side, run in a child process so that the environment applies before import.
NUMPY_CODE = r'''
import json, sys, time
import numpy as np
reps = int(sys.argv[1])
out = []
def measure(name, unit, work, calls, fn):
    for _ in range(min(calls, 1000)): fn()
    per = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(calls): fn()
        per.append((time.perf_counter() - t0) / calls)
    per.sort()
    out.append({"workload": name, "unit": unit, "median": work / per[len(per) // 2],
                "min": work / per[-1], "max": work / per[0]})
rng = np.random.default_rng(11)
for n in [64, 128, 256, 512, 1024, 2048]:
    a = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    b = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    c = np.empty((n, n), np.float32)
    measure(f"sgemm {n}x{n}x{n}", "GFLOP/s", 2 * n**3 / 1e9, max(1, 2**31 // n**3),
            lambda: np.matmul(a, b, out=c))
for count, label in [(1_000_000, "1e6"), (10_000_000, "1e7")]:
    x = rng.uniform(-1, 1, count).astype(np.float32)
    t = np.empty_like(x); y = np.empty_like(x)
    sa, sb = np.float32(1.5), np.float32(-0.25)
    calls = max(1, 200_000_000 // count)
    gb = 8 * count / 1e9
    measure(f"a*x+b expression, {label} float32", "GB/s", gb, calls, lambda: sa * x + sb)
    def two():
        np.multiply(x, sa, out=t); np.add(t, sb, out=y)
    measure(f"a*x+b two ufuncs with out=, {label} float32", "GB/s", gb, calls, two)
n = 1_000_000
x = rng.uniform(-1, 1, n).astype(np.float32)
z = rng.uniform(0.5, 2, n).astype(np.float32)
o = np.empty_like(x)
measure("x+y, 1e6 float32", "GB/s", 12 * n / 1e9, 200, lambda: np.add(x, z, out=o))
measure("relu, 1e6 float32", "GB/s", 8 * n / 1e9, 200, lambda: np.maximum(x, np.float32(0), out=o))
measure("sum, 1e6 float32", "GB/s", 4 * n / 1e9, 200, lambda: x.sum())
info = {"numpy": np.__version__}
try:
    import threadpoolctl
    info["threadpools"] = [{k: p.get(k) for k in ("internal_api", "version", "num_threads", "threading_layer", "architecture")}
                           for p in threadpoolctl.threadpool_info()]
except ImportError:
    info["threadpools"] = "threadpoolctl not installed"
print(json.dumps({"results": out, "info": info}))
'''

# Which Backprop workload each NumPy workload is compared with.
PAIRS = [(f"sgemm {n}x{n}x{n}", f"sgemm {n}x{n}x{n}") for n in [64, 128, 256, 512, 1024, 2048]] + [
    ("a*x+b fused, 1e6 float32", "a*x+b expression, 1e6 float32"),
    ("a*x+b two kernels, 1e6 float32", "a*x+b two ufuncs with out=, 1e6 float32"),
    ("a*x+b fused, 1e7 float32", "a*x+b expression, 1e7 float32"),
    ("a*x+b two kernels, 1e7 float32", "a*x+b two ufuncs with out=, 1e7 float32"),
    ("x+y, 1e6 float32", "x+y, 1e6 float32"),
    ("relu, 1e6 float32", "relu, 1e6 float32"),
    ("sum, 1e6 float32", "sum, 1e6 float32"),
]


def threads():
    return os.cpu_count() or 1


def numpy_env():
    env = dict(os.environ)
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        env.pop(k, None)
    t = str(threads())
    env.update(OPENBLAS_NUM_THREADS=t, OMP_NUM_THREADS=t, MKL_NUM_THREADS=t)
    return env


def run_numpy(python, reps):
    p = subprocess.run([python, "-c", NUMPY_CODE, str(reps)], env=numpy_env(), check=True,
                       capture_output=True, text=True)
    return json.loads(p.stdout)


def run_backprop(binary, reps):
    results = []
    for filt in ("sgemm", "float32"):
        p = subprocess.run([binary, "bench", "--json", "--filter", filt, "--repetitions", str(reps)],
                           check=True, capture_output=True, text=True)
        results += json.loads(p.stdout)
    return results


def make_venv(path):
    if not os.path.exists(os.path.join(path, "bin", "python")):
        subprocess.run([sys.executable, "-m", "venv", path], check=True)
        subprocess.run([os.path.join(path, "bin", "pip"), "install", "-q", "numpy", "threadpoolctl"], check=True)
    return os.path.join(path, "bin", "python")


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fmt(x):
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "backprop"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repetitions", type=int, default=5)
    ap.add_argument("--venv", help="create/use a virtual environment here for numpy")
    ap.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = ap.parse_args()
    python = make_venv(args.venv) if args.venv else sys.executable

    bp_rounds, np_rounds, info = [], [], None
    for r in range(args.rounds):  # alternate, so both sides see the same load
        bp_rounds.append({x["workload"]: x for x in run_backprop(args.binary, args.repetitions)})
        res = run_numpy(python, args.repetitions)
        info = res["info"]
        np_rounds.append({x["workload"]: x for x in res["results"]})
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    rows = []
    for bp_name, np_name in PAIRS:
        b = [rd[bp_name] for rd in bp_rounds if bp_name in rd]
        n = [rd[np_name] for rd in np_rounds if np_name in rd]
        if not b or not n:
            continue
        ratios = [x["median"] / y["median"] for x, y in zip(b, n)]
        rows.append({
            "backprop": bp_name, "numpy": np_name, "unit": b[0]["unit"],
            "bp_median": statistics.median(x["median"] for x in b),
            "bp_min": min(x["min"] for x in b), "bp_max": max(x["max"] for x in b),
            "np_median": statistics.median(x["median"] for x in n),
            "np_min": min(x["min"] for x in n), "np_max": max(x["max"] for x in n),
            "ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
        })
    # Backprop-only rows: the generic Swift loops the C kernels replaced.
    extra = []
    for name in sorted(bp_rounds[0]):
        if "generic" in name:
            c_name = name.replace(" generic Swift zip", " two kernels") if name.startswith("a*x+b") else \
                re.sub(r" generic Swift \w+", "", name)
            g = statistics.median(rd[name]["median"] for rd in bp_rounds)
            c = statistics.median(rd[c_name]["median"] for rd in bp_rounds if c_name in rd)
            extra.append((name, c_name, g, c, bp_rounds[0][name]["unit"]))

    try:
        loadavg = open("/proc/loadavg").read().split()[:3]
    except OSError:
        loadavg = ["?"]
    lines = [
        "## Kernels",
        "",
        f"Measured {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')} on {cpu_name()}, {threads()} online cores, "
        f"{platform.system()} {platform.release()}; load average at the end {' '.join(loadavg)} "
        "(other jobs shared the machine: compare ratios, which were measured in the same rounds, "
        "rather than absolute numbers).",
        "",
        "Commands: `swift build -c release --product backprop` then "
        f"`python3 Scripts/bench_kernels_peers.py --rounds {args.rounds} --repetitions {args.repetitions}`"
        + (f" --venv {args.venv}" if args.venv else "") + ". "
        f"Each round runs `backprop bench --json --filter sgemm` and `--filter float32`, then the same "
        f"workloads in NumPy {info['numpy']} (OPENBLAS_NUM_THREADS={threads()}, OPENBLAS_CORETYPE and "
        f"OPENBLAS_L2_SIZE unset). Backprop's matrix products use {threads()} threads above 4M multiply-adds "
        "(BACKPROP_NUM_THREADS overrides), its own AVX2+FMA C kernels (no system BLAS).",
        "",
        f"NumPy's thread pools (threadpoolctl): `{json.dumps(info['threadpools'])}`",
        "",
        "Throughput: median over the rounds of each round's median; min-max over all repetitions. "
        "Ratio = NumPy time / Backprop time (Backprop's throughput / NumPy's, per round; median and "
        "min-max over rounds): above 1 means Backprop is faster. GB/s counts 4 bytes per float read "
        "or written once (a*x+b: 8 bytes per element for both, although NumPy's expression makes "
        "two passes and a temporary).",
        "",
        "| Backprop workload | NumPy workload | unit | Backprop median (min-max) | NumPy median (min-max) | ratio (min-max) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(f"| {r['backprop']} | {r['numpy']} | {r['unit']} | {fmt(r['bp_median'])} ({fmt(r['bp_min'])}-{fmt(r['bp_max'])}) "
                     f"| {fmt(r['np_median'])} ({fmt(r['np_min'])}-{fmt(r['np_max'])}) "
                     f"| {r['ratio']:.2f} ({r['ratio_min']:.2f}-{r['ratio_max']:.2f}) |")
    if extra:
        lines += ["", "The generic Swift loops that the C kernels replaced, same rounds (median):", "",
                  "| generic Swift loop | C kernel | unit | generic | C | C / generic |", "| --- | --- | --- | --- | --- | --- |"]
        for name, c_name, g, c, unit in extra:
            lines.append(f"| {name} | {c_name} | {unit} | {fmt(g)} | {fmt(c)} | {c / g:.2f} |")
    section = "\n".join(lines) + "\n"
    print(section)
    if args.no_write:
        return
    path = os.path.join(ROOT, "BENCHMARKS.md")
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    notes_marker = "<!-- kernels: notes below are kept by bench_kernels_peers.py -->"
    m = re.search(r"^## Kernels\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
    notes = ""
    if m and notes_marker in m.group(0):
        notes = m.group(0)[m.group(0).index(notes_marker):]
    new = section + ("\n" + notes if notes else "\n" + notes_marker + "\n\n")
    text = text[:m.start()] + new + text[m.end():] if m else text.rstrip("\n") + "\n\n" + new
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
