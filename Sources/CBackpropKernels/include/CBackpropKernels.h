#ifndef BACKPROP_KERNELS_H
#define BACKPROP_KERNELS_H

/// CPU kernels of Backprop's ArrayCore, written in C so that one build serves every CPU:
/// each kernel has an AVX2+FMA version (x86-64, chosen at run time when the CPU has both),
/// the matrix products, elementwise kernels and reductions also an AVX-512 version (chosen
/// when the CPU has AVX-512F), and a portable version in plain C that the compiler vectorizes for the baseline ISA
/// (SSE2 on x86-64, NEON on ARM). No compiler flags are needed.
///
/// Matrices are row-major. Sizes and leading dimensions are in elements.

#include <stddef.h>
#include <stdint.h>
#include "bp_tempfiles.h"
#include "bp_supervisor.h"
#include "bp_lock.h"

#ifdef __cplusplus
extern "C" {
#endif

// MARK: Thread-local slots

/// Per-thread pointers that the Swift side keeps unretained (slot 0: the running eager tape,
/// slot 1: the active eager variable store, slot 2: non-null while eager results are checked
/// for NaN and infinity, slot 3: the compile trace being built, slot 4: non-null while the
/// eager backward cache is off), set and restored around synchronous scopes: a read is one load, where
/// a Swift task-local value costs a runtime lookup and a generic copy at every eager operation.
#define BP_THREAD_SLOTS 5
extern _Thread_local void *bp_thread_slots[BP_THREAD_SLOTS];
/// Slot `i` (0 <= i < BP_THREAD_SLOTS) of the calling thread.
static inline void *bp_thread_slot(int i) { return bp_thread_slots[i]; }
/// Sets slot `i` of the calling thread.
static inline void bp_set_thread_slot(int i, void *p) { bp_thread_slots[i] = p; }

// MARK: Dispatch and threads

/// Instruction-set levels of the kernels. BP_ISA_WIDE_ON_AVX2 is for tests: the AVX-512 path's
/// matrix-product tiles, blocking and packing, computed with AVX2+FMA instructions (the same
/// operations in the same order, so the same bits as BP_ISA_AVX512), which lets a machine
/// without AVX-512 test everything of that path but the instruction encoding.
#define BP_ISA_PORTABLE 0
#define BP_ISA_AVX2 1
#define BP_ISA_AVX512 2
#define BP_ISA_WIDE_ON_AVX2 3

/// The instruction-set level in use on the calling thread (a BP_ISA_* value): the requested
/// level (thread override, else BACKPROP_ISA, else the best) capped by what the CPU has.
int bp_kernel_isa(void);
/// The best level this CPU (and its operating system, for AVX-512's registers) supports.
int bp_cpu_isa(void);

/// Forces the portable kernels (`use_portable != 0`) or restores automatic selection (0), for
/// the whole process. The environment variable BACKPROP_ISA (`auto`, `avx512`, `avx2` or
/// `portable`) sets the same choice at first use; a level the CPU lacks gives the best below it.
/// Meant for tests and benchmarks of the other paths.
void bp_force_portable_kernels(int use_portable);

/// 1 when BACKPROP_ISA asked for an instruction set that this CPU or build does not have
/// (or is not one of `auto`, `avx512`, `avx2`, `portable`); the best available one below it is
/// used instead.
int bp_isa_request_unmet(void);
/// The value of BACKPROP_ISA, or NULL when it is not set.
const char *bp_isa_requested(void);

/// The calling thread's override of the instruction set: -1 (none: the process's choice) or a
/// BP_ISA_* level (capped by the CPU's). The pool's threads running a job take the override of
/// the thread that started it.
int bp_thread_isa(void);
/// Sets the calling thread's override (see `bp_thread_isa`; out-of-range values mean -1).
void bp_set_thread_isa(int isa);
/// The calling thread's override of `bp_direct_gemm`: -1 (none), 0 or 1.
int bp_thread_direct_gemm(void);
/// Sets the calling thread's override of `bp_direct_gemm` (-1 restores the process's choice).
void bp_set_thread_direct_gemm(int on);

/// The number of threads large matrix products are split over (the online cores, or the value
/// of the environment variable BACKPROP_NUM_THREADS when set to a positive integer).
int bp_max_threads(void);

/// Sets the number of threads used for large matrix products (values below 1 restore the default).
void bp_set_max_threads(int threads);

/// The smallest block `bp_advise_huge_pages` advises: 4 MiB, as NumPy's threshold.
#define BP_HUGE_PAGE_MIN_BYTES (4L << 20)
/// Asks the system to back the whole pages of `bytes` bytes at `pointer` with huge pages (Linux:
/// madvise MADV_HUGEPAGE, as NumPy does for its arrays), when the block is at least
/// BP_HUGE_PAGE_MIN_BYTES and the environment variable BACKPROP_HUGE_PAGES does not start with
/// `0`. Returns 1 when the advice was taken, 0 otherwise (a small block, the setting off,
/// another system, or a refusal); the memory is usable either way.
int bp_advise_huge_pages(void *pointer, size_t bytes);

/// Whether medium matrix products (from 512K to 4M multiply-adds) are split over the threads:
/// -1 (the default) when that measured faster lately, 0 never, 1 always (when there is more
/// than one thread). The results are the same bits either way.
void bp_set_split_policy(int policy);

/// The blocking of the packed matrix product for float (`double_precision` 0) or double (1), for
/// the calling thread's instruction set (its register tile):
/// the depth, row and column blocks, derived at first use from the cache sizes in `caches`
/// (L1d, L2, L3 in bytes as found; 0 when unknown and a default was used).
void bp_gemm_blocking(int double_precision, long *kc, long *mc, long *nc, long caches[3]);
// The blocking the rule of gemm.c gives for these cache sizes (L1d, L2, L3 in bytes; 0: unknown)
// and core count, for the 6-row tiles of the portable and AVX2 kernels (`wide` 0) or the
// 8×32 / 12×16 tiles of the AVX-512 ones (1), without touching the process's own (for tests).
void bp_gemm_derive_blocking(int double_precision, int wide, const long caches[3], long cores, long *kc, long *mc,
                             long *nc);

/// Which matrix-product implementation large products use: -1 = a system BLAS (see
/// `bp_blas_library`), else the package's own kernels at that BP_ISA_* level.
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

/// Turns the direct float matrix-vector products (no packing; on AVX2+FMA) on or off; on
/// unless `BACKPROP_DIRECT_GEMM=0`.
void bp_set_direct_gemm(int on);

/// 1 when the direct float products are on (see `bp_set_direct_gemm`).
int bp_direct_gemm(void);

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
/// `z[r, i] = x[r·xs + i] ∘ y[r·ys + i]` for `rows` rows of `cols` elements (`z` packed): a row
/// broadcast against a matrix is the stride 0 (the ISA is chosen once, not per row).
void bp_s_binary_rows(bp_binary_op op, long rows, long cols, const float *x, long xs, const float *y, long ys, float *z);
/// The double version of ``bp_s_binary_rows``.
void bp_d_binary_rows(bp_binary_op op, long rows, long cols, const double *x, long xs, const double *y, long ys, double *z);

/// Standardizes `x`, viewed as `[outer, n, inner]`, over its middle axis: per `(o, i)` the mean
/// `μ = Σ_j x / n` and the biased variance `σ² = Σ_j (x - μ)² / n` (sums in double, over `j` in
/// order; for `inner = 1`, a contiguous row, in 16 partial sums, element `j` into sum `j mod 16`,
/// added in a fixed tree), stored in `mean` and `var` (`[outer, inner]`, rounded to the element type), and
/// `y = (x - μ) · s` with `s = 1 / √(σ² + ε)`, computed in double and rounded once (the form
/// `x · s + (-μ · s)` cancels for values far from 0). The lanes are split over threads
/// in fixed pieces: the bits do not depend on the thread count. A null `y` computes the
/// statistics alone (two passes instead of three).
void bp_s_normalize(long outer, long n, long inner, const float *x, float *y, float *mean, float *var, double epsilon);
/// The double version of ``bp_s_normalize``.
void bp_d_normalize(long outer, long n, long inner, const double *x, double *y, double *mean, double *var, double epsilon);

/// The maximum (`largest` non-zero) or minimum of `x`, viewed as `[outer, n, inner]`, over its
/// middle axis, into `out` (`[outer, inner]`), as a left-to-right scan `acc = (acc > v || acc is
/// NaN) ? acc : v` from `-∞` (for the minimum `<` and `+∞`) gives it: the first NaN met, else the
/// extreme value, a tie taking the later element (so of equal zeros, the sign of the last one);
/// an empty axis gives `-∞` (`+∞`). Vectorized across a row's lanes or across columns, split over
/// threads in fixed pieces: the same bits on every path and thread count.
void bp_s_extreme(long outer, long n, long inner, const float *x, float *out, int largest);
/// The double version of ``bp_s_extreme``.
void bp_d_extreme(long outer, long n, long inner, const double *x, double *out, int largest);

/// The position of each row's maximum (`largest` non-zero) or minimum in `x`, `rows` contiguous
/// rows of `n > 0` elements, into `out`: as a left-to-right scan with a strict comparison gives it
/// (the first NaN, else the first extreme; equal zeros of either sign tie). The extreme comes from
/// ``bp_s_extreme``'s row kernel, then the first position holding it; rows split over threads.
void bp_s_arg_extreme_rows(long rows, long n, const float *x, int32_t *out, int largest);
/// The double version of ``bp_s_arg_extreme_rows``.
void bp_d_arg_extreme_rows(long rows, long n, const double *x, int32_t *out, int largest);

/// y[i] = a·x[i] + b for i < n (one fused pass).
/// Adam's update of n elements in place: m = m*b1 + g*c1; v = v*b2 + (g*g)*c2; then
/// x = x + -1*(x*lambda) when decays; x = x + -1*((eta*m) / (sqrt(v) + eps)), with
/// c = {b1, c1, b2, c2, eta, eps, lambda, decays (0 or 1)}. No contraction into FMAs.
void bp_s_adam(long n, const float *g, float *m, float *v, float *x, const float *c);
void bp_d_adam(long n, const double *g, double *m, double *v, double *x, const double *c);
/// y[i] = (a*x[i]) + b for i < n, in one pass, rounded after the product and after the sum (no
/// FMA): the bits of a multiply kernel then an add kernel.
void bp_s_axpb(long n, float a, const float *x, float b, float *y);
void bp_d_axpb(long n, double a, const double *x, double b, double *y);

/// The exponential y[i] = e^x[i] (transcendental.c: Cody-Waite reduction by ln 2 and a Taylor
/// polynomial; float32 in float, float64 in double, each within 1 ulp),
/// and `bp_s_exp1` / `bp_d_exp1`, the same operations on one value (the same bits on every
/// instruction set).
void bp_s_exp(long n, const float *x, float *y);
void bp_d_exp(long n, const double *x, double *y);
float bp_s_exp1(float x);
double bp_d_exp1(double x);
/// The logistic sigmoid through that exponential: 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x)
/// otherwise (each operation rounded in the element type); `1` forms: one value.
void bp_s_sigmoid(long n, const float *x, float *y);
void bp_d_sigmoid(long n, const double *x, double *y);
float bp_s_sigmoid1(float x);
double bp_d_sigmoid1(double x);
/// tanh for float32, in float (transcendental.c): an odd polynomial below |x| = 0.3, else
/// sign(x) * E / (E + 2) with E = e^(2|x|) - 1; within 1 ulp for every float.
void bp_s_tanh(long n, const float *x, float *y);
float bp_s_tanh1(float x);
/// From this many elements an elementwise map is split over the kernel threads (the C maps of
/// transcendental.c, and `bp_split_range`'s callers), in pieces of BP_MAP_PIECE elements.
#define BP_MAP_THREAD_ELEMENTS 65536
#define BP_MAP_PIECE 4096
/// A range of an elementwise map: elements [first, first + count).
typedef void (*bp_range_fn)(void *context, long first, long count);
/// Calls `fn` on [0, n) in pieces of BP_MAP_PIECE elements, over the kernel threads when n reaches
/// BP_MAP_THREAD_ELEMENTS (on the calling thread alone below): the pieces run at the same time, in
/// no fixed order, so `fn` must compute each element alone (a map), writing nothing else.
void bp_split_range(long n, bp_range_fn fn, void *context);
/// The natural logarithm (transcendental.c: fdlibm's reduction x = 2^k·m, m in [sqrt(2)/2,
/// sqrt(2)), and its polynomial in s = f / (2 + f); float32 in float, float64 in double, each
/// within 1 ulp); log(±0) = -inf, log(x < 0) = NaN, log(+inf) = +inf.
void bp_s_log(long n, const float *x, float *y);
void bp_d_log(long n, const double *x, double *y);
float bp_s_log1(float x);
double bp_d_log1(double x);
/// ln(1 + x), accurate near 0 (the logarithm's method on u = 1 + x, with the rounding error of
/// 1 + x corrected); log1p(-1) = -inf, log1p(x < -1) = NaN.
void bp_s_log1p(long n, const float *x, float *y);
void bp_d_log1p(long n, const double *x, double *y);
float bp_s_log1p1(float x);
double bp_d_log1p1(double x);
/// Softplus, max(x, 0) + log1p(exp(-|x|)), through the exponential and log1p above (each
/// operation rounded in the element type; max(x, 0) as Swift's: NaN stays NaN).
void bp_s_softplus(long n, const float *x, float *y);
void bp_d_softplus(long n, const double *x, double *y);
float bp_s_softplus1(float x);
double bp_d_softplus1(double x);
/// The sigmoid cross-entropy of logits x against labels z, (max(x, 0) - x*z) + log1p(exp(-|x|)),
/// elementwise over n pairs, as softplus computes its parts.
void bp_s_sigmoid_xent(long n, const float *x, const float *z, float *y);
void bp_d_sigmoid_xent(long n, const double *x, const double *z, double *y);
float bp_s_sigmoid_xent1(float x, float z);
double bp_d_sigmoid_xent1(double x, double z);
// The maps above (exp, sigmoid, tanh, log, log1p, softplus, sigmoid cross-entropy) split arrays
// of 64Ki elements and more over the threads; each element is computed alone, so the thread
// count changes no bit.

/// Softmax (or, with `log_form` 1, log-softmax) of `x` viewed as `[outer, n, inner]` over its
/// middle axis: m = max_j x (NaN propagates; m = 0 when it is +inf or -inf), e_j = exp(x_j - m)
/// in the element type, S = Σ_j e_j in double, y_j = e_j / S (in double, rounded once) or
/// (x_j - m) - (T)log(S). S's order: a contiguous row (inner = 1) sums element j into
/// accumulator j mod 16 and adds the 16 in a halving tree (0+8, 1+9, …, then 0+4, …); a
/// strided lane sums over j in order. Split over threads in fixed pieces: the same bits on
/// any thread count and instruction set.
void bp_s_softmax(long outer, long n, long inner, const float *x, float *y, int log_form);
void bp_d_softmax(long outer, long n, long inner, const double *x, double *y, int log_form);

/// y[i] = x[i] > 0 ? x[i] : 0 for i < n (NaN gives 0).
void bp_s_relu(long n, const float *x, float *y);
/// `y[i] = √x[i]` and `y[i] = 1 / √x[i]` (each operation correctly rounded), vectorized.
void bp_s_sqrt(long n, const float *x, float *y);
void bp_d_sqrt(long n, const double *x, double *y);
void bp_s_rsqrt(long n, const float *x, float *y);
void bp_d_rsqrt(long n, const double *x, double *y);
void bp_d_relu(long n, const double *x, double *y);
/// `y[r, i] = (x[r, i]·k[i]) + c[r·cs + i]`, each operation rounded (no FMA), then `max(·, 0)`
/// as `bp_s_relu` computes it when `relu` is 1: a per-channel scale over `rows` rows of `cols`,
/// plus a per-channel shift (`cs` 0: batch normalization's `x·k + (β − μ·k)` and the ReLU after
/// it) or a whole array (`cs` = `cols`: a gradient's `g·k + t`), in one pass. With a row `m`
/// (not null), `x[r, i] − m[i]` (rounded) takes the place of `x[r, i]`: the gradient of batch
/// statistics, `(x − μ)·k + c`.
void bp_s_affine_rows(long rows, long cols, const float *x, const float *m, const float *k, const float *c, long cs, int relu, float *y);
/// The double version of ``bp_s_affine_rows``.
void bp_d_affine_rows(long rows, long cols, const double *x, const double *m, const double *k, const double *c, long cs, int relu, double *y);
/// Two row-affine terms summed, `y[r, i] = P + Q` (`Q + P` when `q_first` is 1) with
/// `P = (x[r, i] − m[i])·k[i]` and `Q = (x2[r, i] − m2[i])·k2[i] + c2[i]` (a null `m` or `m2`:
/// no subtraction), each operation rounded (no FMA): a gradient's `g·k + t` with `t` the
/// gradient through batch statistics, in one pass.
void bp_s_affine2_rows(long rows, long cols, const float *x, const float *m, const float *k, const float *x2,
                       const float *m2, const float *k2, const float *c2, int q_first, float *y);
/// The double version of ``bp_s_affine2_rows``.
void bp_d_affine2_rows(long rows, long cols, const double *x, const double *m, const double *k, const double *x2,
                       const double *m2, const double *k2, const double *c2, int q_first, double *y);
/// ReLU's gradient as a plan fuses it: out[i] = t[i]·sign(x[i]) (`sign_first` 0) or
/// sign(x[i])·t[i] (1), with sign(x) = x > 0 ? 1 : (x < 0 ? −1 : x), in one pass.
void bp_s_mul_sign(long n, const float *t, const float *x, int sign_first, float *out);
void bp_d_mul_sign(long n, const double *t, const double *x, int sign_first, double *out);

// MARK: Reductions

/// Σ_i x[i] over n elements (several partial sums, added pairwise at the end).
float bp_s_sum(long n, const float *x);
double bp_d_sum(long n, const double *x);

/// out[r] = Σ_j x[r·cols + j]: the sums of the rows of a rows×cols matrix (the last axis).
void bp_s_sum_rows(long rows, long cols, const float *x, float *out);
void bp_d_sum_rows(long rows, long cols, const double *x, double *out);

/// out[j] = Σ_r x[r·cols + j]: the sums of the columns (the leading axis), in row order from 0;
/// from 8192 rows, in chunks of 4096 rows (each in row order from 0, then the chunks' sums in
/// chunk order from 0), the chunks split over the threads: the bits depend on the shape only.
void bp_s_sum_columns(long rows, long cols, const float *x, float *out);
void bp_d_sum_columns(long rows, long cols, const double *x, double *out);
/// The column sums of the products `x[r, j]·y[r, j]` (each rounded, then added in
/// ``bp_s_sum_columns``'s order), without an array of the products: a gradient's `Σ g·x`.
void bp_s_sum_products_columns(long rows, long cols, const float *x, const float *y, float *out);
/// The double version of ``bp_s_sum_products_columns``.
void bp_d_sum_products_columns(long rows, long cols, const double *x, const double *y, double *out);

// MARK: MPI (optional, loaded at run time; see mpi.c)

/// Element types and reductions of the MPI calls below.
enum { BP_MPI_BYTE = 0, BP_MPI_FLOAT32 = 1, BP_MPI_FLOAT64 = 2, BP_MPI_INT64 = 3 };
enum { BP_MPI_SUM = 0, BP_MPI_MAX = 1 };

/// Loads an MPI library with dlopen (`library`, or the first of libmpich.so.12, libmpi.so.12,
/// libmpi.so.40, libmpi.so that loads), calls MPI_Init_thread (MPI_THREAD_SERIALIZED) unless
/// MPI is initialized already, and sets MPI_ERRORS_RETURN on MPI_COMM_WORLD. Returns 1 on
/// success (or when already loaded); 0 with the reason in `error`.
int bp_mpi_init(const char *library, char *error, size_t capacity);
/// How long bp_mpi_init may wait in MPI_Init_thread for the other ranks (0: no limit, the
/// default). Past it, the process ends (exit status 75) with a message on standard error naming
/// this rank (from the launcher's environment): a rank that never starts MPI (it failed before,
/// or runs without MPI) would otherwise leave the others waiting there forever.
void bp_mpi_set_init_timeout(double seconds);
/// 1 once bp_mpi_init succeeded.
int bp_mpi_active(void);
/// This process's rank in MPI_COMM_WORLD (0 without MPI).
int bp_mpi_rank(void);
/// The number of processes in MPI_COMM_WORLD (1 without MPI).
int bp_mpi_size(void);
/// The name of the library loaded, or NULL.
const char *bp_mpi_library(void);
/// "MPICH ABI", "Open MPI" or "none".
const char *bp_mpi_interface(void);
/// MPI_Get_library_version's text into `out`; 0 without MPI.
int bp_mpi_library_version(char *out, size_t capacity);
/// MPI_Wtime (0 without MPI).
double bp_mpi_wtime(void);
/// receive = op over the ranks of send (`count` elements of `dtype`); the buffers must not
/// overlap. Returns 1, or 0 with MPI's error text in `error`.
int bp_mpi_allreduce(const void *send, void *receive, long count, int dtype, int op, char *error, size_t capacity);
/// The `bytes` bytes of `buffer` on rank `root` copied to every rank's `buffer`.
int bp_mpi_broadcast(void *buffer, long bytes, int root, char *error, size_t capacity);
/// receive[r·bytes ..< (r+1)·bytes] = rank r's send, on every rank.
int bp_mpi_allgather(const void *send, void *receive, int bytes, char *error, size_t capacity);
/// MPI_Barrier over MPI_COMM_WORLD.
int bp_mpi_barrier(char *error, size_t capacity);
/// MPI_Abort(MPI_COMM_WORLD, code): ends every rank of the job.
void bp_mpi_abort(int code);
/// Starts a thread that ends this process (exit status 75) with a message on standard error when
/// one collective call stays blocked longer than `timeout_seconds`, naming the ranks found
/// dead among `pids` (the pid of each of the `count` ranks on this host, 0 for other hosts).
int bp_mpi_start_watchdog(double timeout_seconds, const int *pids, int count);
/// Adds one fused all-reduce's wall time (copies included) to the statistics.
void bp_mpi_note_fused(double seconds);
/// The time spent inside MPI_Allreduce and the number of calls; the same for fused all-reduces.
void bp_mpi_stats(double *mpi_seconds, long *mpi_calls, double *fused_seconds, long *fused_calls);
/// MPI_Finalize when bp_mpi_init initialized MPI. Returns 1 on success.
int bp_mpi_finalize(void);
// MARK: Convolution and pooling
// Images are NHWC (channels last, contiguous), filters HWIO ([kh, kw, in/groups, out]).
// Output position (oy, ox) reads input rows oy*stride_h - pad_top + i*dilation_h for
// i < kh (likewise columns); positions outside the image read zeros (convolution) or are
// skipped (pooling). Batches are split over `bp_max_threads()` threads. Each function returns
// 0, or -1 when its scratch memory could not be allocated.

/// The geometry of a 2-D convolution or pooling window.
typedef struct {
  long n, h, w, c;     ///< input: batch, height, width, channels
  long kh, kw;         ///< window (filter) height and width
  long out_c;          ///< output channels (convolution; pooling: c)
  long oh, ow;         ///< output height and width
  long sh, sw;         ///< strides
  long dh, dw;         ///< dilations (pooling: 1)
  long pad_top, pad_left;
  long groups;         ///< convolution groups (pooling: 1)
} bp_conv_geometry;

/// Turns the Winograd form of 3×3, stride-1 convolutions (F(2×2, 3×3): forward pass, input and
/// filter gradients, float and double; see conv_template.h) on or off for the process; on unless
/// `BACKPROP_WINOGRAD=0`. Off, those convolutions take im2col and the packed GEMM, as every
/// other shape does. The two agree to within rounding.
void bp_set_winograd(int on);
/// The calling thread's override of the Winograd switch: -1 (none), 0 or 1.
int bp_thread_winograd(void);
/// Sets the calling thread's override (-1 restores the process's choice). A convolution reads
/// the switch on the thread that calls it.
void bp_set_thread_winograd(int on);
/// 1 when the calling thread's convolutions take the Winograd form where it applies.
int bp_winograd(void);

/// y[n, oy, ox, o] = Σ_{i, j, ci} x[n, oy·sh − pt + i·dh, ox·sw − pl + j·dw, g·cg + ci] ·
/// w[i, j, ci, o], with g = o / (out_c / groups), cg = c / groups.
int bp_s_conv2d(const bp_conv_geometry *g, const float *x, const float *w, float *y);
int bp_d_conv2d(const bp_conv_geometry *g, const double *x, const double *w, double *y);
/// The convolution with an epilogue applied while the output is in cache (a plan's fusion of
/// Conv2D, a bias Add and Relu): y = conv + bias[o] when `bias` is not NULL, then
/// y = (y > 0 ? y : 0) when `relu` is 1; the same IEEE operations as the separate kernels.
int bp_s_conv2d_bias_relu(const bp_conv_geometry *g, const float *x, const float *w, const float *bias, int relu, float *y);
int bp_d_conv2d_bias_relu(const bp_conv_geometry *g, const double *x, const double *w, const double *bias, int relu, double *y);
/// The adjoint of the convolution in its input: dx = Σ over the windows of dy·w (dx is written).
int bp_s_conv2d_backprop_input(const bp_conv_geometry *g, const float *dy, const float *w, float *dx);
int bp_d_conv2d_backprop_input(const bp_conv_geometry *g, const double *dy, const double *w, double *dx);
/// The adjoint in the filter: dw[i, j, ci, o] = Σ_{n, oy, ox} x[...]·dy[n, oy, ox, o] (dw is written).
int bp_s_conv2d_backprop_filter(const bp_conv_geometry *g, const float *x, const float *dy, float *dw);
int bp_d_conv2d_backprop_filter(const bp_conv_geometry *g, const double *x, const double *dy, double *dw);
/// y = the largest element of each window (positions in the padding are skipped; the first
/// position's value, then every value greater than the best so far).
int bp_s_max_pool(const bp_conv_geometry *g, const float *x, float *y);
int bp_d_max_pool(const bp_conv_geometry *g, const double *x, double *y);
/// dx: each dy added at the position of its window's maximum (the first one on ties).
int bp_s_max_pool_grad(const bp_conv_geometry *g, const float *x, const float *dy, float *dx);
int bp_d_max_pool_grad(const bp_conv_geometry *g, const double *x, const double *dy, double *dx);
/// max_pool_grad followed by ReLU's gradient in one pass (a plan's fusion): each element of the
/// routed gradient t (as max_pool_grad computes it) times sign(x) = (x > 0 ? 1 : x < 0 ? −1 : x),
/// as `t·sign(x)` (`sign_first` 0) or `sign(x)·t` (1).
int bp_s_max_pool_grad_sign(const bp_conv_geometry *g, const float *x, const float *dy, int sign_first, float *dx);
int bp_d_max_pool_grad_sign(const bp_conv_geometry *g, const double *x, const double *dy, int sign_first, double *dx);
/// y[window] = v at the position of the window's maximum in x (the adjoint of max_pool_grad in dy).
int bp_s_max_pool_select(const bp_conv_geometry *g, const float *x, const float *v, float *y);
int bp_d_max_pool_select(const bp_conv_geometry *g, const double *x, const double *v, double *y);
/// y = the mean of each window's positions inside the image.
int bp_s_avg_pool(const bp_conv_geometry *g, const float *x, float *y);
int bp_d_avg_pool(const bp_conv_geometry *g, const double *x, double *y);
/// The adjoint of avg_pool: dx = Σ over the windows of dy / (the window's count).
int bp_s_avg_pool_grad(const bp_conv_geometry *g, const float *dy, float *dx);
int bp_d_avg_pool_grad(const bp_conv_geometry *g, const double *dy, double *dx);

#ifdef __cplusplus
}
#endif

#endif
