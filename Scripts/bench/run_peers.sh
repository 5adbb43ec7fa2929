#!/usr/bin/env bash
# Measures Backprop and its peers side by side, in one run, on this machine, and prints the
# comparison table for BENCHMARKS.md. Not part of `swift test` or CI.
#   Scripts/bench/run_peers.sh            # creates .venv-bench/ (first run: several minutes)
# Peers from PyPI: tensorflow-cpu, jax, torch (CPU wheel), numpy, scikit-learn.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${VENV:-.venv-bench}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q tensorflow-cpu jax numpy scikit-learn threadpoolctl
  "$VENV/bin/pip" install -q "torch==2.*+cpu" || "$VENV/bin/pip" install -q torch
fi
swift build -c release --product backprop >/dev/null
out=$(mktemp -d)
# Same machine, same run: Backprop first, then each peer, then Backprop again.
.build/release/backprop bench --json --filter " step" --steps 200000 --repetitions 7 > "$out/backprop1.json"
TF_CPP_MIN_LOG_LEVEL=3 OMP_NUM_THREADS=2 "$VENV/bin/python" Scripts/bench/notebook_peers.py > "$out/peers.jsonl"
.build/release/backprop bench --json --filter " step" --steps 200000 --repetitions 7 > "$out/backprop2.json"
"$VENV/bin/python" Scripts/bench/compare.py "$out/backprop1.json" "$out/backprop2.json" "$out/peers.jsonl"
