"""Runs Backprop and its peers side by side, in one run, and writes the comparison into
BENCHMARKS.md (the region between `<!-- peers:begin -->` and `<!-- peers:end -->`).

Run it through Scripts/bench/peers.sh, which creates the virtual environment and builds the
release binary; its options are passed on:

    Scripts/bench/peers.sh [--quick] [--only steps|digits|kernels|cnn ...] [--no-write]

Groups (each peer runs in its own child process; Backprop is measured before the first round,
between rounds and after the last, in the same run, so both see the same machine load):
  steps    notebook steps, batch 1 (steps.py): `backprop bench --filter " step"`, including the
           hand-written Swift floor, against TensorFlow (compat.v1 Session.run, eager,
           tf.function), PyTorch eager, JAX jit
  digits   digits MLP epoch (digits.py): `backprop digits` against TensorFlow tf.function,
           Keras fit, JAX jit, PyTorch eager, NumPy
  kernels  SGEMM, DGEMM and elementwise throughput (kernels.py): `backprop bench --filter gemm` and
           `--filter float32` against NumPy/OpenBLAS
  cnn      the Keras example CNN (cnn.py), seconds per epoch of 60,000 images at batch 128:
           `backprop bench --filter cnn` (also the per-layer GFLOP/s of its kernels and SGEMM
           1024 as the peak) against TensorFlow tf.function, Keras fit, JAX jit, PyTorch eager

This file is the only place that knows the thread settings, describes the machine and writes
Markdown. The generated region is replaced atomically (temporary file, then rename); with
`--only`, the sections of the groups not run are kept as they were.
"""
import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

from common import BINARY, ROOT, threads

HERE = os.path.dirname(os.path.abspath(__file__))
GROUPS = ["steps", "digits", "kernels", "cnn"]
BEGIN, END = "<!-- peers:begin -->", "<!-- peers:end -->"
GROUP_MARK = "<!-- peers:group {} -->"

# Settings: full (the default) and --quick (a smoke run that checks the scripts end to end).
# Five kernel rounds (three until session 40): on the shared 2-core host a slow spell of a
# minute could take two of three rounds of one side of a product, and the medians' ratio with
# them (dgemm 1024 at 0.78 with its fastest runs at 0.95, in one run; 1.00 in the next).
FULL = dict(step_rounds=2, bp_steps=200_000, bp_reps=7, peer_steps=2000, peer_reps=5,
            digits_rounds=2, epochs=20, kernel_rounds=5, kernel_reps=5,
            cnn_rounds=1, cnn_steps=100, cnn_reps=3)
QUICK = dict(step_rounds=1, bp_steps=20_000, bp_reps=2, peer_steps=200, peer_reps=2,
             digits_rounds=1, epochs=3, kernel_rounds=1, kernel_reps=1,
             cnn_rounds=1, cnn_steps=10, cnn_reps=1)
PEERS = {"steps": ["tensorflow", "torch", "jax"], "digits": ["tensorflow", "jax", "torch", "torch1", "numpy"],
         "kernels": ["numpy"], "cnn": ["torch", "torch1", "tensorflow", "jax"]}


def log(message):
    print(f"[peers {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- machine, versions, threads

def bench_env():
    """The environment of every measured process: T threads everywhere (T = online cores)."""
    env = dict(os.environ)
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # set on some machines; they slow OpenBLAS down
        env.pop(k, None)
    t = str(threads())
    env.update(BENCH_THREADS=t, BACKPROP_NUM_THREADS=t, OMP_NUM_THREADS=t, OPENBLAS_NUM_THREADS=t,
               MKL_NUM_THREADS=t, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow",
               JAX_PLATFORMS="cpu", PYTHONDONTWRITEBYTECODE="1")
    return env


def thread_note():
    t = threads()
    return (f"{t} threads = the online cores, for every system: Backprop `BACKPROP_NUM_THREADS={t}` "
            f"(its matrix products split over the threads above 4M multiply-adds, and from 512K when that measures faster; the notebook steps "
            f"run on the calling thread); NumPy `OPENBLAS_NUM_THREADS=OMP_NUM_THREADS=MKL_NUM_THREADS={t}` "
            f"(OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed); PyTorch `torch.set_num_threads({t})` "
            f"(and, for the digits MLP and the CNN, a second row at `torch.set_num_threads(1)`, which can be "
            f"far faster on a small virtual machine); "
            f"TensorFlow intra-op threads {t} (`tf.config.threading`, and `ConfigProto` for compat.v1 "
            f"sessions), inter-op its default; JAX/XLA its default CPU thread pool (one thread per "
            f"online core, {t}).")


def first_line(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = "?"
    try:
        with open("/proc/meminfo") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("MemTotal"))
        memory = f"{kb / 2**20:.1f} GiB"
    except (OSError, StopIteration):
        pass
    system = f"{platform.system()} {platform.release()}"
    try:
        with open("/etc/os-release") as f:
            pretty = next(line.split("=", 1)[1].strip().strip('"') for line in f if line.startswith("PRETTY_NAME"))
        system = f"{pretty}, {system}"
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": threads(), "memory": memory, "os": system, "features": cpu_features(),
            "swift": first_line(["swift", "--version"])}


