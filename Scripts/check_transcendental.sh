#!/bin/sh
# Checks transcendental.c (exp, sigmoid, tanh, log, log1p, softplus, sigmoid cross-entropy,
# softmax) as SwiftPM's release build compiles it
# (-O2, the toolchain's clang: vectorized, where an FMA contraction would show), which the debug
# test build (-O0, scalar) cannot: on every instruction set this CPU has, the array kernels give
# the scalar functions' bits over a sweep (every 997th float32 bit pattern; 2e6 float64 values
# across exp's range), softmax gives the same bits on every instruction set (rows, axis 0, a
# middle axis), and float64 exp's, log's and log1p's worst errors against x87 `expl`, `logl`
# and `log1pl` (64-bit significand) over 2e7 values each are below 1 ulp, and float32 exp's,
# tanh's, log's and log1p's are at most 1 ulp from the correctly rounded result, sigmoid's 2
# (every 997th float; with --all-floats, all 2^32 of them: about six minutes). A thread split
# is a reversed piece order here (pieces are independent; bp_parallel_for and bp_for_pieces are
# stubbed so).
# Seconds; x86-64 only (elsewhere it says so and passes).
# Usage: Scripts/check_transcendental.sh [--all-floats]
set -eu
cd "$(dirname "$0")/.."
case "$(uname -m)" in x86_64 | amd64) ;; *) echo "check_transcendental: not x86-64, nothing to check"; exit 0 ;; esac
swift_bin=$(dirname "$(command -v swift)")
clang=${CLANG:-$swift_bin/clang}
src=Sources/CBackpropKernels
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cat > "$out/check.c" <<'EOF'
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "CBackpropKernels.h"
static int isa;
int bp_kernel_isa(void) { return isa; }
void bp_parallel_for(int c, void (*f)(void *, int, int), void *ctx) { for (int i = c - 1; i >= 0; i--) f(ctx, i, c); }
void bp_for_pieces(long outer, long inner, long width, double e, double t, void (*fn)(void *, long, long, long), void *ctx) {
  (void)e;
  (void)t;
  const long blocks = (inner + width - 1) / width;
  for (long p = outer * blocks - 1; p >= 0; p--) {
    const long o = p / blocks, l0 = (p % blocks) * width;
    fn(ctx, o, l0, inner - l0 < width ? inner - l0 : width);
  }
}
int main(int argc, char **argv) {
  int failures = 0;
  long n = 0, i;
  for (uint64_t b = 0; b <= 0xffffffffULL; b += 997) n++;
  float *xf = malloc(n * 4), *yf = malloc(n * 4);
  i = 0;
  for (uint64_t b = 0; b <= 0xffffffffULL; b += 997) { uint32_t u = (uint32_t)b; memcpy(&xf[i++], &u, 4); }
  const long nd = 2000000;
  double *xd = malloc(nd * 8), *sd = malloc(nd * 8), *yd = malloc(nd * 8);
  double *ld = malloc(nd * 8), *zd = malloc(nd * 8);
  float *zf = malloc(n * 4);
  for (i = 0; i < nd; i++) {
    xd[i] = -746 + 1457.0 * i / nd + (i % 7) * 1e-9; sd[i] = xd[i] / 700; zd[i] = (double)(i % 11) / 10;
    uint64_t u = 0x0000100000000000ULL + (uint64_t)i * 0x0000488c2a7f3ULL * 0x1000ULL; /* every exponent, both signs */
    memcpy(&ld[i], &u, 8);
  }
  for (i = 0; i < n; i++) zf[i] = (float)(i % 11) / 10;
  int isas[3] = {BP_ISA_PORTABLE, BP_ISA_AVX2, BP_ISA_AVX512}, count = 1;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) count = 2;
  if (count == 2 && __builtin_cpu_supports("avx512f")) count = 3;
  for (int s = 0; s < count; s++) {
    isa = isas[s];
    long bad[13] = {0};
    bp_s_exp(n, xf, yf); for (i = 0; i < n; i++) { float e = bp_s_exp1(xf[i]); bad[0] += memcmp(&e, &yf[i], 4) != 0; }
    bp_s_sigmoid(n, xf, yf); for (i = 0; i < n; i++) { float e = bp_s_sigmoid1(xf[i]); bad[1] += memcmp(&e, &yf[i], 4) != 0; }
    bp_s_tanh(n, xf, yf); for (i = 0; i < n; i++) { float e = bp_s_tanh1(xf[i]); bad[2] += memcmp(&e, &yf[i], 4) != 0; }
    bp_d_exp(nd, xd, yd); for (i = 0; i < nd; i++) { double e = bp_d_exp1(xd[i]); bad[3] += memcmp(&e, &yd[i], 8) != 0; }
    bp_d_sigmoid(nd, sd, yd); for (i = 0; i < nd; i++) { double e = bp_d_sigmoid1(sd[i]); bad[4] += memcmp(&e, &yd[i], 8) != 0; }
    bp_s_log(n, xf, yf); for (i = 0; i < n; i++) { float e = bp_s_log1(xf[i]); bad[5] += memcmp(&e, &yf[i], 4) != 0; }
    bp_s_log1p(n, xf, yf); for (i = 0; i < n; i++) { float e = bp_s_log1p1(xf[i]); bad[6] += memcmp(&e, &yf[i], 4) != 0; }
    bp_s_softplus(n, xf, yf); for (i = 0; i < n; i++) { float e = bp_s_softplus1(xf[i]); bad[7] += memcmp(&e, &yf[i], 4) != 0; }
    bp_s_sigmoid_xent(n, xf, zf, yf); for (i = 0; i < n; i++) { float e = bp_s_sigmoid_xent1(xf[i], zf[i]); bad[8] += memcmp(&e, &yf[i], 4) != 0; }
    bp_d_log(nd, ld, yd); for (i = 0; i < nd; i++) { double e = bp_d_log1(ld[i]); bad[9] += memcmp(&e, &yd[i], 8) != 0; }
    bp_d_log1p(nd, ld, yd); for (i = 0; i < nd; i++) { double e = bp_d_log1p1(ld[i]); bad[10] += memcmp(&e, &yd[i], 8) != 0; }
    bp_d_softplus(nd, sd, yd); for (i = 0; i < nd; i++) { double e = bp_d_softplus1(sd[i]); bad[11] += memcmp(&e, &yd[i], 8) != 0; }
    bp_d_sigmoid_xent(nd, sd, zd, yd); for (i = 0; i < nd; i++) { double e = bp_d_sigmoid_xent1(sd[i], zd[i]); bad[12] += memcmp(&e, &yd[i], 8) != 0; }
    printf("isa %d, array against scalar, values differing: float exp %ld, sigmoid %ld, tanh %ld, log %ld, log1p %ld, softplus %ld, "
           "sigmoid cross-entropy %ld; double exp %ld, sigmoid %ld, log %ld, log1p %ld, softplus %ld, sigmoid cross-entropy %ld\n",
           isa, bad[0], bad[1], bad[2], bad[5], bad[6], bad[7], bad[8], bad[3], bad[4], bad[9], bad[10], bad[11], bad[12]);
    for (int k = 0; k < 13; k++) failures += bad[k] != 0;
  }
  const long R = 256, C = 1024, m = R * C;
  float *x = malloc(m * 4), *y[3];
  double *x2 = malloc(m * 8), *y2[3];
  srand(3);
  for (i = 0; i < m; i++) { x[i] = (float)(((double)rand() / RAND_MAX - 0.5) * 60); x2[i] = x[i] * 1.01; }
  for (int s = 0; s < 3; s++) { y[s] = malloc(m * 4); y2[s] = malloc(m * 8); }
  for (int form = 0; form < 2; form++)
    for (int c = 0; c < 3; c++) {
      const long outer = c == 0 ? 1 : (c == 1 ? R : 7), mid = c == 0 ? R : (c == 1 ? C : 37), inner = c == 0 ? C : (c == 1 ? 1 : 1000);
      for (int s = 0; s < count; s++) {
        isa = isas[s];
        bp_s_softmax(outer, mid, inner, x, y[s], form);
        bp_d_softmax(outer, mid, inner, x2, y2[s], form);
      }
      long bs = 0, bd = 0;
      for (i = 0; i < outer * mid * inner; i++)
        for (int s = 1; s < count; s++) { bs += memcmp(&y[s][i], &y[0][i], 4) != 0; bd += memcmp(&y2[s][i], &y2[0][i], 8) != 0; }
      printf("softmax%s [%ld, %ld, %ld]: values differing between instruction sets: float %ld, double %ld\n",
             form ? " (log)" : "", outer, mid, inner, bs, bd);
      failures += bs != 0 || bd != 0;
    }
  /* float32 exp, sigmoid, tanh, log and log1p against glibc's double functions rounded to float
     (the correctly rounded result but for a double rounding, vanishingly rare; sigmoid as
     1 / (1 + exp(-x)) in double): within 1 ulp (sigmoid 2), zeros of the right sign; every 997th
     float, or with --all-floats every one (about six minutes). */
  const uint64_t stride = argc > 1 && strcmp(argv[1], "--all-floats") == 0 ? 1 : 997;
  const long B = 1 << 16;
  float *bx = malloc(B * 4), *by = malloc(B * 4);
  for (int f = 0; f < 5; f++) {
    long worst_ulp = 0, off = 0, total = 0;
    float worst_at = 0;
    for (uint64_t b = 0; b <= 0xffffffffULL;) {
      long c = 0;
      for (; c < B && b <= 0xffffffffULL; b += stride) { const uint32_t u = (uint32_t)b; memcpy(&bx[c++], &u, 4); }
      if (f == 0) bp_s_tanh(c, bx, by); else if (f == 1) bp_s_log(c, bx, by); else if (f == 2) bp_s_log1p(c, bx, by);
      else if (f == 3) bp_s_exp(c, bx, by); else bp_s_sigmoid(c, bx, by);
      for (i = 0; i < c; i++) {
        const double v = bx[i];
        const float ref = (float)(f == 0 ? tanh(v) : f == 1 ? log(v) : f == 2 ? log1p(v) : f == 3 ? exp(v) : 1 / (1 + exp(-v)));
        if (isnan(ref) && isnan(by[i])) continue;
        int32_t r, g;
        memcpy(&r, &ref, 4);
        memcpy(&g, &by[i], 4);
        long d = labs((long)(r < 0 ? INT32_MIN - (int64_t)r : r) - (long)(g < 0 ? INT32_MIN - (int64_t)g : g));
        if (isnan(ref) != isnan(by[i]) || ((ref == 0 || by[i] == 0) && r != g)) d = 1L << 40;
        total++;
        off += d != 0;
        if (d > worst_ulp) { worst_ulp = d; worst_at = bx[i]; }
      }
    }
    const char *name = f == 0 ? "tanh" : f == 1 ? "log" : f == 2 ? "log1p" : f == 3 ? "exp" : "sigmoid";
    printf("float32 %s: worst %ld ulp (at %a) over %ld floats, %ld not the correctly rounded result\n", name, worst_ulp, worst_at, total, off);
    failures += worst_ulp > (f == 4 ? 2 : 1);
  }
  double worst = 0, at = 0;
  srand(5);
  for (i = 0; i < 20000000; i++) {
    const double v = (i % 2) ? -745 + 1454.7 * ((double)rand() / RAND_MAX) : ((double)rand() / RAND_MAX - 0.5) * 2;
    const long double ref = expl((long double)v);
    if (ref == 0 || isinf((double)ref)) continue;
    int e;
    frexpl(ref, &e);
    const long double ulp = ldexpl(1.0L, e - 53 < -1074 ? -1074 : e - 53);
    const double err = (double)(fabsl((long double)bp_d_exp1(v) - ref) / ulp);
    if (err > worst) { worst = err; at = v; }
  }
  printf("float64 exp: worst error %.3f ulp against expl (at %a)\n", worst, at);
  failures += worst >= 1;
  for (int f = 0; f < 2; f++) {
    worst = 0, at = 0;
    srand(7);
    for (i = 0; i < 20000000; i++) {
      /* log: every binade of the normals and subnormals, and [0.5, 2] densely; log1p: (-1, 1) densely, then every binade */
      const double r = (double)rand() / RAND_MAX;
      double v;
      if (f == 0) v = (i % 2) ? ldexp(1 + r, (int)(rand() % 2098) - 1074) : 0.5 + 1.5 * r;
      else v = (i % 4 == 1) ? ldexp(1 + r, (int)(rand() % 1100) - 1074) : ((i % 4 == 3) ? ldexp(1 + r, (int)(rand() % 1024)) : r * 2 - 1);
      const long double ref = f == 0 ? logl((long double)v) : log1pl((long double)v);
      if (ref == 0 || isinf((double)ref) || v == -1) continue;
      int e;
      frexpl(ref, &e);
      const long double ulp = ldexpl(1.0L, e - 53 < -1074 ? -1074 : e - 53);
      const double got = f == 0 ? bp_d_log1(v) : bp_d_log1p1(v);
      const double err = (double)(fabsl((long double)got - ref) / ulp);
      if (err > worst) { worst = err; at = v; }
    }
    printf("float64 %s: worst error %.3f ulp against %s (at %a)\n", f ? "log1p" : "log", worst, f ? "log1pl" : "logl", at);
    failures += worst >= 1;
  }
  return failures != 0;
}
EOF
"$clang" -O2 -I"$src/include" -I"$src" "$out/check.c" "$src/transcendental.c" -lm -o "$out/check"
if "$out/check" "$@"; then echo "check_transcendental: ok"; else echo "check_transcendental: FAILED"; exit 1; fi
