// Matrix products: blocked, packed, register-tiled; AVX2+FMA and AVX-512 micro-kernels on x86-64.
#include "CBackpropKernels.h"
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__APPLE__)
#include <sys/sysctl.h>
#endif

#if BP_X86
#include <immintrin.h>
#endif

// Products with fewer multiply-adds than this use the direct loops (no packing).
#define SMALL_WORK (24.0 * 24.0 * 24.0)
// Products with fewer multiply-adds than this stay on the calling thread (a hand-off to
// another thread and back costs tens of microseconds).
#define THREAD_WORK (4.0 * 1024.0 * 1024.0)
// Products with at least this many (and fewer than THREAD_WORK) multiply-adds may be split over
// the threads, in pieces of rows over each block of B (gemm_template.h) or, on the direct paths
// below, in pieces of rows, columns or depth: when the split measured faster lately
// (`bp_split_begin`; on an idle machine it does, with the other cores busy it may not).
#define SHARED_WORK (512.0 * 1024.0)

// Copies of op(B) each thread makes for itself. The medium products' pieces (gemm_template.h,
// `shared`) and the few-column direct products (`s_b_transposed`) used to read one packed copy
// of B that the calling thread had written: on two cores every line of it then moved from one
// core's caches to the other's. Now the first piece each thread runs packs (or transposes) B
// into its own scratch slot 0, and its later pieces of the same call reuse it: `own_b_held` is
// the call whose B the thread's slot 0 holds, numbered by `own_b_call` (never 0, never
// reused). The bits are the same: each element still sums the same products in the same order.
// On the Zen 4 of BENCHMARKS.md (session 44, C driver, 2 threads, medians of 5-7 repetitions,
// GFLOP/s): SGEMM 128³ 157 -> 204 on the AVX-512 tiles and 147 -> 184 on the
// AVX2 ones, 96³ 138 -> 191, 160³ 160 -> 197; 128x1600 by 1600x10 (the direct path) 103 -> 118.
static atomic_long own_b_calls = 0;
static _Thread_local long own_b_held = 0;

static long own_b_call(void) { return atomic_fetch_add_explicit(&own_b_calls, 1, memory_order_relaxed) + 1; }

// The register tiles (MR rows by NR columns) of the portable and AVX2 micro-kernels, and of the
// AVX-512 ones (SW_, DW_; x86-64 only, but their blocking is derived everywhere, for tests).
#define S_MR 6
#define S_NR 16
#define D_MR 6
#define D_NR 8
#define SW_MR 8
#define SW_NR 32
#define DW_MR 12
#define DW_NR 16

#if BP_X86
// The micro-kernels read element (i, p) of their A panel (MR rows, depth kc) at
// a[i·ars + p·acs]: packed (ars 1, acs MR), or in place (a transposed A: ars 1, acs its row
// stride; a row-major A: ars its row stride, acs 1; see gemm_template.h's `a_in_place`). Each
// body is compiled twice, for the packed panel's constant strides and for any.
//
// All register tiles (the AVX2 path's 6×16 float and 6×8 double, the AVX-512 path's 8×32 and
// 12×16 below) are one body, `DEFINE_UKR_BODY`, written with Clang's vector types: MRW rows of
// two vectors of accumulators, two B vectors and one broadcast A value per depth step. The
// AVX2 tiles were hand-written intrinsics until session 41; the vector-typed body compiles to
// the same loop (12 YMM FMAs with broadcast loads, no spill) and the same bits.

// The first `rows` rows of an MRW × 2·lanes tile: c = (accumulate ? c : 0) + acc (the packed
// and unpacked paths).
#define DEFINE_STORE_ROWS(T, VEC, VECU, MRW, P)                                                         \
  BP_INLINE void P##_store_rows(int rows, VEC acc[MRW][2], T *c, long ldc, int accumulate) {          \
    _Pragma("clang loop unroll(full)") for (int i = 0; i < MRW; i++) {                                 \
      if (i < rows) {                                                                                  \
        VECU *row = (VECU *)(c + i * ldc);                                                             \
        VEC v0 = acc[i][0], v1 = acc[i][1];                                                            \
        if (accumulate) {                                                                              \
          v0 = row[0] + v0;                                                                            \
          v1 = row[1] + v1;                                                                            \
        }                                                                                              \
        row[0] = v0;                                                                                   \
        row[1] = v1;                                                                                   \
      }                                                                                                \
    }                                                                                                  \
  }

// The MRW × 2·LANES micro-kernel's body, `P##_ukr_body`: t = fma(a[i][p], b[p][j], t) for p
// in order, then c = (accumulate ? c : 0) + t. FETCH_B (a constant) asks for B's row four
// depth steps ahead: 1-6% faster from 512 to 2048 for the AVX-512 tiles on the Xeon of
// session 12; the AVX2 tiles never had it.
#define DEFINE_UKR_BODY(T, VEC, VECU, LANES, MRW, P, FETCH_B)                                          \
  DEFINE_STORE_ROWS(T, VEC, VECU, MRW, P)                                                              \
  BP_INLINE void P##_ukr_body(long kc, const T *restrict a, long ars, long acs, const T *restrict b,    \
                              T *restrict c, long ldc, int accumulate) {                               \
    /* Ask for the C tile now, so its loads at the end do not wait on memory. */                     \
    for (int i = 0; i < MRW; i++) {                                                                    \
      _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);                                          \
      _mm_prefetch((const char *)(c + i * ldc + 2 * LANES - 1), _MM_HINT_T0);                          \
    }                                                                                                  \
    VEC acc[MRW][2];                                                                                   \
    _Pragma("clang loop unroll(full)") for (int i = 0; i < MRW; i++) acc[i][0] = acc[i][1] = (VEC)0;    \
    for (long p = 0; p < kc; p++) {                                                                    \
      if (FETCH_B) {                                                                                   \
        _mm_prefetch((const char *)(b + 8 * LANES), _MM_HINT_T0);                                      \
        _mm_prefetch((const char *)(b + 9 * LANES), _MM_HINT_T0);                                      \
      }                                                                                                \
      const VEC b0 = ((const VEC *)b)[0], b1 = ((const VEC *)b)[1];                                    \
      _Pragma("clang loop unroll(full)") for (int i = 0; i < MRW; i++) {                               \
        const VEC x = (VEC)a[i * ars];                                                                 \
        acc[i][0] = __builtin_elementwise_fma(x, b0, acc[i][0]);                                       \
        acc[i][1] = __builtin_elementwise_fma(x, b1, acc[i][1]);                                       \
      }                                                                                                \
      a += acs;                                                                                        \
      b += 2 * LANES;                                                                                  \
    }                                                                                                  \
    P##_store_rows(MRW, acc, c, ldc, accumulate);                                                      \
  }

// A micro-kernel `NAME` compiled for one instruction set (ATTR) from `P##_ukr_body`: one copy
// for the packed panel's constant strides, one for any.
#define DEFINE_UKR(ATTR, NAME, T, MRW, P)                                                              \
  ATTR static void NAME(long kc, const T *restrict a, long ars, long acs, const T *restrict b,         \
                        T *restrict c, long ldc, int accumulate) {                                     \
    if (ars == 1 && acs == MRW) P##_ukr_body(kc, a, 1, MRW, b, c, ldc, accumulate);                    \
    else P##_ukr_body(kc, a, ars, acs, b, c, ldc, accumulate);                                         \
  }

// The AVX2 path's 6×16 float tile (12 accumulators of 8 lanes) and 6×8 double tile.
DEFINE_UKR_BODY(float, bp_f32x8, bp_f32x8u, 8, S_MR, sgemm_ymm, 0)
DEFINE_UKR_BODY(double, bp_f64x4, bp_f64x4u, 4, D_MR, dgemm_ymm, 0)
DEFINE_UKR(BP_AVX2, sgemm_ukr_avx2, float, S_MR, sgemm_ymm)
DEFINE_UKR(BP_AVX2, dgemm_ukr_avx2, double, D_MR, dgemm_ymm)