def machine_short():
    """The CPU's name with its family and model, for each section's "Measured" line (a section
    kept from an earlier run keeps the machine it was measured on)."""
    info = machine()
    family = info["features"].split(";")[0] if info["features"].startswith("family") else ""
    return f"{info['cpu']}" + (f" ({family})" if family else "")


def cpu_features():
    """The vector features the kernels choose between (from /proc/cpuinfo's first `flags` line,
    or the CPU family, family/model/stepping where known), and the data caches of cpu0 (sysfs)."""
    parts = []
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read().splitlines()
        flags = set(next(line.split(":", 1)[1].split() for line in info if line.startswith("flags")))
        family = next((line.split(":", 1)[1].strip() for line in info if line.startswith("cpu family")), None)
        model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model\t")), None)
        if family and model:
            parts.append(f"family {family} model {model}")
        wanted = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni"]
        have = [name for name in wanted if name in flags]
        parts.append("features " + " ".join(have) + ("" if "avx512f" in flags else " (no avx512f)"))
    except (OSError, StopIteration):
        pass
    caches = []
    for index in range(8):
        base = f"/sys/devices/system/cpu/cpu0/cache/index{index}"
        try:
            with open(f"{base}/level") as f:
                level = f.read().strip()
            with open(f"{base}/type") as f:
                kind = f.read().strip()
            with open(f"{base}/size") as f:
                size = f.read().strip()
        except OSError:
            break
        if kind != "Instruction":
            caches.append(f"L{level}{'d' if kind == 'Data' else ''} {size}")
    if caches:
        parts.append("caches " + ", ".join(caches))
    return "; ".join(parts)


def version(*dists):
    for d in dists:
        try:
            return importlib.metadata.version(d)
        except importlib.metadata.PackageNotFoundError:
            pass
    return None


def software():
    names = [("TensorFlow", ("tensorflow-cpu", "tensorflow")), ("Keras", ("keras",)), ("JAX", ("jax",)),
             ("jaxlib", ("jaxlib",)), ("PyTorch", ("torch",)), ("NumPy", ("numpy",)),
             ("scikit-learn", ("scikit-learn",)), ("threadpoolctl", ("threadpoolctl",))]
    found = [f"Python {platform.python_version()}"]
    found += [f"{label} {v}" if (v := version(*dists)) else f"{label} not installed" for label, dists in names]
    return found


def loadavg():
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


# ---------------------------------------------------------------- running

def run(cmd, env):
    return subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout


def run_peer(script, peer, args, env):
    """Runs one peer script; returns its records (an error record if it failed)."""
    cmd = [sys.executable, os.path.join(HERE, script)] + ([peer] if peer else []) + args
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    records = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    if p.returncode != 0:
        tail = " ".join(p.stderr.strip().splitlines()[-3:])
        records.append({"system": peer or script, "error": f"exit {p.returncode}: {tail}"})
    return records


STEP_SYSTEMS = {"Session.run": "Backprop Session.run", "prepared": "Backprop prepared step",
                "Session.run, scalar feeds": "Backprop Session.run, Swift numbers fed",
                "prepared, scalar feeds": "Backprop prepared step, Swift numbers fed",
                "hand-written Swift": "hand-written Swift loop (floor)", "eager": "Backprop eager",
                "eager compiled": "Backprop eager, compiled",
                "eager without backward cache": "Backprop eager, every gradient built on its tape"}


def backprop_steps(s, env):
    out = run([BINARY, "bench", "--json", "--filter", " step", "--steps", str(s["bp_steps"]),
               "--repetitions", str(s["bp_reps"])], env)
    records = []
    for r in json.loads(out):
        workload, variant = r["workload"].split(", ", 1)
        records.append(dict(r, workload=workload, system=STEP_SYSTEMS[variant]))
    return records


def backprop_digits(s, env):
    from digits import WORKLOADS
    records = []
    for workload, hidden, batch in WORKLOADS:
        out = run([BINARY, "digits", "--hidden", ",".join(map(str, hidden)), "--batch-size", str(batch),
                   "--epochs", str(s["epochs"]), "--quiet"], env)
        times, acc = [], None
        for line in out.splitlines():
            m = re.match(r"epoch\s+\d+/\d+\s+loss (\S+)\s+train (\S+)\s+test (\S+)\s+(\S+) ms", line)
            if m:
                times.append(float(m.group(4)))
                acc = float(m.group(3))
        if len(times) < 2:
            raise RuntimeError(f"could not read the epoch times of `backprop digits`:\n{out}")
        times = times[1:]  # the first epoch is warm-up, as for the peers
        records.append({"workload": workload, "system": "Backprop", "unit": "ms", "accuracy": acc,
                        "median": statistics.median(times), "min": min(times), "max": max(times)})
    # The same MLP trained eagerly (issue 16): a tape per batch, EagerOptimizer(Adam).
    out = run([BINARY, "bench", "--json", "--filter", "64-128-10, batch 32, eager",
               "--digits-epochs", str(s["epochs"])], env)
    for r in json.loads(out):
        m = re.search(r"test accuracy (\S+)\)", r["workload"])
        records.append({"workload": "64-128-10, batch 32", "system": "Backprop eager", "unit": "ms",
                        "accuracy": float(m.group(1)) if m else float("nan"),
                        "median": r["median"], "min": r["min"], "max": r["max"]})
    return records


