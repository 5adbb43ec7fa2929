#!/usr/bin/env bash
# Backprop and its peers side by side, in one run: creates the virtual environment, builds the
# release binary and runs Scripts/bench/peers.py, which measures the three groups (notebook
# steps, digits MLP, kernels) with Backprop in the same run as TensorFlow, Keras, JAX, PyTorch
# and NumPy, and rewrites the generated region of BENCHMARKS.md. Not part of `swift test` or CI.
#
# Usage (from anywhere in the repository):
#   Scripts/bench/peers.sh                    # full run (about 18-23 minutes on 2 cores)
#   Scripts/bench/peers.sh --quick --no-write # smoke run: short settings, print only
#   Scripts/bench/peers.sh --only digits      # one group (repeatable); other sections are kept
#
# VENV (default .venv-bench/, gitignored) is created on the first run with tensorflow-cpu, jax,
# torch (the CPU wheel), numpy, scikit-learn, safetensors and threadpoolctl from PyPI (several
# minutes); an existing environment is used as it is.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${VENV:-.venv-bench}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q tensorflow-cpu jax numpy scikit-learn safetensors threadpoolctl
  # torch==2.13.0+cpu is the CPU-only wheel served by the package index here (no CUDA libraries).
  "$VENV/bin/pip" install -q 'torch==2.13.0+cpu' || "$VENV/bin/pip" install -q torch
fi
swift build -c release --product backprop >&2
command="Scripts/bench/peers.sh${*:+ $*}"
if [ "$VENV" != .venv-bench ]; then command="VENV=$VENV $command"; fi
BENCH_COMMAND="$command" PYTHONDONTWRITEBYTECODE=1 exec "$VENV/bin/python" Scripts/bench/peers.py "$@"