// MARK: AVX-512 micro-kernels (issue 13)
//
// 8×32 float and 12×16 double tiles: 16 and 24 accumulators of 16 float (8 double) lanes, two
// B vectors and one broadcast A value (at most 27 of the 32 ZMM registers). The float tile was
// 12×32 until the first AVX-512 machine (Xeon, family 6 model 207, session 12): there 8 rows
// measured 10-20% faster for the products training runs (64³, 32x64 by 64x128: their rows are
// multiples of 8, so no edge tile) and the same within the machine's noise from 128 to 2048;
// for double, 8 rows measured slower at 512 and 1024. Written once with Clang's
// vector types and compiled twice: for AVX-512F (used when the CPU has it) and for AVX2+FMA,
// where each 512-bit vector is two YMM registers (BP_ISA_WIDE_ON_AVX2: slow, spilling, for
// tests only). Both compile every element to the same chain of FMAs as the 6×16 AVX2 kernel
// (t = fma(a[i][p], b[p][j], t) for p in order, then c + t), so all three give the same bits,
// and a machine without AVX-512 tests this tile's packing, edges and threading through the
// second copy. (The 512-bit vector types bp_f32x16 and bp_f64x8 are in internal.h.)
#define DEFINE_WIDE_UKR(T, VEC, VECU, LANES, MRW, P)                                                   \
  DEFINE_UKR_BODY(T, VEC, VECU, LANES, MRW, P, 1)                                                      \
  DEFINE_UKR(BP_AVX512, P##_ukr_avx512, T, MRW, P)                                                     \
  DEFINE_UKR(BP_AVX2, P##_ukr_wide_on_avx2, T, MRW, P)

DEFINE_WIDE_UKR(float, bp_f32x16, bp_f32x16u, 16, SW_MR, sgemm)
DEFINE_WIDE_UKR(double, bp_f64x8, bp_f64x8u, 8, DW_MR, dgemm)
#endif


// MARK: Matrix-vector and few-column float products without packing (issue 13)
//
// The blocked path packs both operands and computes 6×16 tiles; for a matrix-vector product
// (n = 1) that packs all of A to compute 16 columns and keep 1, and for a dense layer's 10
// outputs it leaves 6 of the tile's 16 lanes idle. These direct kernels read the operands where
// they are (op(B)ᵀ copied by each thread when B is not stored transposed): dot products, eight lanes of
// partial sums each, or sweeps over contiguous rows. Chosen by shape in `s_direct` (above
// SMALL_WORK; the few-column shapes below THREAD_WORK), split over the threads from
// SHARED_WORK when that measures faster; the rest keeps the blocked path. For 128x1600 by 1600x10 on one core
// of the Zen 3 of BENCHMARKS.md: 24-29 GFLOP/s blocked, 38-49 direct (session 10; OpenBLAS 31-33);
// the weight gradient xᵀ·dy (A transposed) runs rows of outer products instead.
// Tried before and not kept: an unpacked 6×16 kernel with masked columns (no faster than the
// blocked path, 2026-11-29), and the blocked path on the transposed product (slower, session 10).
// `BACKPROP_DIRECT_GEMM=0` (or `bp_set_direct_gemm(0)`) turns them off for comparison.

static _Atomic int direct_gemm = -1;  // -1: not read yet

void bp_set_direct_gemm(int on) { atomic_store_explicit(&direct_gemm, on ? 1 : 0, memory_order_relaxed); }

int bp_direct_gemm(void) {
  const int scoped = bp_thread_direct_gemm();
  return scoped >= 0 ? scoped : bp_switch_from_env(&direct_gemm, "BACKPROP_DIRECT_GEMM");
}

#if BP_X86
BP_AVX2 static inline float s_hsum(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

// out[r·ostride] (+)= Σ_p x[p]·rows[r·stride + p] for r < count: dot products of one
// contiguous vector with contiguous rows, four rows at a time (the vector loaded once for them).
BP_AVX2 static void s_dot_rows_avx2(long count, long k, const float *x, const float *rows, long stride,
                                    float *out, long ostride, int overwrite) {
  long r = 0;
  for (; r + 4 <= count; r += 4) {
    const float *r0 = rows + r * stride, *r1 = r0 + stride, *r2 = r1 + stride, *r3 = r2 + stride;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps(), b2 = _mm256_setzero_ps(), b3 = _mm256_setzero_ps();
    long p = 0;
    for (; p + 16 <= k; p += 16) {
      __m256 x0 = _mm256_loadu_ps(x + p), x1 = _mm256_loadu_ps(x + p + 8);
      a0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(r0 + p), a0); b0 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(r0 + p + 8), b0);
      a1 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(r1 + p), a1); b1 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(r1 + p + 8), b1);
      a2 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(r2 + p), a2); b2 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(r2 + p + 8), b2);
      a3 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(r3 + p), a3); b3 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(r3 + p + 8), b3);
    }
    float s0 = s_hsum(_mm256_add_ps(a0, b0)), s1 = s_hsum(_mm256_add_ps(a1, b1));
    float s2 = s_hsum(_mm256_add_ps(a2, b2)), s3 = s_hsum(_mm256_add_ps(a3, b3));
    for (; p < k; p++) {
      s0 += x[p] * r0[p]; s1 += x[p] * r1[p]; s2 += x[p] * r2[p]; s3 += x[p] * r3[p];
    }
    float *o = out + r * ostride;
    if (overwrite) {
      o[0] = s0; o[ostride] = s1; o[2 * ostride] = s2; o[3 * ostride] = s3;
    } else {
      o[0] += s0; o[ostride] += s1; o[2 * ostride] += s2; o[3 * ostride] += s3;
    }
  }
  for (; r < count; r++) {
    const float *r0 = rows + r * stride;
    __m256 a0 = _mm256_setzero_ps(), b0 = _mm256_setzero_ps();
    long p = 0;
    for (; p + 16 <= k; p += 16) {
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + p), _mm256_loadu_ps(r0 + p), a0);
      b0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + p + 8), _mm256_loadu_ps(r0 + p + 8), b0);
    }
    float s0 = s_hsum(_mm256_add_ps(a0, b0));
    for (; p < k; p++) s0 += x[p] * r0[p];
    out[r * ostride] = overwrite ? s0 : out[r * ostride] + s0;
  }
}

// c[j] (+)= Σ_p x[p·xs]·rows[p·stride + j] for j < len: sweeps over contiguous rows (a
// transposed A times a vector, or a vector times B), four rows per pass over c so that c is
// loaded and stored once per four multiply-adds. Each element is the chain
// fma(x[p], row_p[j], t) over p in order, whatever the split of j.
BP_AVX2 static void s_sweep_rows_avx2(long len, long k, const float *x, long xs, const float *rows, long stride,
                                      int overwrite, float *restrict c) {
  if (overwrite) memset(c, 0, sizeof(float) * (size_t)len);
  long p = 0;
  for (; p + 4 <= k; p += 4) {
    const float *r0 = rows + p * stride, *r1 = r0 + stride, *r2 = r1 + stride, *r3 = r2 + stride;
    const float x0 = x[p * xs], x1 = x[(p + 1) * xs], x2 = x[(p + 2) * xs], x3 = x[(p + 3) * xs];
    const __m256 v0 = _mm256_set1_ps(x0), v1 = _mm256_set1_ps(x1), v2 = _mm256_set1_ps(x2), v3 = _mm256_set1_ps(x3);
    long j = 0;
    for (; j + 8 <= len; j += 8) {
      __m256 t = _mm256_loadu_ps(c + j);
      t = _mm256_fmadd_ps(v0, _mm256_loadu_ps(r0 + j), t);
      t = _mm256_fmadd_ps(v1, _mm256_loadu_ps(r1 + j), t);
      t = _mm256_fmadd_ps(v2, _mm256_loadu_ps(r2 + j), t);
      t = _mm256_fmadd_ps(v3, _mm256_loadu_ps(r3 + j), t);
      _mm256_storeu_ps(c + j, t);
    }
    for (; j < len; j++)
      c[j] = __builtin_fmaf(x3, r3[j], __builtin_fmaf(x2, r2[j], __builtin_fmaf(x1, r1[j], __builtin_fmaf(x0, r0[j], c[j]))));
  }
  for (; p < k; p++) {
    const float *r0 = rows + p * stride;
    const float x0 = x[p * xs];
    const __m256 v0 = _mm256_set1_ps(x0);
    long j = 0;
    for (; j + 8 <= len; j += 8) _mm256_storeu_ps(c + j, _mm256_fmadd_ps(v0, _mm256_loadu_ps(r0 + j), _mm256_loadu_ps(c + j)));
    for (; j < len; j++) c[j] = __builtin_fmaf(x0, r0[j], c[j]);
  }
}

