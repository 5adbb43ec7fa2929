#!/bin/bash
# A/B of the convolution and pooling kernels: builds bench.c against the kernels of two commits
# (default: HEAD~1 and the working tree) and runs them alternately, ROUNDS times, single-threaded,
# printing the best time of each kernel for each side. Small batches (N = 16) keep each run within
# a scheduler time slice on a shared machine, so the best of many runs is the kernel's own time.
#   Scripts/bench/conv_kernels/ab.sh [OLD=HEAD~1] [ROUNDS=5] [N=16] [REPS=200]
set -eu
cd "$(dirname "$0")/../../.."
old=${1:-HEAD~1}; rounds=${2:-5}; n=${3:-16}; reps=${4:-200}
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
git archive "$old" Sources/CBackpropKernels | tar -x -C "$t"
build() { # source root, output
  local s=$1/Sources/CBackpropKernels
  clang -O3 -fPIC -I"$s/include" -I"$s" -o "$2" Scripts/bench/conv_kernels/bench.c "$s"/conv.c "$s"/gemm.c \
    "$s"/runtime.c "$s"/elementwise.c "$s"/blas.c "$s"/tempfiles.c -lpthread -lm -ldl
}
build "$t" "$t/old"
build . "$t/new"
echo "# old = $(git rev-parse --short "$old"), new = working tree; batch $n, best of $reps runs x $rounds rounds, 1 thread"
for ((r = 0; r < rounds; r++)); do
  for side in old new; do BACKPROP_NUM_THREADS=1 "$t/$side" "$reps" "" "$n" | grep best | sed "s/^/$side /"; done
done | sort -k1,1 -k2,3 -k5n | awk '{k=$1" "$2" "$3; if (!(k in seen)) {seen[k]=1; print}}'
