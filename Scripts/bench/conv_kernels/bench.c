// Times the CNN's first convolution and its poolings (float, batch N) in isolation, calling the C
// kernels of Sources/CBackpropKernels directly: best of REPS runs. Built by ab.sh.
#include "CBackpropKernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static float *rnd(long n) { float *p = malloc(sizeof(float) * n); for (long i = 0; i < n; i++) p[i] = (float)rand() / (float)RAND_MAX - 0.5f; return p; }
int main(int argc, char **argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 20;
  const char *only = argc > 2 ? argv[2] : "";
  long n = argc > 3 ? atol(argv[3]) : 128;
  bp_conv_geometry c1 = {n, 28, 28, 1, 3, 3, 32, 26, 26, 1, 1, 1, 1, 0, 0, 1};
  bp_conv_geometry p1 = {n, 26, 26, 32, 2, 2, 32, 13, 13, 2, 2, 1, 1, 0, 0, 1};
  bp_conv_geometry p2 = {n, 11, 11, 64, 2, 2, 64, 5, 5, 2, 2, 1, 1, 0, 0, 1};
  float *x1 = rnd(n * 28 * 28), *w1 = rnd(9 * 32), *y1 = rnd(n * 26 * 26 * 32), *dw = rnd(9 * 32);
  float *py = rnd(n * 13 * 13 * 32), *pdx = rnd(n * 26 * 26 * 32);
  float *q = rnd(n * 11 * 11 * 64), *qy = rnd(n * 5 * 5 * 64), *qdx = rnd(n * 11 * 11 * 64);
  struct { const char *name; double work; } rows[] = {{"conv1 fwd", 2.0 * n * 676 * 9 * 32}, {"conv1 dW", 2.0 * n * 676 * 9 * 32},
    {"pool1 fwd", n * 676.0 * 32}, {"pool1 grad", n * 676.0 * 32}, {"pool2 fwd", n * 121.0 * 64}, {"pool2 grad", n * 121.0 * 64}};
  for (int k = 0; k < 6; k++) {
    if (*only && !strstr(rows[k].name, only)) continue;
    double best = 1e9;
    for (int r = 0; r < reps; r++) {
      double t0 = now();
      switch (k) {
      case 0: bp_s_conv2d(&c1, x1, w1, y1); break;
      case 1: bp_s_conv2d_backprop_filter(&c1, x1, y1, dw); break;
      case 2: bp_s_max_pool(&p1, y1, py); break;
      case 3: bp_s_max_pool_grad(&p1, y1, py, pdx); break;
      case 4: bp_s_max_pool(&p2, q, qy); break;
      case 5: bp_s_max_pool_grad(&p2, q, qy, qdx); break;
      }
      double t = now() - t0;
      if (t < best) best = t;
    }
    printf("%-12s best %8.3f ms  %6.2f G/s\n", rows[k].name, best * 1e3, rows[k].work / best / 1e9);
  }
  printf("checksum %g %g %g\n", y1[12345], dw[17], pdx[999]);
  return 0;
}