// C[i][j] (+)= Σ_p a[i·rsa + p]·bt[j·ldbt + p] for an R×C block: dot products of contiguous rows
// of op(A) with contiguous rows of op(B)ᵀ, eight lanes of partial sums each, then the lanes
// added in a fixed tree and the last k mod 8 terms in order. R×C accumulators stay in
// registers (R ≤ 5, C ≤ 2: ten, with two B vectors and one A vector of the 16).
BP_AVX2 BP_INLINE void s_dot_block(int R, int C, long k, const float *a, long rsa, const float *bt, long ldbt,
                           float *c, long ldc, int overwrite) {
  __m256 acc[5][2];
  for (int r = 0; r < R; r++)
    for (int j = 0; j < C; j++) acc[r][j] = _mm256_setzero_ps();
  long p = 0;
  for (; p + 8 <= k; p += 8) {
    __m256 bv[2];
    for (int j = 0; j < C; j++) bv[j] = _mm256_loadu_ps(bt + j * ldbt + p);
    for (int r = 0; r < R; r++) {
      const __m256 av = _mm256_loadu_ps(a + r * rsa + p);
      for (int j = 0; j < C; j++) acc[r][j] = _mm256_fmadd_ps(av, bv[j], acc[r][j]);
    }
  }
  for (int r = 0; r < R; r++)
    for (int j = 0; j < C; j++) {
      float sum = s_hsum(acc[r][j]);
      for (long q = p; q < k; q++) sum += a[r * rsa + q] * bt[j * ldbt + q];
      float *e = c + r * ldc + j;
      *e = overwrite ? sum : *e + sum;
    }
}

// C (+)= op(A)·op(B) for a few columns (2 ≤ n < 16) and op(A)'s rows contiguous, as dot
// products of 5×2 blocks: the blocked path's 16-lane tiles would leave 16 - n lanes idle
// (a dense layer's 10 outputs: 6 of 16). `bt`: op(B)ᵀ, rows of length k, row stride ldbt.
BP_AVX2 static void s_dot_products_avx2(long m, long n, long k, const float *a, long rsa, const float *bt,
                                        long ldbt, int overwrite, float *c, long ldc) {
  long i = 0;
  for (; i + 5 <= m; i += 5) {
    long j = 0;
    for (; j + 2 <= n; j += 2) s_dot_block(5, 2, k, a + i * rsa, rsa, bt + j * ldbt, ldbt, c + i * ldc + j, ldc, overwrite);
    if (j < n) s_dot_block(5, 1, k, a + i * rsa, rsa, bt + j * ldbt, ldbt, c + i * ldc + j, ldc, overwrite);
  }
  for (; i < m; i++) {
    long j = 0;
    for (; j + 2 <= n; j += 2) s_dot_block(1, 2, k, a + i * rsa, rsa, bt + j * ldbt, ldbt, c + i * ldc + j, ldc, overwrite);
    if (j < n) s_dot_block(1, 1, k, a + i * rsa, rsa, bt + j * ldbt, ldbt, c + i * ldc + j, ldc, overwrite);
  }
}

// C (+)= op(A)·op(B) for a few columns (2 ≤ n ≤ 12) and a transposed A (op(A)'s columns
// contiguous: a weight gradient xᵀ·dy): eight rows at a time, one vector of op(A)'s column p
// and N broadcasts of op(B)'s row p per step of the depth, N accumulators of eight lanes, then
// the 8×N block written to C's rows. Each element is the chain fma(a[i][p], b[p][j], t) over p
// in order, as in the blocked path's tiles. Rows beyond the last multiple of 8 take the
// scalar loop. (N a constant per instance: the loops unroll, with no test of n inside.)
BP_AVX2 BP_INLINE void s_outer_rows(int N, long m, long k, const float *a, long csa, const float *b, long rsb,
                                    long csb, int overwrite, float *restrict c, long ldc) {
  long i = 0;
  for (; i + 8 <= m; i += 8) {
    __m256 acc[12];
    for (int j = 0; j < N; j++) acc[j] = _mm256_setzero_ps();
    for (long p = 0; p < k; p++) {
      const __m256 av = _mm256_loadu_ps(a + p * csa + i);
      const float *brow = b + p * rsb;
      for (int j = 0; j < N; j++) acc[j] = _mm256_fmadd_ps(av, _mm256_broadcast_ss(brow + j * csb), acc[j]);
    }
    float block[12][8];
    for (int j = 0; j < N; j++) _mm256_storeu_ps(block[j], acc[j]);
    for (int r = 0; r < 8; r++) {
      float *crow = c + (i + r) * ldc;
      for (int j = 0; j < N; j++) crow[j] = overwrite ? block[j][r] : crow[j] + block[j][r];
    }
  }
  for (; i < m; i++)
    for (int j = 0; j < N; j++) {
      float t = 0;
      for (long p = 0; p < k; p++) t = __builtin_fmaf(a[p * csa + i], b[p * rsb + j * csb], t);
      c[i * ldc + j] = overwrite ? t : c[i * ldc + j] + t;
    }
}

BP_AVX2 static void s_outer_products_avx2(long m, long n, long k, const float *a, long csa, const float *b,
                                          long rsb, long csb, int overwrite, float *restrict c, long ldc) {
  switch (n) {
#define OUTER_CASE(N) \
  case N: s_outer_rows(N, m, k, a, csa, b, rsb, csb, overwrite, c, ldc); break;
    OUTER_CASE(2) OUTER_CASE(3) OUTER_CASE(4) OUTER_CASE(5) OUTER_CASE(6) OUTER_CASE(7)
    OUTER_CASE(8) OUTER_CASE(9) OUTER_CASE(10) OUTER_CASE(11) OUTER_CASE(12)
#undef OUTER_CASE
  }
}

// The direct paths' shapes, numbered as their kinds of optional split (`bp_split_begin`).
enum {
  S_DOT_ROWS = BP_SPLIT_DOT_ROWS,
  S_DOT_COLUMNS = BP_SPLIT_DOT_COLUMNS,
  S_SWEEP = BP_SPLIT_SWEEP,
  S_DOT_PRODUCTS = BP_SPLIT_DOT_PRODUCTS,
  S_OUTER_PRODUCTS = BP_SPLIT_OUTER_PRODUCTS
};

// Depth rows per piece of a sweep (S_SWEEP).
#define SWEEP_DEPTH 128

// A direct product split into pieces of `step` rows (or columns, for the vector-matrix shapes)
// of C: each element of C is computed by one piece, exactly as on one thread. A sweep is split
// over its depth instead (so each piece streams contiguous rows): piece i sums depth rows
// [i·step, (i+1)·step) into its own row of `partial`, and the caller adds the rows in order.
typedef struct {
  int shape, overwrite;
  long m, n, k, rsa, csa, rsb, csb, ldc, extent, step;
  const float *a, *b;  // b: op(B)ᵀ for S_DOT_PRODUCTS, row stride csb (or op(B) when `copy`);
                       // S_SWEEP: a the vector (stride csa), b the rows (stride rsb)
  float *c, *partial;
  long copy;           // S_DOT_PRODUCTS with op(B) not stored transposed: this call's number
} s_direct_job;

// S_DOT_PRODUCTS reads op(B)ᵀ's rows contiguous: when B is stored row-major, op(B)ᵀ (n rows of
// k) in the calling thread's scratch slot 0, copied for call `copy` unless the thread holds it
// already (`own_b_held`); NULL when out of memory. (Copied once by the caller for all threads,
// it took 10 us of a 40 us 128x1600 by 1600x10 on two threads.)
static void s_unpacked(long m0, long m1, long n0, long n1, long k, const float *a, long rsa, long csa,
                       const float *b, long rsb, long csb, int overwrite, float *c, long ldc);  // gemm_template.h

static const float *s_b_transposed(const s_direct_job *j) {
  float *packed = bp_scratch(0, sizeof(float) * (size_t)j->n * (size_t)j->k);
  if (!packed) return NULL;
  if (own_b_held != j->copy) {
    for (long c = 0; c < j->n; c++)
      for (long p = 0; p < j->k; p++) packed[c * j->k + p] = j->b[p * j->rsb + c * j->csb];
    own_b_held = j->copy;
  }
  return packed;
}

