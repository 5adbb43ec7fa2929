// Matrix products: blocked, packed, register-tiled; AVX2+FMA micro-kernels on x86-64.
#include "CBackpropKernels.h"
#include "internal.h"

#if BP_X86
#include <immintrin.h>
#endif

// Products with fewer multiply-adds than this use the direct loops (no packing).
#define SMALL_WORK (24.0 * 24.0 * 24.0)
// Products with fewer multiply-adds than this stay on the calling thread (a hand-off to
// another thread and back costs tens of microseconds).
#define THREAD_WORK (4.0 * 1024.0 * 1024.0)

#if BP_X86
// 6×16 float tile: 12 accumulators of 8 lanes, two B vectors, one broadcast A value.
BP_AVX2 static void sgemm_ukr_avx2(long kc, const float *restrict a, const float *restrict b,
                                   float *restrict c, long ldc, int accumulate) {
  // Ask for the C tile now, so its loads at the end do not wait on memory (6 rows, 64 bytes
  // each, touching at most two cache lines).
  for (int i = 0; i < 6; i++) {
    _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch((const char *)(c + i * ldc + 15), _MM_HINT_T0);
  }
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (long p = 0; p < kc; p++) {
    __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
    __m256 x;
    x = _mm256_broadcast_ss(a + 0); c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
    x = _mm256_broadcast_ss(a + 1); c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
    x = _mm256_broadcast_ss(a + 2); c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
    x = _mm256_broadcast_ss(a + 3); c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
    x = _mm256_broadcast_ss(a + 4); c40 = _mm256_fmadd_ps(x, b0, c40); c41 = _mm256_fmadd_ps(x, b1, c41);
    x = _mm256_broadcast_ss(a + 5); c50 = _mm256_fmadd_ps(x, b0, c50); c51 = _mm256_fmadd_ps(x, b1, c51);
    a += 6;
    b += 16;
  }
#define STORE_ROW(i, v0, v1)                                                              \
  do {                                                                                    \
    float *row = c + (i) * ldc;                                                           \
    if (accumulate) {                                                                     \
      v0 = _mm256_add_ps(v0, _mm256_loadu_ps(row));                                       \
      v1 = _mm256_add_ps(v1, _mm256_loadu_ps(row + 8));                                   \
    }                                                                                     \
    _mm256_storeu_ps(row, v0);                                                            \
    _mm256_storeu_ps(row + 8, v1);                                                        \
  } while (0)
  STORE_ROW(0, c00, c01); STORE_ROW(1, c10, c11); STORE_ROW(2, c20, c21);
  STORE_ROW(3, c30, c31); STORE_ROW(4, c40, c41); STORE_ROW(5, c50, c51);
#undef STORE_ROW
}

// 6×8 double tile: 12 accumulators of 4 lanes.
BP_AVX2 static void dgemm_ukr_avx2(long kc, const double *restrict a, const double *restrict b,
                                   double *restrict c, long ldc, int accumulate) {
  for (int i = 0; i < 6; i++) {
    _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch((const char *)(c + i * ldc + 7), _MM_HINT_T0);
  }
  __m256d c00 = _mm256_setzero_pd(), c01 = _mm256_setzero_pd();
  __m256d c10 = _mm256_setzero_pd(), c11 = _mm256_setzero_pd();
  __m256d c20 = _mm256_setzero_pd(), c21 = _mm256_setzero_pd();
  __m256d c30 = _mm256_setzero_pd(), c31 = _mm256_setzero_pd();
  __m256d c40 = _mm256_setzero_pd(), c41 = _mm256_setzero_pd();
  __m256d c50 = _mm256_setzero_pd(), c51 = _mm256_setzero_pd();
  for (long p = 0; p < kc; p++) {
    __m256d b0 = _mm256_load_pd(b), b1 = _mm256_load_pd(b + 4);
    __m256d x;
    x = _mm256_broadcast_sd(a + 0); c00 = _mm256_fmadd_pd(x, b0, c00); c01 = _mm256_fmadd_pd(x, b1, c01);
    x = _mm256_broadcast_sd(a + 1); c10 = _mm256_fmadd_pd(x, b0, c10); c11 = _mm256_fmadd_pd(x, b1, c11);
    x = _mm256_broadcast_sd(a + 2); c20 = _mm256_fmadd_pd(x, b0, c20); c21 = _mm256_fmadd_pd(x, b1, c21);
    x = _mm256_broadcast_sd(a + 3); c30 = _mm256_fmadd_pd(x, b0, c30); c31 = _mm256_fmadd_pd(x, b1, c31);
    x = _mm256_broadcast_sd(a + 4); c40 = _mm256_fmadd_pd(x, b0, c40); c41 = _mm256_fmadd_pd(x, b1, c41);
    x = _mm256_broadcast_sd(a + 5); c50 = _mm256_fmadd_pd(x, b0, c50); c51 = _mm256_fmadd_pd(x, b1, c51);
    a += 6;
    b += 8;
  }
#define STORE_ROW(i, v0, v1)                                                              \
  do {                                                                                    \
    double *row = c + (i) * ldc;                                                          \
    if (accumulate) {                                                                     \
      v0 = _mm256_add_pd(v0, _mm256_loadu_pd(row));                                       \
      v1 = _mm256_add_pd(v1, _mm256_loadu_pd(row + 4));                                   \
    }                                                                                     \
    _mm256_storeu_pd(row, v0);                                                            \
    _mm256_storeu_pd(row + 4, v1);                                                        \
  } while (0)
  STORE_ROW(0, c00, c01); STORE_ROW(1, c10, c11); STORE_ROW(2, c20, c21);
  STORE_ROW(3, c30, c31); STORE_ROW(4, c40, c41); STORE_ROW(5, c50, c51);
#undef STORE_ROW
}
#endif

#define T float
#define NAME(x) s_##x
#define MR 6
#define NR 16
#define KC 256
#define MC 144
#define NC 2048
#define UKR_AVX2 sgemm_ukr_avx2
#include "gemm_template.h"
#undef T
#undef NAME
#undef MR
#undef NR
#undef KC
#undef MC
#undef NC
#undef UKR_AVX2

#define T double
#define NAME(x) d_##x
#define MR 6
#define NR 8
#define KC 256
#define MC 72
#define NC 2048
#define UKR_AVX2 dgemm_ukr_avx2
#include "gemm_template.h"

void bp_sgemm(int trans_a, int trans_b, long m, long n, long k, const float *a, long lda,
              const float *b, long ldb, float beta, float *c, long ldc) {
  if ((double)m * (double)n * (double)k >= THREAD_WORK &&
      bp_blas_sgemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc))
    return;
  s_gemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

void bp_dgemm(int trans_a, int trans_b, long m, long n, long k, const double *a, long lda,
              const double *b, long ldb, double beta, double *c, long ldc) {
  if ((double)m * (double)n * (double)k >= THREAD_WORK &&
      bp_blas_dgemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc))
    return;
  d_gemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc);
}
