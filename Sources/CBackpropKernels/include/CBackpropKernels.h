#ifndef BACKPROP_KERNELS_H
#define BACKPROP_KERNELS_H

/// CPU kernels of Backprop's ArrayCore, written in C so that one build serves every CPU:
/// each kernel has an AVX2+FMA version (x86-64, chosen at run time when the CPU has both)
/// and a portable version in plain C that the compiler vectorizes for the baseline ISA
/// (SSE2 on x86-64, NEON on ARM). No compiler flags are needed.
///
/// Matrices are row-major. Sizes and leading dimensions are in elements.

#include <stddef.h>
#include "bp_tempfiles.h"

#ifdef __cplusplus
extern "C" {
#endif

// MARK: Dispatch and threads

/// The instruction-set level in use: 1 = AVX2+FMA kernels, 0 = portable kernels.
int bp_kernel_isa(void);

/// Forces the portable kernels (`use_portable != 0`) or restores automatic selection (0).
/// Meant for tests and benchmarks of the fallback path.
void bp_force_portable_kernels(int use_portable);

/// The number of threads large matrix products are split over (the online cores, or the value
/// of the environment variable BACKPROP_NUM_THREADS when set to a positive integer).
int bp_max_threads(void);

/// Sets the number of threads used for large matrix products (values below 1 restore the default).
void bp_set_max_threads(int threads);

/// Which matrix-product implementation large products use: 0 = portable kernels,
/// 1 = AVX2+FMA kernels, 2 = a system BLAS (see `bp_blas_library`).
int bp_gemm_backend(void);

// MARK: Optional system BLAS

// At first use the environment variable BACKPROP_BLAS is read: unset or empty, nothing is
// loaded (products are those of the package's own kernels, bit for bit); a path, that CBLAS
// library is opened with dlopen; "auto", common names are tried (libopenblas.so.0,
// libblis.so.4, libmkl_rt.so, libblas.so.3; Accelerate first on macOS). When `cblas_sgemm`
// and `cblas_dgemm` are found, products with at least 4·2^20 multiply-adds go to them.

/// The path or name of the loaded BLAS library, or NULL when none is in use.
const char *bp_blas_library(void);

/// Why BACKPROP_BLAS asked for a library and none was loaded (dlopen/dlsym messages), or NULL.
const char *bp_blas_error(void);

/// Selects the BLAS as BACKPROP_BLAS would (`spec` NULL or "": none; a path; or "auto"),
/// replacing the current choice. Returns 1 when a library is loaded, 0 otherwise.
int bp_blas_select(const char *spec);

// MARK: Matrix products

/// C[m×n] = op(A)·op(B) + beta·C, where op(A) is A (m×k, row stride lda) or, when `trans_a`,
/// the transpose of A stored as k×m; likewise op(B) is k×n. With beta = 0, C is only written.
/// Products with m·n·k above a threshold are split over `bp_max_threads()` threads.
void bp_sgemm(int trans_a, int trans_b, long m, long n, long k,
              const float *a, long lda, const float *b, long ldb,
              float beta, float *c, long ldc);

/// The double-precision version of `bp_sgemm`.
void bp_dgemm(int trans_a, int trans_b, long m, long n, long k,
              const double *a, long lda, const double *b, long ldb,
              double beta, double *c, long ldc);

// MARK: Elementwise

/// The arithmetic of the binary elementwise kernels.
typedef enum {
  BP_ADD = 0,
  BP_SUB = 1,
  BP_MUL = 2,
  BP_DIV = 3
} bp_binary_op;

/// z[i] = x[i] op y[i] for i < n. `z` may equal `x` or `y`.
void bp_s_binary_vv(bp_binary_op op, long n, const float *x, const float *y, float *z);
/// z[i] = x[i] op s for i < n.
void bp_s_binary_vs(bp_binary_op op, long n, const float *x, float s, float *z);
/// z[i] = s op y[i] for i < n.
void bp_s_binary_sv(bp_binary_op op, long n, float s, const float *y, float *z);
/// The double-precision versions.
void bp_d_binary_vv(bp_binary_op op, long n, const double *x, const double *y, double *z);
void bp_d_binary_vs(bp_binary_op op, long n, const double *x, double s, double *z);
void bp_d_binary_sv(bp_binary_op op, long n, double s, const double *y, double *z);

/// y[i] = a·x[i] + b for i < n (one fused pass).
/// Adam's update of n elements in place: m = m*b1 + g*c1; v = v*b2 + (g*g)*c2; then
/// x = x + -1*(x*lambda) when decays; x = x + -1*((eta*m) / (sqrt(v) + eps)), with
/// c = {b1, c1, b2, c2, eta, eps, lambda, decays (0 or 1)}. No contraction into FMAs.
void bp_s_adam(long n, const float *g, float *m, float *v, float *x, const float *c);
void bp_d_adam(long n, const double *g, double *m, double *v, double *x, const double *c);
void bp_s_axpb(long n, float a, const float *x, float b, float *y);
void bp_d_axpb(long n, double a, const double *x, double b, double *y);

/// y[i] = x[i] > 0 ? x[i] : 0 for i < n (NaN gives 0).
void bp_s_relu(long n, const float *x, float *y);
void bp_d_relu(long n, const double *x, double *y);

// MARK: Reductions

/// Σ_i x[i] over n elements (several partial sums, added pairwise at the end).
float bp_s_sum(long n, const float *x);
double bp_d_sum(long n, const double *x);

/// out[r] = Σ_j x[r·cols + j]: the sums of the rows of a rows×cols matrix (the last axis).
void bp_s_sum_rows(long rows, long cols, const float *x, float *out);
void bp_d_sum_rows(long rows, long cols, const double *x, double *out);

/// out[j] = Σ_r x[r·cols + j]: the sums of the columns (the leading axis).
void bp_s_sum_columns(long rows, long cols, const float *x, float *out);
void bp_d_sum_columns(long rows, long cols, const double *x, double *out);

#ifdef __cplusplus
}
#endif

#endif