static void s_direct_piece(void *context, int index, int count) {
  (void)count;
  const s_direct_job *j = context;
  const long lo = index * j->step;
  if (j->shape == S_SWEEP) {  // depth rows [lo, lo + len) into partial row `index`
    const long len = (lo + j->step < j->k ? lo + j->step : j->k) - lo;
    s_sweep_rows_avx2(j->extent, len, j->a + lo * j->csa, j->csa, j->b + lo * j->rsb, j->rsb, 1,
                      j->partial + index * j->extent);
    return;
  }
  const long len = (lo + j->step < j->extent ? lo + j->step : j->extent) - lo;
  if (len <= 0) return;
  switch (j->shape) {
  case S_DOT_ROWS:  // matrix-vector, A's rows contiguous: dot products
    s_dot_rows_avx2(len, j->k, j->b, j->a + lo * j->rsa, j->rsa, j->c + lo * j->ldc, j->ldc, j->overwrite);
    break;
  case S_DOT_COLUMNS:  // vector-matrix, B transposed: dot products
    s_dot_rows_avx2(len, j->k, j->a, j->b + lo * j->csb, j->csb, j->c + lo, 1, j->overwrite);
    break;
  case S_DOT_PRODUCTS: {
    const float *bt = j->copy ? s_b_transposed(j) : j->b;
    if (bt) {
      s_dot_products_avx2(len, j->n, j->k, j->a + lo * j->rsa, j->rsa, bt, j->copy ? j->k : j->csb, j->overwrite,
                          j->c + lo * j->ldc, j->ldc);
    } else {  // out of memory for the copy: these rows as plain sums (rounded unlike the kernel's)
      s_unpacked(lo, lo + len, 0, j->n, j->k, j->a, j->rsa, j->csa, j->b, j->rsb, j->csb, j->overwrite, j->c, j->ldc);
    }
    break;
  }
  default:
    s_outer_products_avx2(len, j->n, j->k, j->a + lo, j->csa, j->b, j->rsb, j->csb, j->overwrite, j->c + lo * j->ldc,
                          j->ldc);
  }
}

// The direct paths: returns 1 when the product was computed, 0 to leave it to the blocked one.
// From SHARED_WORK they run in pieces over the threads (rows, or columns for a single row; a
// piece's size a multiple of the kernel's block of rows, so each element is computed as on
// one thread; a sweep in fixed blocks of its depth, on one thread as on several). The
// matrix-vector shapes take these paths at every size (the blocked path would pack all of A to
// fill 16 columns and keep one); the few-column ones below THREAD_WORK.
static int s_direct(long m, long n, long k, const float *a, long rsa, long csa, const float *b, long rsb,
                    long csb, int overwrite, float *c, long ldc) {
  if (!bp_use_avx2() || !bp_direct_gemm()) return 0;
  const double work = (double)m * (double)n * (double)k;
  if (work <= SMALL_WORK) return 0;
  s_direct_job job = {0, overwrite, m, n, k, rsa, csa, rsb, csb, ldc, m, 0, a, b, c, NULL, 0};
  long block = 4;  // the kernel's rows (or columns) per block
  if (n == 1 && csa == 1 && rsb == 1) {
    job.shape = S_DOT_ROWS;
  } else if ((n == 1 && rsa == 1 && ldc == 1) || (m == 1 && csb == 1)) {
    // A transposed times a vector (the rows: A's stored rows; the vector: op(B)'s column), or a
    // vector times B (the rows: B's; the vector: op(A)'s row).
    job.shape = S_SWEEP;
    if (n == 1) job.a = b, job.csa = rsb, job.b = a, job.rsb = csa, job.extent = m;
    else job.extent = n;
    // Blocks of SWEEP_DEPTH rows (of a multiple of it beyond 64 blocks, to bound the partial
    // sums' memory): fixed by the shape, so the sums round alike on any number of threads.
    const long units = (k + SWEEP_DEPTH - 1) / SWEEP_DEPTH;
    job.step = (units + 63) / 64 * SWEEP_DEPTH;
    const long blocks = (k + job.step - 1) / job.step;
    if (blocks == 1) {  // one block: straight into C
      s_sweep_rows_avx2(job.extent, k, job.a, job.csa, job.b, job.rsb, overwrite, c);
      return 1;
    }
    job.partial = bp_scratch(0, sizeof(float) * (size_t)blocks * (size_t)job.extent);
    if (!job.partial) return 0;
    double start = 0;
    const int split = work >= SHARED_WORK && bp_split_begin(S_SWEEP, &start);
    if (split)
      bp_parallel_for((int)blocks, s_direct_piece, &job);
    else
      for (long i = 0; i < blocks; i++) s_direct_piece(&job, (int)i, (int)blocks);
    const float *restrict part = job.partial;
    for (long j = 0; j < job.extent; j++) {  // the blocks' sums, added in order
      float t = part[j];
      for (long i = 1; i < blocks; i++) t += part[i * job.extent + j];
      c[j] = overwrite ? t : c[j] + t;
    }
    if (work >= SHARED_WORK) bp_split_end(S_SWEEP, split, work, start);
    return 1;
  } else if (m == 1 && csa == 1 && rsb == 1) {
    job.shape = S_DOT_COLUMNS, job.extent = n;
  } else if (work < THREAD_WORK && n >= 2 && n < S_NR && m >= S_MR && k >= 64 && csa == 1) {
    job.shape = S_DOT_PRODUCTS, block = 5;
    // op(B)ᵀ's rows copied by each thread (`s_b_transposed`), else read in place (row stride csb)
    if (rsb != 1) job.copy = own_b_call();
  } else if (work < THREAD_WORK && n >= 2 && n <= 12 && m >= 16 && rsa == 1) {
    job.shape = S_OUTER_PRODUCTS, block = 8;
  } else {
    return 0;
  }
  double start = 0;
  const int split = work >= SHARED_WORK && bp_split_begin(job.shape, &start);
  // Two pieces per thread: a late worker's share is taken by the others.
  long pieces = split ? 2L * bp_max_threads() : 1;
  const long blocks = (job.extent + block - 1) / block;
  if (pieces > blocks) pieces = blocks;
  job.step = (blocks + pieces - 1) / pieces * block;
  pieces = (job.extent + job.step - 1) / job.step;
  if (pieces <= 1) s_direct_piece(&job, 0, 1);
  else bp_parallel_for((int)pieces, s_direct_piece, &job);
  if (work >= SHARED_WORK) bp_split_end(job.shape, split, work, start);
  return 1;
}
#endif

// MARK: Blocking from the caches
//
// Goto's loops keep one KC×NR panel of B in L1 beside the streaming A panel, one MC×KC block
// of A in L2 and one KC×NC block of B in L3. MC and NC come from the caches this CPU reports
// (Linux: /sys/devices/system/cpu/cpu0/cache, which gives the real L3 where sysconf may not;
// then sysconf; macOS: sysctl), following the analytic model of Low et al., "Analytical
// modeling is enough for high-performance BLIS" (ACM TOMS 43(2), 2016), with the shares
// measured on the AMD EPYC Zen 3 of BENCHMARKS.md (L2 512 KiB), where they give the sizes tuned
// there by hand with KC 256 (float MC 144, double MC 72):
//   MC = (9/32)·L2 / (KC·size), a multiple of MR in [MR, 1024]
//   NC = L3 / (4·cores) / (KC·size) for float, L3 / (8·cores) / (KC·size) for double, a
//        multiple of NR in [256, 4096] (double's half-size block measured 10-20% faster at
//        2048³ on the Zen 3, on one thread and on two: 27-29 -> 30 and 48-52 -> 57-59 GFLOP/s,
//        session 11; float's half-size block was no faster there)
// KC is a constant of each type, 256 for float and 512 for double: it is where the depth is
// split, so it decides the rounding, and a fixed KC gives the same bits on every machine with
// the same kernel path. MC and NC only reorder whole tiles. Unknown sizes fall back to 512 KiB
// and 8 MiB. Float's B panel (16 KiB, 256×16×4 bytes) fits half of any L1d of 32 KiB or more,
// the model's rule. Double's KC was 256 until session 41; on the Zen 4 of BENCHMARKS.md
// (32 KiB L1d, 1 MiB L2) 512 ran DGEMM 512-2048 2-5% faster on both paths, one thread and two
// (its C tiles are loaded and stored half as often; AMD's BLIS configuration for Zen 4 also
// takes KC 512 for double), although its B panel then fills L1d (512×8×8 bytes) or twice it
// (the AVX-512 tile's 512×16×8). Float at 512 was 2-7% faster on square products there too,
// but 3% slower on the example CNN's filter gradient (288x15488 by 15488x64, A transposed,
// read in place), so float keeps 256.
// The AVX-512 tiles (8×32 float, 12×16 double) take the same rule with their MR and NR and
// the same KC, so their results are those of the AVX2 path bit for bit. Their float B panel
// (256×32×4 = 32 KiB) fills a 32 KiB L1d rather than half of it; the AVX-512 CPUs met so far
// have 48 KiB (Intel since Ice Lake) or 32 KiB with a wider load path (AMD Zen 4).
#define GEMM_KC_FLOAT 256
#define GEMM_KC_DOUBLE 512
// The depth block of elements of `size` bytes (4 or 8).
#define GEMM_KC(size) ((size) == 8 ? GEMM_KC_DOUBLE : GEMM_KC_FLOAT)

