#!/bin/bash
# Data-parallel speed on this machine, in one run (BENCHMARKS.md, "Data-parallel training"):
# steps per second of 1 rank x 2 threads against 2 ranks x 1 thread on the same global batches
# of digits (64), the all-reduce's share of the step, and the fused all-reduce against a plain C
# MPI_Allreduce of the same bytes (the floor), plus ping-pong latency and bandwidth.
#   Scripts/mpi/bench.sh [EPOCHS]      (needs mpich, libmpich-dev: MPICH by name, whichever MPI is the
#   default mpiexec; builds release)
set -euo pipefail
cd "$(dirname "$0")/../.."
epochs=${1:-10}
swift build -c release --product backprop >/dev/null
bin=.build/release/backprop
floor=$(mktemp -d)/allreduce_floor
mpicc.mpich -O2 Scripts/mpi/allreduce_floor.c -o "$floor"
echo "== 1 rank x 2 threads, batch 64"
BACKPROP_NUM_THREADS=2 BACKPROP_MPI_STATS=1 mpiexec.hydra -n 1 "$bin" digits --distributed --quiet --epochs "$epochs" --batch-size 64 | grep -E "mpi-stats|test accuracy"
echo "== 2 ranks x 1 thread, batch 32 each (global 64)"
BACKPROP_NUM_THREADS=1 BACKPROP_MPI_STATS=1 mpiexec.hydra -n 2 "$bin" digits --distributed --quiet --epochs "$epochs" --batch-size 32 | grep -E "mpi-stats|test accuracy"
echo "== 1 rank x 2 threads, plain (no --distributed), batch 64"
BACKPROP_NUM_THREADS=2 "$bin" digits --quiet --epochs "$epochs" --batch-size 64 | tail -2
echo "== the floor: C MPI_Allreduce of the digits MLP's 9,610 floats and the CNN's 34,826, 2 ranks"
mpiexec.hydra -n 2 "$floor" 9610 2000
mpiexec.hydra -n 2 "$floor" 34826 1000