def kernel_paths():
    """The instruction-set paths of Backprop's kernels this CPU has, best first (BACKPROP_ISA values)."""
    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    paths = []
    if "avx512f" in flags:
        paths.append("avx512")
    if {"avx2", "fma"} <= flags:
        paths.append("avx2")
    return paths + ["portable"]


def backprop_kernels(s, env):
    """The best path as "Backprop" (all kernel rows); every other path the CPU has as
    "Backprop <path>" (the matrix products only)."""
    records = []
    for filt in ("gemm", "float32"):
        out = run([BINARY, "bench", "--json", "--filter", filt, "--repetitions", str(s["kernel_reps"])], env)
        records += [dict(r, system="Backprop") for r in json.loads(out)]
    for path in kernel_paths()[1:]:
        out = run([BINARY, "bench", "--json", "--filter", "gemm", "--repetitions", str(s["kernel_reps"])],
                  dict(env, BACKPROP_ISA=path))
        records += [dict(r, system=f"Backprop {path}") for r in json.loads(out)]
    return records


CNN_WORKLOAD = "Keras example CNN, batch 128"
CNN_BN_WORKLOAD = "Keras example CNN with batch normalization, batch 128"
CNN_WORKLOADS = [CNN_WORKLOAD, CNN_BN_WORKLOAD]


def backprop_cnn(s, env):
    out = run([BINARY, "bench", "--json", "--filter", "cnn", "--repetitions", str(s["cnn_reps"]),
               "--cnn-steps", str(s["cnn_steps"])], env)
    out += run([BINARY, "bench", "--json", "--filter", "sgemm 1024x1024x1024", "--repetitions", str(s["cnn_reps"])], env)
    records = []
    for r in json.loads(out[:out.index("]") + 1]) + json.loads(out[out.index("]") + 1:]):
        if r["workload"].startswith("cnn epoch, "):
            r = dict(r, workload=r["workload"][len("cnn epoch, "):])
        elif r["workload"].startswith("cnn images/s, "):
            r = dict(r, workload=r["workload"][len("cnn images/s, "):] + " images/s")
        records.append(dict(r, system="Backprop"))
    return records


def measure_kernels(s, env):
    """The kernels group, interleaved by matrix product: per round, for each product, Backprop's
    best path, NumPy, then each other path of Backprop's, one process each, so that both sides
    of a ratio are measured within seconds of each other (a shared host's speed can move by 1.7x
    from one minute to the next: BENCHMARKS.md, session 12); then the elementwise rows, Backprop's
    and NumPy's, as one block each."""
    sys.path.insert(0, HERE)
    import kernels as numpy_kernels  # the workload names (PAIRS)
    products = [b for b, _ in numpy_kernels.PAIRS if "gemm" in b]
    elementwise = sorted({n for b, n in numpy_kernels.PAIRS if "gemm" not in b})
    reps = str(s["kernel_reps"])

    def backprop(filt, system, environment, exact=True):
        out = run([BINARY, "bench", "--json", "--filter", filt, "--repetitions", reps], environment)
        return [dict(r, system=system) for r in json.loads(out) if not exact or r["workload"] == filt]

    records = []
    haswell = haswell_comparison()
    for r in range(s["kernel_rounds"]):
        start = time.time()
        for w in products:
            records += backprop(w, "Backprop", env)
            records += run_peer("kernels.py", None, ["--repetitions", reps, "--only", w], env)
            for path in kernel_paths()[1:]:
                records += backprop(w, f"Backprop {path}", dict(env, BACKPROP_ISA=path))
                if path == "avx2" and haswell:
                    # What an AVX2-only machine compares (issue 13): OpenBLAS on its Haswell
                    # kernels, measured right after Backprop's AVX2 path on the same cores.
                    got = run_peer("kernels.py", None, ["--repetitions", reps, "--only", w],
                                   dict(env, OPENBLAS_CORETYPE="Haswell"))
                    records += [dict(g, system=HASWELL_SYSTEM, info="threadpools-haswell") if g.get("info") == "threadpools"
                                else dict(g, system=HASWELL_SYSTEM) for g in got]
        records += backprop("float32", "Backprop", env, exact=False)
        records += run_peer("kernels.py", None, ["--repetitions", reps] + [a for n in elementwise for a in ("--only", n)], env)
        errors = [g["error"] for g in records if "error" in g]
        log(f"kernels round {r + 1}/{s['kernel_rounds']}: {time.time() - start:.0f} s"
            + (f" (error: {errors[0][:200]})" if errors else ""))
    return records


HASWELL_SYSTEM = "NumPy Haswell"


def haswell_comparison():
    """Whether the kernels group also measures NumPy with OPENBLAS_CORETYPE=Haswell beside
    Backprop's AVX2 path: on a CPU with AVX-512, where both libraries would otherwise take their
    AVX-512 kernels, this is the AVX2-only machine's comparison of issue 13 on the same cores."""
    return kernel_paths()[:2] == ["avx512", "avx2"]


# Groups whose Backprop run comes before each peer's (not once per round): their Backprop runs
# are short, and a peer measured minutes after Backprop can meet another clock speed on a shared
# host (BENCHMARKS.md, session 12). The medians then span the same minutes on both sides.
INTERLEAVED = {"steps", "cnn"}