typedef struct {
  long kc, mc, nc;
} gemm_blocking;

// The blocking of each tile, [double precision][wide: the AVX-512 tiles], and the tiles.
static gemm_blocking blockings[2][2] = {{{GEMM_KC_FLOAT, 144, 2048}, {GEMM_KC_FLOAT, 144, 2048}},
                                       {{GEMM_KC_DOUBLE, 36, 1024}, {GEMM_KC_DOUBLE, 36, 1024}}};
static const long tiles[2][2][2] = {{{S_MR, S_NR}, {SW_MR, SW_NR}}, {{D_MR, D_NR}, {DW_MR, DW_NR}}};
static long cache_sizes[3] = {0, 0, 0};  // L1d, L2, L3 in bytes, as found (0: unknown)
static pthread_once_t blocking_once = PTHREAD_ONCE_INIT;

// "32K", "512K", "32768K", "1M" (sysfs sizes) in bytes; 0 when unreadable.
static long parse_cache_size(const char *text) {
  char *end = NULL;
  long v = strtol(text, &end, 10);
  if (v <= 0 || end == text) return 0;
  if (*end == 'K') v *= 1024;
  else if (*end == 'M') v *= 1024 * 1024;
  return v;
}

static int read_small_file(const char *path, char *buf, size_t size) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t n = fread(buf, 1, size - 1, f);
  fclose(f);
  buf[n] = 0;
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = 0;
  return n > 0;
}

static void find_cache_sizes(void) {
#if defined(__linux__)
  for (int i = 0; i < 16; i++) {
    char path[96], level[16], type[32], size[32];
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
    if (!read_small_file(path, level, sizeof level)) break;
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
    if (!read_small_file(path, type, sizeof type) || strcmp(type, "Instruction") == 0) continue;
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
    if (!read_small_file(path, size, sizeof size)) continue;
    const int l = atoi(level);
    if (l >= 1 && l <= 3 && cache_sizes[l - 1] == 0) cache_sizes[l - 1] = parse_cache_size(size);
  }
#if defined(_SC_LEVEL1_DCACHE_SIZE)
  const int names[3] = {_SC_LEVEL1_DCACHE_SIZE, _SC_LEVEL2_CACHE_SIZE, _SC_LEVEL3_CACHE_SIZE};
  for (int l = 0; l < 3; l++)
    if (cache_sizes[l] == 0) {
      long v = sysconf(names[l]);
      if (v > 0) cache_sizes[l] = v;
    }
#endif
#elif defined(__APPLE__)
  const char *names[3] = {"hw.l1dcachesize", "hw.l2cachesize", "hw.l3cachesize"};
  for (int l = 0; l < 3; l++) {
    int64_t v = 0;
    size_t len = sizeof v;
    if (sysctlbyname(names[l], &v, &len, NULL, 0) == 0 && v > 0) cache_sizes[l] = (long)v;
  }
#endif
}

static long clamp_multiple(long v, long multiple, long lo, long hi) {
  v = v / multiple * multiple;
  return v < lo ? lo : (v > hi ? hi : v);
}

static gemm_blocking derive_blocking(long mr, long nr, long size, const long caches[3], long cores) {
  const long l2 = caches[1] > 0 ? caches[1] : 512L << 10;
  const long l3 = caches[2] > 0 ? caches[2] : 8L << 20;
  if (cores < 1) cores = 1;
  gemm_blocking b;
  b.kc = GEMM_KC(size);
  b.mc = clamp_multiple(l2 / 32 * 9 / (b.kc * size), mr, mr, 1024 / mr * mr);
  b.nc = clamp_multiple(l3 / ((size == 8 ? 8 : 4) * cores) / (b.kc * size), nr, 256, 4096);
  return b;
}


static gemm_blocking blocking_for(int double_precision, int wide, const long caches[3], long cores) {
  const long *tile = tiles[double_precision != 0][wide != 0];
  return derive_blocking(tile[0], tile[1], double_precision ? (long)sizeof(double) : (long)sizeof(float), caches, cores);
}

static void init_blocking(void) {
  find_cache_sizes();
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  for (int dp = 0; dp < 2; dp++)
    for (int wide = 0; wide < 2; wide++) blockings[dp][wide] = blocking_for(dp, wide, cache_sizes, cores);
}

static inline void ensure_blocking(void) { pthread_once(&blocking_once, init_blocking); }

void bp_gemm_blocking(int double_precision, long *kc, long *mc, long *nc, long caches[3]) {
  ensure_blocking();
  const int isa = bp_kernel_isa();
  const gemm_blocking *b = &blockings[double_precision != 0][isa == BP_ISA_AVX512 || isa == BP_ISA_WIDE_ON_AVX2];
  *kc = b->kc, *mc = b->mc, *nc = b->nc;
  for (int l = 0; l < 3; l++) caches[l] = cache_sizes[l];
}

void bp_gemm_derive_blocking(int double_precision, int wide, const long caches[3], long cores, long *kc, long *mc,
                             long *nc) {
  const gemm_blocking b = blocking_for(double_precision, wide, caches, cores);
  *kc = b.kc, *mc = b.mc, *nc = b.nc;
}

typedef void (*s_ukr_fn)(long, const float *restrict, long, long, const float *restrict, float *restrict, long, int);
typedef void (*d_ukr_fn)(long, const double *restrict, long, long, const double *restrict, double *restrict, long, int);

// The most pieces of rows one shared block of B is split into (`gemm_shared_pieces`).
#define GEMM_SHARED_PIECES 128

// The pieces of rows (whole panels) that `threads` threads claim in turn from one shared block
// of B (gemm_template.h, `shared`): guided self-scheduling (Polychronopoulos and Kuck, IEEE
// Trans. Computers 36(12), 1987), each piece a (2·threads)th of the panels left, at most `most`
// (MC rows), at least one panel, so the pieces shrink towards the end and the threads finish
// together: a thread that claims the last piece waits at most one panel's work for the other.
// (Equal pieces of about three panels left a thread idle for half a piece on average: DGEMM 256
// on 2 threads, 22 panels in 8 pieces, 0.95 of OpenBLAS.) Writes bounds[0...pieces] and returns
// the number of pieces; piece i is panels [bounds[i], bounds[i + 1]). More pieces than
// GEMM_SHARED_PIECES would take are made larger instead.
static int gemm_shared_pieces(long panels, long most, int threads, long *bounds) {
  int pieces = 0;
  long at = 0;
  while (at < panels) {
    const long left = panels - at, slots = GEMM_SHARED_PIECES - pieces;
    long take = (left + 2L * threads - 1) / (2L * threads);
    if (take > most) take = most;
    if (take < (left + slots - 1) / slots) take = (left + slots - 1) / slots;
    bounds[pieces++] = at;
    at += take;
  }
  bounds[pieces] = panels;
  return pieces;
}

// The packed path, once per element type and tile: s_ and d_ (6-row tiles: the portable and
// AVX2 micro-kernels), sw_ and dw_ (8- and 12-row tiles: the AVX-512 micro-kernels).
#define T float
#define UKR_FN s_ukr_fn
#define NAME(x) s_##x
#define MR S_MR
#define NR S_NR
#define BLOCKING blockings[0][0]
#define PORTABLE_UKR
#include "gemm_template.h"
#if BP_X86
#define NAME(x) sw_##x
#define MR SW_MR
#define NR SW_NR
#define BLOCKING blockings[0][1]
#include "gemm_template.h"
#endif
#undef T
#undef UKR_FN

