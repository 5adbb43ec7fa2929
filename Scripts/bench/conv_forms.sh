#!/bin/sh
# The Winograd form of 3x3 stride-1 convolutions against im2col, kernel by kernel (BENCHMARKS.md,
# session 34): compiles the C kernels as the release build does (-O2, the toolchain's clang) into
# a small program that times, for each shape, the forward pass, the input gradient and the filter
# gradient (float32, best of several calls) with the form forced on, then off (bp_set_winograd),
# and prints im2col's time over the Winograd form's (above 1: the Winograd form is faster).
# Shapes the form does not take (fewer than 32 channels, fewer than 512 tiles) run im2col both
# times (ratio about 1). Threads: BACKPROP_NUM_THREADS (default: the online cores).
#   Scripts/bench/conv_forms.sh                 # the default shapes
#   BACKPROP_NUM_THREADS=1 Scripts/bench/conv_forms.sh
set -eu
cd "$(dirname "$0")/../.."
swift_bin=$(dirname "$(command -v swift)")
clang=${CLANG:-$swift_bin/clang}
src=Sources/CBackpropKernels
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cat > "$out/forms.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "CBackpropKernels.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(void) {
  /* batch, height, width, channels in, channels out, padding (1: SAME for 3x3) */
  const long shapes[][6] = {{128, 13, 13, 32, 64, 0}, {128, 28, 28, 32, 32, 1}, {8, 32, 32, 64, 64, 1}, {2, 56, 56, 64, 64, 1},
                            {128, 7, 7, 64, 128, 1},  {32, 13, 13, 32, 64, 0},  {16, 13, 13, 32, 64, 0}, {128, 13, 13, 16, 16, 0}};
  printf("| convolution (batch, image, channels, padding) | forward | input gradient | filter gradient | im2col ms (forward, input, filter) |\n");
  printf("| --- | ---: | ---: | ---: | --- |\n");
  for (unsigned s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const long n = shapes[s][0], h = shapes[s][1], w = shapes[s][2], c = shapes[s][3], k = shapes[s][4], pad = shapes[s][5];
    bp_conv_geometry g = {n, h, w, c, 3, 3, k, h + 2 * pad - 2, w + 2 * pad - 2, 1, 1, 1, 1, pad, pad, 1};
    const long xs = n * h * w * c, ws = 9 * c * k, ys = n * g.oh * g.ow * k;
    float *x = malloc(xs * 4), *f = malloc(ws * 4), *y = malloc(ys * 4), *dy = malloc(ys * 4), *dx = malloc(xs * 4), *df = malloc(ws * 4);
    for (long i = 0; i < xs; i++) x[i] = (float)(i % 13) * 0.1f - 0.6f;
    for (long i = 0; i < ws; i++) f[i] = (float)(i % 7) * 0.1f - 0.3f;
    for (long i = 0; i < ys; i++) dy[i] = (float)(i % 5) * 0.1f - 0.2f;
    double t[2][3];
    const int calls = (double)n * h * w * c * k > 1e8 ? 6 : 40;
    for (int on = 1; on >= 0; on--) {
      bp_set_winograd(on);
      for (int r = 0; r < 3; r++) t[on][r] = 1e9;
      for (int i = 0; i < calls; i++) {
        const double a = now();
        bp_s_conv2d(&g, x, f, y);
        const double b = now();
        bp_s_conv2d_backprop_input(&g, dy, f, dx);
        const double d = now();
        bp_s_conv2d_backprop_filter(&g, x, dy, df);
        const double e = now();
        if (b - a < t[on][0]) t[on][0] = b - a;
        if (d - b < t[on][1]) t[on][1] = d - b;
        if (e - d < t[on][2]) t[on][2] = e - d;
      }
    }
    printf("| %ld, %ldx%ld, %ld -> %ld, %s | %.2f | %.2f | %.2f | %.3f, %.3f, %.3f |\n", n, h, w, c, k, pad ? "same" : "valid",
           t[0][0] / t[1][0], t[0][1] / t[1][1], t[0][2] / t[1][2], t[0][0] * 1e3, t[0][1] * 1e3, t[0][2] * 1e3);
    free(x), free(f), free(y), free(dy), free(dx), free(df);
  }
  return 0;
}
C
"$clang" -O2 -I"$src/include" -o "$out/forms" "$out/forms.c" "$src/conv.c" "$src/gemm.c" "$src/runtime.c" "$src/blas.c" "$src/lock.c" \
  -lpthread -ldl -lm
echo "im2col time / Winograd time, float32, ${BACKPROP_NUM_THREADS:-all} threads, instruction set ${BACKPROP_ISA:-auto}:"
"$out/forms"
