#!/bin/bash
# Checks that the committed optimizer reference values (Tests/TrainingTests/
# OptimizerReferenceValues.swift, which OptimizerReferenceTests compare the optimizers with)
# are still what Scripts/reference/optimizers.py prints: regenerates them with NumPy in a
# virtual environment and compares, ignoring the header line that names the NumPy version.
# Usage: Scripts/reference/check_optimizers.sh [venv directory=a temporary one]
# Needs python3 with venv and pip (PyPI); CI runs it (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${1:-$(mktemp -d)/venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import numpy' 2>/dev/null || "$venv/bin/pip" install --quiet numpy
out=$(mktemp)
"$venv/bin/python" Scripts/reference/optimizers.py >"$out"
committed=Tests/TrainingTests/OptimizerReferenceValues.swift
if diff <(grep -v 'NumPy [0-9]' "$committed") <(grep -v 'NumPy [0-9]' "$out") >/dev/null; then
  echo "optimizer reference values: $(grep -c . "$committed") lines match Scripts/reference/optimizers.py ($("$venv/bin/python" -c 'import numpy; print("NumPy", numpy.__version__)'))"
else
  diff <(grep -v 'NumPy [0-9]' "$committed") <(grep -v 'NumPy [0-9]' "$out") | head -20 >&2
  echo "the committed optimizer reference values differ from Scripts/reference/optimizers.py's output" >&2
  exit 1
fi