#define T double
#define UKR_FN d_ukr_fn
#define NAME(x) d_##x
#define MR D_MR
#define NR D_NR
#define BLOCKING blockings[1][0]
#define PORTABLE_UKR
#include "gemm_template.h"
#if BP_X86
#define NAME(x) dw_##x
#define MR DW_MR
#define NR DW_NR
#define BLOCKING blockings[1][1]
#include "gemm_template.h"
#endif
#undef T
#undef UKR_FN

// MARK: Small products and the entry points

// Small products: direct loops with no packing, compiled for each instruction set (the
// vectorizer contracts `c + a·b` into an FMA on AVX2 and AVX-512 alike).
#define DEFINE_SMALL(T, P)                                                                               \
  BP_INLINE void P##_small_body(long m, long n, long k, const T *a, long rsa, long csa, const T *b,        \
                                long rsb, long csb, int overwrite, T *restrict c, long ldc) {             \
    for (long i = 0; i < m; i++) {                                                                       \
      T *restrict crow = c + i * ldc;                                                                    \
      if (csb == 1) {                                                                                    \
        if (overwrite)                                                                                   \
          for (long j = 0; j < n; j++) crow[j] = 0;                                                      \
        for (long p = 0; p < k; p++) {                                                                   \
          T aip = a[i * rsa + p * csa];                                                                  \
          const T *restrict brow = b + p * rsb;                                                          \
          for (long j = 0; j < n; j++) crow[j] += aip * brow[j];                                         \
        }                                                                                                \
      } else {                                                                                           \
        for (long j = 0; j < n; j++) {                                                                   \
          T s = 0;                                                                                       \
          for (long p = 0; p < k; p++) s += a[i * rsa + p * csa] * b[p * rsb + j * csb];                 \
          crow[j] = overwrite ? s : crow[j] + s;                                                         \
        }                                                                                                \
      }                                                                                                  \
    }                                                                                                    \
  }                                                                                                      \
  SMALL_VARIANTS(T, P)

#if BP_X86
#define SMALL_VARIANTS(T, P)                                                                             \
  static void P##_small_portable(long m, long n, long k, const T *a, long rsa, long csa, const T *b,      \
                                 long rsb, long csb, int overwrite, T *restrict c, long ldc) {           \
    P##_small_body(m, n, k, a, rsa, csa, b, rsb, csb, overwrite, c, ldc);                                \
  }                                                                                                      \
  BP_AVX2 static void P##_small_avx2(long m, long n, long k, const T *a, long rsa, long csa, const T *b,  \
                                     long rsb, long csb, int overwrite, T *restrict c, long ldc) {       \
    P##_small_body(m, n, k, a, rsa, csa, b, rsb, csb, overwrite, c, ldc);                                \
  }                                                                                                      \
  BP_AVX512 static void P##_small_avx512(long m, long n, long k, const T *a, long rsa, long csa,          \
                                         const T *b, long rsb, long csb, int overwrite, T *restrict c,   \
                                         long ldc) {                                                     \
    P##_small_body(m, n, k, a, rsa, csa, b, rsb, csb, overwrite, c, ldc);                                \
  }                                                                                                      \
  static void P##_small(int isa, long m, long n, long k, const T *a, long rsa, long csa, const T *b,      \
                        long rsb, long csb, int overwrite, T *restrict c, long ldc) {                    \
    switch (isa) {                                                                                       \
    case BP_ISA_PORTABLE: P##_small_portable(m, n, k, a, rsa, csa, b, rsb, csb, overwrite, c, ldc); break; \
    case BP_ISA_AVX512: P##_small_avx512(m, n, k, a, rsa, csa, b, rsb, csb, overwrite, c, ldc); break;   \
    default: P##_small_avx2(m, n, k, a, rsa, csa, b, rsb, csb, overwrite, c, ldc);                        \
    }                                                                                                    \
  }
#else
#define SMALL_VARIANTS(T, P)                                                                             \
  static void P##_small(int isa, long m, long n, long k, const T *a, long rsa, long csa, const T *b,      \
                        long rsb, long csb, int overwrite, T *restrict c, long ldc) {                    \
    (void)isa;                                                                                           \
    P##_small_body(m, n, k, a, rsa, csa, b, rsb, csb, overwrite, c, ldc);                                \
  }
#endif

DEFINE_SMALL(float, s)
DEFINE_SMALL(double, d)

