#!/usr/bin/env bash
# Digits MLP benchmark against peers: creates .venv-bench/ (gitignored) with NumPy, the CPU build
# of PyTorch and safetensors from PyPI, builds the release `backprop`, then runs
# Scripts/bench_peers.py (arguments are passed on, e.g. --epochs 20 --markdown).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-bench
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
# torch==2.13.0+cpu is the CPU-only wheel served by the package index here (no CUDA libraries).
"$VENV/bin/python" -c 'import numpy, torch, safetensors, jax' 2>/dev/null \
  || "$VENV/bin/pip" install --quiet numpy safetensors jax 'torch==2.13.0+cpu'
swift build -c release --product backprop
exec "$VENV/bin/python" Scripts/bench_peers.py "$@"