def measure_group(group, s, env):
    """Backprop, then every peer, per round (Backprop again before each peer for the groups in
    INTERLEAVED), and Backprop once more at the end (the kernels: `measure_kernels`)."""
    if group == "kernels":
        return measure_kernels(s, env)
    backprop = {"steps": backprop_steps, "digits": backprop_digits, "kernels": backprop_kernels,
                "cnn": backprop_cnn}[group]
    rounds = s[{"steps": "step_rounds", "digits": "digits_rounds", "kernels": "kernel_rounds",
                "cnn": "cnn_rounds"}[group]]
    script_args = {"steps": ["--steps", str(s["peer_steps"]), "--repetitions", str(s["peer_reps"])],
                   "digits": ["--epochs", str(s["epochs"])],
                   "kernels": ["--repetitions", str(s["kernel_reps"])],
                   "cnn": ["--steps", str(s["cnn_steps"]), "--repetitions", str(s["cnn_reps"])]}[group]
    records = []
    for r in range(rounds):
        for i, peer in enumerate(PEERS[group]):
            if i == 0 or group in INTERLEAVED:
                start = time.time()
                records += backprop(s, env)
                log(f"{group} round {r + 1}/{rounds}: Backprop {time.time() - start:.0f} s")
            start = time.time()
            got = run_peer(f"{group}.py", None if group == "kernels" else peer, script_args, env)
            records += got
            errors = [g["error"] for g in got if "error" in g]
            log(f"{group} round {r + 1}/{rounds}: {peer} {time.time() - start:.0f} s"
                + (f" (error: {errors[0][:200]})" if errors else ""))
    start = time.time()
    records += backprop(s, env)
    log(f"{group}: Backprop again {time.time() - start:.0f} s")
    return records


def aggregate(records):
    """(workload, system) -> the median of the runs' medians, the min of their mins, the max of
    their maxes, the number of runs and the extra fields of the last run."""
    runs = {}
    for r in records:
        if "error" not in r and "workload" in r:
            runs.setdefault((r["workload"], r["system"]), []).append(r)
    out = {}
    for key, rs in runs.items():
        out[key] = dict(rs[-1], median=statistics.median(x["median"] for x in rs),
                        min=min(x["min"] for x in rs), max=max(x["max"] for x in rs), runs=len(rs))
        allocs = [x["allocations_per_step"] for x in rs if x.get("allocations_per_step") is not None]
        if allocs:
            out[key]["allocations_per_step"] = max(allocs)
    return out


# ---------------------------------------------------------------- Markdown

def fmt_ns(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.3g} ms"
    return f"{ns / 1000:.3g} us" if ns >= 1000 else f"{ns:.3g} ns"


def fmt_num(x):
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def fmt_ratio(x):
    return f"{x:.3g}x" if x < 1000 else f"{x:.0f}x"


def errors_note(records):
    errs = {r["system"]: r["error"] for r in records if "error" in r}
    return [f"Not measured: {k} ({v[:300]})." for k, v in errs.items()]


def target_table(rows):
    lines = ["| target | measured | state |", "| --- | --- | --- |"]
    for target, measured, met in rows:
        lines.append(f"| {target} | {measured} | {'met' if met else 'missed'} |")
    return lines