#if BP_X86
// MARK: Products on the AVX-512 tiles without packing (issue 13)
//
// With B's rows contiguous, the AVX-512 path reads the operands where they are instead of
// packing them when packing does not pay: below SHARED_WORK (packing 8-16 KiB of A and B was a
// large share of so short a product, as were the edge tiles), and at any size when C has at most
// UNPACKED_MAX_COLUMNS columns, whole tiles (a packed block of A would serve only one or two
// column tiles: a convolution's forward product, 847x288 by 288x64 in the example CNN). The
// tile's MR rows of A broadcast from their rows, B's 2·LANES columns loaded from its rows; each
// row tile computes every column tile in turn, so its rows of A stay in L1. Every element is the
// packed path's chain (t = fma(a[i][p], b[p][j], t) over each depth block of KC, then c + t), so
// the bits are the packed path's on any number of threads (pieces of whole row tiles); the
// columns past the last full tile go to the packed path itself. On the Xeon of BENCHMARKS.md
// (one thread, interleaved runs, GFLOP/s): SGEMM 64³ about 67 -> 100, 32x64 by 64x128 66 -> 87,
// DGEMM 64³ 34 -> 47 (session 12); 847x288 by 288x64 120-131 -> 138-169 (session 13).
#define UNPACKED_MAX_COLUMNS 64
#define DEFINE_UNPACKED(T, VEC, VECU, LANES, MRW, P, PW, SPLIT_KIND, FN)                             \
  /* rows (<= MRW) × 2·LANES of C (+)= rows of A (stride rsa, depth stride csa) · B's rows, depth kc */ \
  BP_INLINE void P##_unpacked_tile(int rows, long kc, const T *a, long rsa, long csa, const T *b, long rsb, \
                                   T *c, long ldc, int accumulate) {                                   \
    VEC acc[MRW][2];                                                                                   \
    _Pragma("clang loop unroll(full)") for (int i = 0; i < MRW; i++) acc[i][0] = acc[i][1] = (VEC)0;    \
    for (long p = 0; p < kc; p++) {                                                                    \
      /* A transposed (its rows contiguous, its depth strided): each step of the depth reads a new \
         line of A, which the hardware does not fetch ahead; fetched 32 steps ahead (prefetches    \
         do not fault past the end). 288x15488 by 15488x64 with A transposed, one thread: 48 -> 73 \
         GFLOP/s (session 16, alternated runs). */                                                   \
      if (csa != 1) {                                                                                  \
        _mm_prefetch((const char *)(a + (p + 32) * csa), _MM_HINT_T0);                                 \
        _mm_prefetch((const char *)(a + (p + 32) * csa + (MRW - 1) * rsa), _MM_HINT_T0);               \
      }                                                                                                \
      const VEC b0 = *(const VECU *)(b + p * rsb), b1 = *(const VECU *)(b + p * rsb + LANES);          \
      _Pragma("clang loop unroll(full)") for (int i = 0; i < MRW; i++) {                               \
        if (i < rows) {                                                                                \
          const VEC x = (VEC)a[i * rsa + p * csa];                                                     \
          acc[i][0] = __builtin_elementwise_fma(x, b0, acc[i][0]);                                     \
          acc[i][1] = __builtin_elementwise_fma(x, b1, acc[i][1]);                                     \
        }                                                                                              \
      }                                                                                                \
    }                                                                                                  \
    P##_store_rows(rows, acc, c, ldc, accumulate);                                                     \
  }                                                                                                    \
  /* rows [i, i + rows) by the full column tiles, over the depth block at pc */                       \
  BP_INLINE void P##_unpacked_block(int rows, long pc, long n, long k, const T *a, long rsa, long csa,   \
                                    const T *b, long rsb, int overwrite, T *c, long ldc) {            \
    const long kc = k - pc < GEMM_KC(sizeof(T)) ? k - pc : GEMM_KC(sizeof(T));                       \
    const int accumulate = !(overwrite && pc == 0);                                                    \
    for (long j = 0; j + 2 * LANES <= n; j += 2 * LANES) {                                             \
      const T *ap = a + pc * csa, *bp = b + pc * rsb + j;                                              \
      if (rows == MRW) P##_unpacked_tile(MRW, kc, ap, rsa, csa, bp, rsb, c + j, ldc, accumulate);      \
      else P##_unpacked_tile(rows, kc, ap, rsa, csa, bp, rsb, c + j, ldc, accumulate);                 \
    }                                                                                                  \
  }                                                                                                    \
  /* rows [m0, m1) by the full column tiles, in blocks of rows, each block over the depth blocks \
     in order and each depth block over the block's row tiles. When B fits in half of L2 a block \
     is one row tile (its rows of A stay in L1 over every column tile and depth block, and B     \
     stays in L2). Otherwise (a long depth: a weight gradient over a batch of images, 288x15488 \
     by 15488x64) re-reading B for every row tile would stream all of it from memory each time, \
     so a block is as many rows as keep their C in a quarter of L2 (B's depth block stays in    \
     cache). Either way each element of C gets its depth blocks in order: the same bits. */      \
  BP_INLINE void P##_unpacked_rows(long m0, long m1, long n, long k, const T *a, long rsa, long csa,      \
                                   const T *b, long rsb, int overwrite, T *c, long ldc) {             \
    const long l2 = cache_sizes[1] > 0 ? cache_sizes[1] : 512L << 10;                                  \
    const long block = (double)k * (double)n * sizeof(T) <= l2 / 2                                    \
                           ? MRW                                                                       \
                           : clamp_multiple(l2 / 4 / (n * (long)sizeof(T)), MRW, MRW, 1L << 20);      \
    for (long i0 = m0; i0 < m1; i0 += block) {                                                         \
      const long i1 = m1 - i0 < block ? m1 : i0 + block;                                               \
      for (long pc = 0; pc < k; pc += GEMM_KC(sizeof(T)))                                              \
        for (long i = i0; i < i1; i += MRW) {                                                          \
          const int rows = i1 - i >= MRW ? MRW : (int)(i1 - i);                                        \
          P##_unpacked_block(rows, pc, n, k, a + i * rsa, rsa, csa, b, rsb, overwrite, c + i * ldc, ldc); \
        }                                                                                              \
    }                                                                                                  \
  }                                                                                                    \
  typedef struct {                                                                                     \
    void (*rows)(long, long, long, long, const T *, long, long, const T *, long, int, T *, long);      \
    long m, n, k, rsa, csa, rsb, ldc, step;                                                            \
    const T *a, *b;                                                                                    \
    T *c;                                                                                              \
    int overwrite;                                                                                     \
  } P##_unpacked_job;                                                                                  \
  static void P##_unpacked_piece(void *context, int index, int count) {                                \
    (void)count;                                                                                       \
    const P##_unpacked_job *j = context;                                                               \
    const long m0 = index * j->step, m1 = m0 + j->step < j->m ? m0 + j->step : j->m;                   \
    j->rows(m0, m1, j->n, j->k, j->a, j->rsa, j->csa, j->b, j->rsb, j->overwrite, j->c, j->ldc);       \
  }                                                                                                    \
  /* the full column tiles (split in pieces of rows over the threads as the packed path splits:   \
     from THREAD_WORK, and from SHARED_WORK when that measures faster); the columns after them  \
     through the packed path with `ukr` */                                                           \
  BP_INLINE void P##_unpacked_body(FN ukr, void (*rows)(long, long, long, long, const T *, long, long, \
                                                           const T *, long, int, T *, long),         \
                                   long m, long n, long k, const T *a, long rsa, long csa, const T *b,  \
                                   long rsb, int overwrite, T *c, long ldc) {                         \
    const double work = (double)m * (double)n * (double)k;                                             \
    const int threads = bp_max_threads();                                                              \
    /* whether the split is chosen by measurement (a medium product), as in `packed` */             \
    const int splittable = threads > 1 && work >= SHARED_WORK && m >= 4 * MRW;                         \
    const int measured = splittable && work < THREAD_WORK;                                             \
    double start = 0;                                                                                  \
    const int split = splittable && (!measured || bp_split_begin(SPLIT_KIND, &start));                 \
    if (split) {                                                                                       \
      /* Two pieces per thread, each whole row tiles (a late worker's share is taken by the others) */ \
      const long tiles = (m + MRW - 1) / MRW, per = (tiles + 2 * threads - 1) / (2 * threads);         \
      P##_unpacked_job job = {rows, m, n, k, rsa, csa, rsb, ldc, per * MRW, a, b, c, overwrite};       \
      bp_parallel_for((int)((m + job.step - 1) / job.step), P##_unpacked_piece, &job);                 \
    } else {                                                                                           \
      rows(0, m, n, k, a, rsa, csa, b, rsb, overwrite, c, ldc);                                        \
    }                                                                                                  \
    if (measured) bp_split_end(SPLIT_KIND, split, work, start);                                        \
    const long done = n / (2 * LANES) * (2 * LANES);                                                   \
    if (done < n) PW##_packed(ukr, m, n - done, k, a, rsa, csa, b + done, rsb, 1, overwrite, c + done, ldc); \
  }

// The AVX-512 tiles without packing, compiled for AVX-512F and (for tests) for AVX2.
#define DEFINE_WIDE_UNPACKED(T, VEC, VECU, LANES, MRW, P, PW, SPLIT_KIND)                              \
  DEFINE_UNPACKED(T, VEC, VECU, LANES, MRW, P, PW, SPLIT_KIND, P##_fn)                                 \
  /* whether a product takes this path (B's rows contiguous): small, or few whole column tiles */   \
  BP_INLINE int P##_takes_unpacked(long n, long csb, double work) {                                    \
    return csb == 1 && (work < SHARED_WORK || (n <= UNPACKED_MAX_COLUMNS && n % (2 * LANES) == 0));     \
  }                                                                                                    \
  BP_AVX512 static void P##_unpacked_rows_avx512(long m0, long m1, long n, long k, const T *a, long rsa,  \
                                                 long csa, const T *b, long rsb, int overwrite, T *c, long ldc) { \
    P##_unpacked_rows(m0, m1, n, k, a, rsa, csa, b, rsb, overwrite, c, ldc);                           \
  }                                                                                                    \
  BP_AVX2 static void P##_unpacked_rows_wide_on_avx2(long m0, long m1, long n, long k, const T *a,      \
                                                     long rsa, long csa, const T *b, long rsb, int overwrite, \
                                                     T *c, long ldc) {                                \
    P##_unpacked_rows(m0, m1, n, k, a, rsa, csa, b, rsb, overwrite, c, ldc);                           \
  }                                                                                                    \
  static void P##_unpacked_avx512(long m, long n, long k, const T *a, long rsa, long csa, const T *b,   \
                                  long rsb, int overwrite, T *c, long ldc) {                          \
    P##_unpacked_body(P##_ukr_avx512, P##_unpacked_rows_avx512, m, n, k, a, rsa, csa, b, rsb, overwrite, c, ldc); \
  }                                                                                                    \
  static void P##_unpacked_wide_on_avx2(long m, long n, long k, const T *a, long rsa, long csa,         \
                                        const T *b, long rsb, int overwrite, T *c, long ldc) {        \
    P##_unpacked_body(P##_ukr_wide_on_avx2, P##_unpacked_rows_wide_on_avx2, m, n, k, a, rsa, csa, b, rsb, \
                      overwrite, c, ldc);                                                              \
  }

// The AVX2 path's 6-row tiles (6×16 float, 6×8 double) without packing, for small products
// only (session 39, the Zen 4 of BENCHMARKS.md, AVX2 path, 2 threads, interleaved runs, GFLOP/s:
// SGEMM 64³ about 90 -> 106, 32x64 by 64x128 80 -> 101, DGEMM 64³ 46 -> 52). Not for the
// larger narrow products the AVX-512 tiles take unpacked: a 16-column tile loads 64 bytes of B
// per 12 multiply-adds of 8 lanes where the AVX-512 tile loads 128 per 16 of 16, and with B
// beyond L1 (288x15488 by 15488x64, A transposed) that measured slower than packing.
// `UKR` is the 6-row micro-kernel for the columns past the last full tile (the packed path).
#define DEFINE_AVX2_UNPACKED(T, VEC, VECU, LANES, MRW, P, PW, SPLIT_KIND, UKR)                         \
  DEFINE_UNPACKED(T, VEC, VECU, LANES, MRW, P, PW, SPLIT_KIND, P##_fn)                                 \
  /* whether a product takes this path: small, B's rows contiguous */                              \
  BP_INLINE int P##_takes_unpacked(long n, long csb, double work) {                                    \
    (void)n;                                                                                           \
    return csb == 1 && work < SHARED_WORK;                                                             \
  }                                                                                                    \
  BP_AVX2 static void P##_unpacked_rows_avx2(long m0, long m1, long n, long k, const T *a, long rsa,    \
                                             long csa, const T *b, long rsb, int overwrite, T *c, long ldc) { \
    P##_unpacked_rows(m0, m1, n, k, a, rsa, csa, b, rsb, overwrite, c, ldc);                           \
  }                                                                                                    \
  static void P##_unpacked_avx2(long m, long n, long k, const T *a, long rsa, long csa, const T *b,     \
                                long rsb, int overwrite, T *c, long ldc) {                            \
    P##_unpacked_body(UKR, P##_unpacked_rows_avx2, m, n, k, a, rsa, csa, b, rsb, overwrite, c, ldc);    \
  }

typedef s_ukr_fn sgemm_fn;
typedef d_ukr_fn dgemm_fn;
DEFINE_WIDE_UNPACKED(float, bp_f32x16, bp_f32x16u, 16, SW_MR, sgemm, sw, BP_SPLIT_SGEMM)
DEFINE_WIDE_UNPACKED(double, bp_f64x8, bp_f64x8u, 8, DW_MR, dgemm, dw, BP_SPLIT_DGEMM)
typedef s_ukr_fn sgemm_ymm_fn;
typedef d_ukr_fn dgemm_ymm_fn;
DEFINE_AVX2_UNPACKED(float, bp_f32x8, bp_f32x8u, 8, S_MR, sgemm_ymm, s, BP_SPLIT_SGEMM, sgemm_ukr_avx2)
DEFINE_AVX2_UNPACKED(double, bp_f64x4, bp_f64x4u, 4, D_MR, dgemm_ymm, d, BP_SPLIT_DGEMM, dgemm_ukr_avx2)
#endif

// C = op(A)·op(B) + beta·C on the package's own kernels: beta's scaling, then the direct loops
// for small products or the packed path with the tile and micro-kernel of the thread's
// instruction set. (A macro per element type: the two differ only in names.)
#define DEFINE_GEMM(T, P, SMALL_NR, SMALL_MR, PACKED_CALLS)                                              \
  static void P##_gemm(int trans_a, int trans_b, long m, long n, long k, const T *a, long lda,            \
                       const T *b, long ldb, T beta, T *c, long ldc) {                                    \
    if (m <= 0 || n <= 0) return;                                                                        \
    if (beta != 0 && beta != 1)                                                                          \
      for (long i = 0; i < m; i++)                                                                       \
        for (long j = 0; j < n; j++) c[i * ldc + j] *= beta;                                             \
    const int overwrite = beta == 0;                                                                     \
    if (k <= 0) {                                                                                        \
      if (overwrite)                                                                                     \
        for (long i = 0; i < m; i++)                                                                     \
          for (long j = 0; j < n; j++) c[i * ldc + j] = 0;                                               \
      return;                                                                                            \
    }                                                                                                    \
    const long rsa = trans_a ? 1 : lda, csa = trans_a ? lda : 1;                                         \
    const long rsb = trans_b ? 1 : ldb, csb = trans_b ? ldb : 1;                                         \
    const double work = (double)m * (double)n * (double)k;                                               \
    const int isa = bp_kernel_isa();                                                                            \
    if (work <= SMALL_WORK || m < 2 || (n < SMALL_NR / 2 && m < SMALL_MR)) {                             \
      P##_small(isa, m, n, k, a, rsa, csa, b, rsb, csb, overwrite, c, ldc);                              \
      return;                                                                                            \
    }                                                                                                    \
    ensure_blocking(); /* the packed path reads MC, KC and NC */                                         \
    PACKED_CALLS                                                                                         \
  }

#if BP_X86
// One instruction set's tiles for columns [0, NN) of B and C starting at BB and CC (`work`
// multiply-adds): without packing where that path takes the shape, else packed.
#define WIDE_CALLS(P, UKR, ISA, NN, BB, CC, WORK)                                                   \
  if (UKR##_takes_unpacked(NN, csb, WORK)) UKR##_unpacked_##ISA(m, NN, k, a, rsa, csa, BB, rsb, overwrite, CC, ldc); \
  else P##w_packed(UKR##_ukr_##ISA, m, NN, k, a, rsa, csa, BB, rsb, csb, overwrite, CC, ldc);
#define AVX2_CALLS(P, UKR, NN, BB, CC, WORK)                                                        \
  if (UKR##_ymm_takes_unpacked(NN, csb, WORK)) UKR##_ymm_unpacked_avx2(m, NN, k, a, rsa, csa, BB, rsb, overwrite, CC, ldc); \
  else P##_packed(UKR##_ukr_avx2, m, NN, k, a, rsa, csa, BB, rsb, csb, overwrite, CC, ldc);
// The AVX-512 tiles' width (32 float, 16 double columns).
#define sgemm_WIDE_NR SW_NR
#define dgemm_WIDE_NR DW_NR
// The AVX-512 path (or its twin on AVX2, for tests): the columns up to the last whole wide
// tile on the wide tiles; the columns after them, when they fill at most half of one wide tile
// (n mod 32 in 1...16 for float), on the AVX2 path's tiles, which are half as wide. A wide edge
// tile computed 32 columns to keep 16 or fewer: 4096x1024 by 1024x16 ran at 34 GFLOP/s on one
// thread of the Zen 4 of BENCHMARKS.md against 74 on the AVX2 path (session 41). The bits are
// the same: both tiles compute each element as the same chain of FMAs over the same KC.
#define WIDE_SPLIT(P, UKR, ISA)                                                                      \
  {                                                                                                 \
    const long rest = n % UKR##_WIDE_NR, nw = rest > 0 && rest <= UKR##_WIDE_NR / 2 ? n - rest : n; \
    const double ww = (double)m * (double)nw * (double)k;                                          \
    if (nw > 0) { WIDE_CALLS(P, UKR, ISA, nw, b, c, ww) }                                          \
    if (nw < n) { AVX2_CALLS(P, UKR, n - nw, b + nw * csb, c + nw, work - ww) }                    \
  }
#define PACKED_CALLS(P, UKR)                                                                        \
  switch (isa) {                                                                                    \
  case BP_ISA_AVX512: WIDE_SPLIT(P, UKR, avx512) break;                                             \
  case BP_ISA_WIDE_ON_AVX2: WIDE_SPLIT(P, UKR, wide_on_avx2) break;                                 \
  case BP_ISA_AVX2: AVX2_CALLS(P, UKR, n, b, c, work) break;                                        \
  default: P##_packed(P##_ukr_portable, m, n, k, a, rsa, csa, b, rsb, csb, overwrite, c, ldc);      \
  }
#else
#define PACKED_CALLS(P, UKR) \
  (void)isa;                 \
  P##_packed(P##_ukr_portable, m, n, k, a, rsa, csa, b, rsb, csb, overwrite, c, ldc);
#endif

DEFINE_GEMM(float, s, S_NR, S_MR, PACKED_CALLS(s, sgemm))
DEFINE_GEMM(double, d, D_NR, D_MR, PACKED_CALLS(d, dgemm))

void bp_sgemm(int trans_a, int trans_b, long m, long n, long k, const float *a, long lda,
              const float *b, long ldb, float beta, float *c, long ldc) {
  if ((double)m * (double)n * (double)k >= THREAD_WORK &&
      bp_blas_sgemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc))
    return;
#if BP_X86
  if (m > 0 && n > 0 && k > 0 && (beta == 0 || beta == 1) &&
      s_direct(m, n, k, a, trans_a ? 1 : lda, trans_a ? lda : 1, b, trans_b ? 1 : ldb, trans_b ? ldb : 1,
               beta == 0, c, ldc))
    return;
#endif
  s_gemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

void bp_dgemm(int trans_a, int trans_b, long m, long n, long k, const double *a, long lda,
              const double *b, long ldb, double beta, double *c, long ldc) {
  if ((double)m * (double)n * (double)k >= THREAD_WORK &&
      bp_blas_dgemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc))
    return;
  d_gemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc);
}