def steps_section(res, records):
    lines = ["Ratios: peer time / Backprop time (above 1: Backprop is faster), against Backprop's "
             "`Session.run` and its prepared step.", ""]
    targets = []
    for kind in ("regression step", "classification step"):
        run, prep = res.get((kind, "Backprop Session.run")), res.get((kind, "Backprop prepared step"))
        if not run or not prep:
            continue
        lines += [f"#### {kind.capitalize()} (batch 1, one fed sample per step)", "",
                  "| system | median | min - max | time / Backprop Session.run | time / Backprop prepared |",
                  "| --- | --- | --- | --- | --- |"]
        # Backprop's rows, then the peers in the order they ran.
        systems = list(STEP_SYSTEMS.values()) + [s for (w, s) in res if w == kind and s not in STEP_SYSTEMS.values()]
        for system in systems:
            r = res.get((kind, system))
            if r:
                lines.append(f"| {system} | {fmt_ns(r['median'])} | {fmt_ns(r['min'])} - {fmt_ns(r['max'])} | "
                             f"{fmt_ratio(r['median'] / run['median'])} | {fmt_ratio(r['median'] / prep['median'])} |")
        numbers = (res.get((kind, STEP_SYSTEMS["Session.run, scalar feeds"])),
                   res.get((kind, STEP_SYSTEMS["prepared, scalar feeds"])))
        allocations = [f"{name} {r['allocations_per_step']}" for name, r in
                       (("Session.run", run), ("prepared", prep),
                        ("Session.run with numbers", numbers[0]), ("prepared with numbers", numbers[1]))
                       if r and r.get("allocations_per_step") is not None]
        lines += ["", f"Allocations per step: {', '.join(allocations)}.", ""]
        short = kind.split()[0]
        targets.append((f"{short} step through `Session.run` <= 1 us", fmt_ns(run["median"]), run["median"] <= 1000))
        for peer, factor in (("TensorFlow compat.v1 Session.run", 500), ("JAX jit", 20)):
            p = res.get((kind, peer))
            if p:
                ratio = p["median"] / run["median"]
                targets.append((f"{short}: >= {factor}x faster than {peer}", fmt_ratio(ratio), ratio >= factor))
        targets.append((f"{short} prepared step <= 0.15 us, zero allocations",
                        f"{fmt_ns(prep['median'])}, {prep['allocations_per_step']} allocations",
                        prep["median"] <= 150 and prep["allocations_per_step"] == 0))
        targets.append((f"{short} prepared step faster than Swift's compiler differentiation (0.32 us in the issue)",
                        fmt_ns(prep["median"]), prep["median"] < 320))
        # Issue 13's step targets: the session's own bookkeeping at most the prepared step's
        # cost again, and the prepared step within 4x of the hand-written floor.
        # The state is the medians'; the ratio of the minima is shown beside it, as the cost
        # without the host's noise (on a shared core the steps, at about 4 instructions per
        # cycle, slow down by up to 1.7x in stretches that the latency-bound floor does not feel).
        # Each feeding style on its own: one-element arrays (`NDArray`), and Swift numbers
        # (`[x: xs[i], y: 10]`, `setFeed(0, to: xs[i])`), as the notebook feeds Python numbers
        # and the floor reads them.
        floor = res.get((kind, "hand-written Swift loop (floor)"))
        for style, (r, p) in (("arrays fed", (run, prep)), ("Swift numbers fed", numbers)):
            if not r or not p:
                continue
            ratio = r["median"] / p["median"]
            targets.append((f"{short} `Session.run` <= 2x the prepared step, {style} (issue 13)",
                            f"{fmt_ratio(ratio)} (minima: {fmt_ratio(r['min'] / p['min'])})", ratio <= 2))
            if floor:
                ratio = p["median"] / floor["median"]
                targets.append((f"{short} prepared step within 4x of the hand-written loop, {style} (issue 13)",
                                f"{fmt_ratio(ratio)} (minima: {fmt_ratio(p['min'] / floor['min'])})", ratio <= 4))
        eager, compiled = res.get((kind, "Backprop eager")), res.get((kind, "Backprop eager, compiled"))
        torch_eager = res.get((kind, "PyTorch eager"))
        if eager and torch_eager:
            ratio = torch_eager["median"] / eager["median"]
            targets.append((f"{short} eager step >= 20x faster than PyTorch eager (issue 16)", fmt_ratio(ratio), ratio >= 20))
        if compiled:
            ratio = compiled["median"] / run["median"]
            targets.append((f"{short} compiled eager function <= 1.5x Backprop Session.run (issue 16)",
                            fmt_ratio(ratio), ratio <= 1.5))
    return lines + target_table(targets) + [""] + errors_note(records)


def digits_section(res, records):
    from digits import WORKLOADS
    lines = ["Milliseconds per epoch of training steps (epochs 2-N; evaluation excluded). Ratio: "
             "peer time / Backprop time (above 1: Backprop is faster). Test accuracy is a sanity "
             "check only (each peer has its own seeded split and initial weights).", "",
             "| workload | system | median ms/epoch | min - max | time / Backprop | test accuracy |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    targets = []
    for workload, _, _ in WORKLOADS:
        ours = res.get((workload, "Backprop"))
        if not ours:
            continue
        systems = ["Backprop"] + [s for s in ("Backprop eager", "TensorFlow tf.function", "Keras fit", "JAX jit",
                                              "PyTorch eager", "PyTorch eager, 1 thread", "NumPy")
                                  if (workload, s) in res]
        for system in systems:
            r = res[(workload, system)]
            lines.append(f"| {workload} | {system} | {r['median']:.2f} | {r['min']:.2f} - {r['max']:.2f} | "
                         f"{fmt_ratio(r['median'] / ours['median'])} | {r['accuracy']:.4f} |")
        peers = [res[(workload, s)] for s in systems[1:] if s != "Backprop eager"]
        if workload == "64-128-10, batch 32" and (workload, "JAX jit") in res:
            share = ours["median"] / res[(workload, "JAX jit")]["median"]
            targets.append((f"{workload}: at most half of JAX's time", f"{share:.2f} of JAX's time", share <= 0.5))
        if workload == "64-256-256-10, batch 256" and peers:
            fastest = min(peers, key=lambda r: r["median"])
            targets.append((f"{workload}: no slower than the fastest peer",
                            f"{ours['median'] / fastest['median']:.2f} of {fastest['system']}'s time",
                            ours["median"] <= fastest["median"]))
    return lines + [""] + target_table(targets) + [""] + errors_note(records)


def gemm_target(workload, path, against, ours, theirs):
    """Issue 13's target row for a matrix product: >= 0.9 of `against` at 64 and 128, >= 0.95
    from 256 to 2048 (the square products); no slower than it for the training shapes. The state
    is the medians' ratio; the ratio of the fastest repetitions is shown beside it, as the
    notebook steps show their minima: on a shared machine a slow spell in one system's runs moves
    the medians' ratio far more than it moves the best runs'."""
    ratio, best = ours["median"] / theirs["median"], ours["max"] / theirs["max"]
    measured = f"{ratio:.2f} (fastest runs: {best:.2f})"
    m = re.fullmatch(r"[sd]gemm (\d+)x\1x\1", workload)
    if m:
        goal = 0.9 if int(m.group(1)) <= 128 else 0.95
        return (f"{workload}{path} (issue 13): >= {goal:.2f} of {against}", measured, ratio >= goal)
    return (f"{workload}{path} (issue 13): no slower than {against}", measured, ratio >= 1.0)


def kernels_section(res, records):
    from kernels import PAIRS
    pools = next((r["threadpools"] for r in records if r.get("info") == "threadpools"), None)
    lines = ["Throughput (higher is better). Ratio: Backprop throughput / NumPy throughput (= NumPy time "
             "/ Backprop time; above 1: Backprop is faster). GB/s counts 4 bytes per float read or written "
             "once (a*x+b: 8 bytes per element for both, although NumPy's expression makes two passes and "
             f"a temporary). Backprop uses its own C kernels (no system BLAS), on the best path this CPU has "
             f"(`{kernel_paths()[0]}`); its other paths are in the second table.", "",
             f"NumPy's thread pools (threadpoolctl): `{json.dumps(pools)}`", "",
             "| Backprop workload | NumPy workload | unit | Backprop median (min-max) | NumPy median (min-max) | Backprop / NumPy |",
             "| --- | --- | --- | --- | --- | --- |"]
    targets = []
    for ours_name, np_name in PAIRS:
        b, n = res.get((ours_name, "Backprop")), res.get((np_name, "NumPy"))
        if not b or not n:
            continue
        ratio = b["median"] / n["median"]
        lines.append(f"| {ours_name} | {np_name} | {b['unit']} | {fmt_num(b['median'])} ({fmt_num(b['min'])}-{fmt_num(b['max'])}) "
                     f"| {fmt_num(n['median'])} ({fmt_num(n['min'])}-{fmt_num(n['max'])}) | {ratio:.2f} |")
        if re.fullmatch(r"[sd]gemm (\d+)x\1x\1", ours_name):
            targets.append(gemm_target(ours_name, "", "OpenBLAS", b, n))
        if ours_name.startswith("a*x+b graph"):
            targets.append((f"{ours_name} (what the graph runs): >= 80% of NumPy's GB/s", f"{ratio:.2f}", ratio >= 0.8))
        if " by " in ours_name:
            targets.append(gemm_target(ours_name, "", "NumPy", b, n))
    paths = kernel_paths()
    gemm_rows = [w for w, _ in PAIRS if "gemm" in w]
    haswell_rows = [w for w in gemm_rows if (w, HASWELL_SYSTEM) in res and (w, "Backprop avx2") in res]
    if haswell_rows:
        haswell_pools = next((r["threadpools"] for r in records if r.get("info") == "threadpools-haswell"), None)
        lines += ["", "The AVX2-only machine's comparison on these cores (issue 13): Backprop forced to its AVX2 "
                  "kernels (`BACKPROP_ISA=avx2`) against NumPy with OpenBLAS forced to its Haswell kernels "
                  "(`OPENBLAS_CORETYPE=Haswell`), measured one after the other per product, GFLOP/s medians "
                  f"(threadpoolctl: `{json.dumps(haswell_pools)}`):", "",
                  "| workload | Backprop avx2 (min-max) | NumPy Haswell (min-max) | avx2 / Haswell |", "| --- | ---: | ---: | ---: |"]
        for w in haswell_rows:
            b, n = res[(w, "Backprop avx2")], res[(w, HASWELL_SYSTEM)]
            ratio = b["median"] / n["median"]
            lines.append(f"| {w} | {fmt_num(b['median'])} ({fmt_num(b['min'])}-{fmt_num(b['max'])}) "
                         f"| {fmt_num(n['median'])} ({fmt_num(n['min'])}-{fmt_num(n['max'])}) | {ratio:.2f} |")
            targets.append(gemm_target(w, ", AVX2 path", "OpenBLAS Haswell", b, n))
    if len(paths) > 1 and any((w, f"Backprop {p}") in res for w in gemm_rows for p in paths[1:]):
        lines += ["", "Every path this CPU has (`BACKPROP_ISA=...`, same run, GFLOP/s medians; ratio: the best "
                  "path's / NumPy's, then each other path's / NumPy's):", "",
                  "| workload | " + " | ".join(paths) + " | NumPy | " + " | ".join(f"{p} / NumPy" for p in paths) + " |",
                  "| --- |" + " ---: |" * (2 * len(paths) + 1)]
        for w in gemm_rows:
            cells = [res.get((w, "Backprop" if i == 0 else f"Backprop {p}")) for i, p in enumerate(paths)]
            n = res.get((w, "NumPy"))
            if not n or not cells[0]:
                continue
            lines.append(f"| {w} | " + " | ".join(fmt_num(c["median"]) if c else "-" for c in cells)
                         + f" | {fmt_num(n['median'])} | "
                         + " | ".join(f"{c['median'] / n['median']:.2f}" if c else "-" for c in cells) + " |")
    generic = sorted(w for (w, s) in res if s == "Backprop" and "generic" in w)
    if generic:
        lines += ["", "The generic Swift loops that the C kernels replaced (Backprop only, same run, median):", "",
                  "| generic Swift loop | C kernel | unit | generic | C | C / generic |", "| --- | --- | --- | --- | --- | --- |"]
        for name in generic:
            c_name = (name.replace(" generic Swift zip", " two kernels") if name.startswith("a*x+b")
                      else re.sub(r" generic Swift \w+", "", name))
            g, c = res[(name, "Backprop")], res.get((c_name, "Backprop"))
            if c:
                lines.append(f"| {name} | {c_name} | {g['unit']} | {fmt_num(g['median'])} | {fmt_num(c['median'])} "
                             f"| {c['median'] / g['median']:.2f} |")
    return lines + [""] + target_table(targets) + [""] + errors_note(records)


def cnn_section(res, records):
    lines = ["Seconds per epoch of 60,000 synthetic 28x28x1 images at batch 128 (469 steps; time per step "
             "x 469) and images per second. Ratio: Backprop time / peer time (below 1: Backprop is faster). "
             "Backprop feeds each batch through a prepared step; every system builds the same model and "
             "optimizer (Sources/BackpropCommands/BenchCNN.swift, Scripts/bench/cnn.py).", "",
             "The second model puts batch normalization in training mode between each convolution and its ReLU "
             "(Keras's `BatchNormalization()`, PyTorch's `BatchNorm2d(eps=1e-3, momentum=0.01)`, JAX by hand; "
             "Backprop's `BatchNorm` layer, `backprop fashion --model cnn-bn`)."]
    targets = []
    for workload in CNN_WORKLOADS:
        ours = res.get((workload, "Backprop"))
        systems = ["Backprop"] + [s for s in ("PyTorch eager", "PyTorch eager, 1 thread", "TensorFlow tf.function", "Keras fit",
                                                       "JAX jit")
                                  if (workload, s) in res]
        if not ours:
            continue
        lines += ["", f"{workload}:", "",
                  "| system | median s/epoch | min - max | images/s | Backprop time / peer time |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        for system in systems:
            r = res.get((workload, system))
            if not r:
                continue
            ips = res.get((workload + " images/s", system))
            lines.append(f"| {system} | {r['median']:.2f} | {r['min']:.2f} - {r['max']:.2f} | "
                         f"{ips['median']:.0f} | {ours['median'] / r['median']:.2f} |" if ips else "")
        peers = [res[(workload, s)] for s in systems[1:]]
        if peers:
            fastest = min(peers, key=lambda r: r["median"])
            share = ours["median"] / fastest["median"]
            if workload == CNN_WORKLOAD:
                targets.append((f"Backprop's epoch <= 0.6x the fastest peer's (issue 11)",
                                f"{share:.2f}x {fastest['system']}'s", share <= 0.6))
            else:
                targets.append((f"with batch normalization: Backprop's epoch no slower than the fastest peer's",
                                f"{share:.2f}x {fastest['system']}'s", share <= 1.0))
    kernels = sorted((w, r) for (w, sys_), r in res.items() if sys_ == "Backprop" and w.startswith("cnn ") and r["unit"] == "GFLOP/s")
    peak = res.get(("sgemm 1024x1024x1024", "Backprop"))
    if kernels:
        lines += ["", "Backprop's kernels at the model's shapes (batch 128, float32, GFLOP/s = 2 flops per "
                  "multiply-add of the direct convolution, whatever form runs: conv2 takes the Winograd form "
                  "F(2x2, 3x3), which does 1.9x fewer, so its rows can pass the SGEMM peak; "
                  "pooling: one flop per element read), beside its SGEMM peak"
                  + (f" (sgemm 1024: {peak['median']:.1f} GFLOP/s)" if peak else "") + ":", "",
                  "| kernel | GFLOP/s median (min-max) | share of SGEMM 1024 |", "| --- | ---: | ---: |"]
        for w, r in kernels:
            share = f"{r['median'] / peak['median']:.2f}" if peak and "pool" not in w else ""
            lines.append(f"| {w[4:]} | {fmt_num(r['median'])} ({fmt_num(r['min'])}-{fmt_num(r['max'])}) | {share} |")
    return lines + [""] + target_table(targets) + [""] + errors_note(records)


TITLES = {"steps": "Notebook steps", "digits": "Digits MLP", "kernels": "Kernels", "cnn": "Convolutional network"}
SECTIONS = {"steps": steps_section, "digits": digits_section, "kernels": kernels_section, "cnn": cnn_section}


def settings_note(group, s):
    return {"steps": f"Backprop `backprop bench --json --filter \" step\" --steps {s['bp_steps']} --repetitions {s['bp_reps']}` (the repetitions taken in turns across its workloads); "
                     f"peers {s['peer_steps']} steps x {s['peer_reps']} repetitions after 200 warm-up steps; "
                     f"{s['step_rounds']} round(s)",
            "digits": f"`backprop digits --hidden H --batch-size B --epochs {s['epochs']} --quiet` and the peers "
                      f"{s['epochs']} epochs per workload; {s['digits_rounds']} round(s)",
            "kernels": f"per matrix product, `backprop bench --json --filter <product> --repetitions {s['kernel_reps']}`, "
                       f"NumPy's `kernels.py --only <product>` with the same repetitions, then Backprop with `BACKPROP_ISA` "
                       f"set to each other path ({', '.join(kernel_paths()[1:])})"
                       + (" and, after the avx2 path, NumPy with `OPENBLAS_CORETYPE=Haswell`" if haswell_comparison() else "")
                       + ", one process each, interleaved; "
                       f"then the elementwise rows (`--filter float32`); {s['kernel_rounds']} round(s)",
            "cnn": f"`backprop bench --json --filter cnn --cnn-steps {s['cnn_steps']} --repetitions {s['cnn_reps']}` and the "
                   f"peers {s['cnn_reps']} blocks of {s['cnn_steps']} steps after 5 warm-up steps; {s['cnn_rounds']} round(s)"}[group]


def group_section(group, records, s, stamp, quick):
    head = [GROUP_MARK.format(group), f"### {TITLES[group]}", "",
            f"Measured {stamp} on {machine_short()} by `{command()}`" + (" -- **quick smoke run (`--quick`): not for comparison**" if quick else "")
            + f". Settings: {settings_note(group, s)}.", ""]
    lines = head + SECTIONS[group](aggregate(records), records)
    while lines[-1] == "":
        lines.pop()
    return lines


def command():
    return os.environ.get("BENCH_COMMAND") or "Scripts/bench/peers.sh " + " ".join(sys.argv[1:])


def header(info, stamp, groups, elapsed, load_start, quick):
    m = info
    lines = [BEGIN, "<!-- Generated by Scripts/bench/peers.sh: everything down to peers:end is rewritten by each run. -->",
             "## Peers side by side (generated)", ""]
    if quick:
        lines += ["**Quick smoke run (`--quick`): short settings that only check the scripts end to end; "
                  "the numbers below are not for comparison.**", ""]
    lines += [f"- Last run: {stamp}, `{command()}` (groups: {', '.join(groups)}; {elapsed / 60:.1f} min). "
              "A section not measured in the last run keeps the date and command of its own run.",
              f"- Machine of the last run (each section names its own): {m['cpu']} ({m['features']}), {m['cores']} online cores, {m['memory']} memory; {m['os']}; load average "
              f"{load_start} at the start, {loadavg()} at the end (other jobs may share the machine: compare the "
              "ratios, measured in the same run, rather than absolute numbers).",
              f"- Software: {m['swift']}; Backprop release build (`swift build -c release --product backprop`); "
              + ", ".join(software()) + ".",
              f"- Threads: {thread_note()}",
              "- Method: each peer runs in its own process; per round, Backprop first, then each peer (the notebook steps and the CNN: "
              "Backprop again before each peer), and Backprop once more after the last round (the kernels: interleaved product by "
              "product, see their section). Median: the median over runs of each run's median; "
              "min - max: over all repetitions (epochs for the digits MLP) of all runs.", ""]
    return lines


def write_region(groups, sections, head):
    """Replaces the generated region of BENCHMARKS.md (appends it if missing), keeping the sections
    of the groups not measured in this run; atomic: a temporary file, then a rename."""
    path = os.path.join(ROOT, "BENCHMARKS.md")
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    old = {}
    # The markers count only on lines of their own (the prose may name them).
    begin = re.search("^" + re.escape(BEGIN) + "$", text, re.M)
    end_match = begin and re.compile("^" + re.escape(END) + "$", re.M).search(text, begin.end())
    if begin and end_match:
        start, end = begin.start(), end_match.end()
        region = text[start:end]
        for g in GROUPS:
            mark = GROUP_MARK.format(g)
            if mark in region:
                rest = region[region.index(mark):]
                stops = [rest.index(x) for x in [END] + [GROUP_MARK.format(h) for h in GROUPS if h != g] if x in rest]
                old[g] = rest[:min(stops)].rstrip("\n").splitlines()
    else:
        text = text.rstrip("\n") + "\n\n"
        start = end = len(text)
    body = list(head)
    for g in GROUPS:
        if g in sections:
            body += sections[g] + [""]
        elif g in old:
            body += old[g] + [""]
    body.append(END)
    new = text[:start] + "\n".join(body) + text[end:]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(new)
    os.replace(tmp, path)
    log(f"wrote {path}")


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short settings: a smoke run of the scripts")
    ap.add_argument("--only", action="append", choices=GROUPS, help="run only this group (repeatable)")
    ap.add_argument("--no-write", action="store_true", help="print the Markdown only; leave BENCHMARKS.md alone")
    args = ap.parse_args()
    groups = [g for g in GROUPS if g in (args.only or GROUPS)]
    s = QUICK if args.quick else FULL
    if not os.path.exists(BINARY):
        sys.exit(f"missing {BINARY}: swift build -c release --product backprop")
    env = bench_env()
    info = machine()
    load_start = loadavg()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    began = time.time()
    sections = {}
    for g in groups:
        start = time.time()
        records = measure_group(g, s, env)
        sections[g] = group_section(g, records, s, stamp, args.quick)
        log(f"{g} done in {time.time() - start:.0f} s")
    head = header(info, stamp, groups, time.time() - began, load_start, args.quick)
    print("\n".join(head + [line for g in groups for line in sections[g] + [""]] + [END]))
    if not args.no_write:
        write_region(groups, sections, head)


if __name__ == "__main__":
    main()
