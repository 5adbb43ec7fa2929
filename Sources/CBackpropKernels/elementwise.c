// Elementwise kernels and reductions over contiguous memory. Each body is written once as plain
// C and compiled three times: for the baseline ISA and, on x86-64, for AVX2+FMA and for
// AVX-512F (picked at run time).
#include "CBackpropKernels.h"
#include "internal.h"
#include <math.h>

// BP_DISPATCH and BP_DISPATCH_VOID (internal.h) instantiate each `_body` per instruction set.

// MARK: Binary arithmetic

#define BINARY_LOOP(EXPR)                                    \
  switch (op) {                                              \
  case BP_ADD: for (long i = 0; i < n; i++) { EXPR(+) } break; \
  case BP_SUB: for (long i = 0; i < n; i++) { EXPR(-) } break; \
  case BP_MUL: for (long i = 0; i < n; i++) { EXPR(*) } break; \
  case BP_DIV: for (long i = 0; i < n; i++) { EXPR(/) } break; \
  }

#define VV(o) z[i] = x[i] o y[i];
#define VS(o) z[i] = x[i] o s;
#define SV(o) z[i] = s o y[i];

#define DEFINE_BINARY(T, P)                                                                   \
  BP_INLINE void bp_##P##_binary_vv_body(bp_binary_op op, long n, const T *x, const T *y, T *z) { \
    BINARY_LOOP(VV)                                                                           \
  }                                                                                           \
  BP_INLINE void bp_##P##_binary_vs_body(bp_binary_op op, long n, const T *x, T s, T *z) {     \
    BINARY_LOOP(VS)                                                                           \
  }                                                                                           \
  BP_INLINE void bp_##P##_binary_sv_body(bp_binary_op op, long n, T s, const T *y, T *z) {     \
    BINARY_LOOP(SV)                                                                           \
  }                                                                                           \
  BP_INLINE void bp_##P##_binary_rows_body(bp_binary_op op, long rows, long cols, const T *x, long xs, \
                                           const T *y, long ys, T *z) {                       \
    for (long r = 0; r < rows; r++) bp_##P##_binary_vv_body(op, cols, x + r * xs, y + r * ys, z + r * cols); \
  }                                                                                           \
  BP_DISPATCH_VOID(bp_##P##_binary_vv, (bp_binary_op op, long n, const T *x, const T *y, T *z), \
              (op, n, x, y, z))                                                               \
  BP_DISPATCH_VOID(bp_##P##_binary_rows,                                                      \
              (bp_binary_op op, long rows, long cols, const T *x, long xs, const T *y, long ys, T *z), \
              (op, rows, cols, x, xs, y, ys, z))                                              \
  BP_DISPATCH_VOID(bp_##P##_binary_vs, (bp_binary_op op, long n, const T *x, T s, T *z),       \
              (op, n, x, s, z))                                                               \
  BP_DISPATCH_VOID(bp_##P##_binary_sv, (bp_binary_op op, long n, T s, const T *y, T *z),       \
              (op, n, s, y, z))

DEFINE_BINARY(float, s)
DEFINE_BINARY(double, d)

// MARK: a*x+b in one pass (two roundings, as the graph's Mul then Add) and relu

#define DEFINE_UNARY(T, P)                                                              \
  BP_INLINE void bp_##P##_axpb_body(long n, T a, const T *x, T b, T *y) {                \
    _Pragma("clang fp contract(off)")                                                    \
    for (long i = 0; i < n; i++) y[i] = a * x[i] + b;                                    \
  }                                                                                      \
  BP_DISPATCH_VOID(bp_##P##_axpb, (long n, T a, const T *x, T b, T *y), (n, a, x, b, y)) \
  BP_INLINE void bp_##P##_relu_body(long n, const T *x, T *y) {                          \
    for (long i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : (T)0;                          \
  }                                                                                      \
  BP_DISPATCH_VOID(bp_##P##_relu, (long n, const T *x, T *y), (n, x, y))                  \
  /* √x and 1/√x, each operation correctly rounded (the builtin has no errno, so it        \
     vectorizes; Swift's squareRoot() gives the same bits one value at a time). */         \
  BP_INLINE void bp_##P##_sqrt_body(long n, const T *x, T *y) {                          \
    for (long i = 0; i < n; i++) y[i] = __builtin_elementwise_sqrt(x[i]);               \
  }                                                                                      \
  BP_DISPATCH_VOID(bp_##P##_sqrt, (long n, const T *x, T *y), (n, x, y))                  \
  BP_INLINE void bp_##P##_rsqrt_body(long n, const T *x, T *y) {                         \
    _Pragma("clang fp contract(off)")                                                    \
    for (long i = 0; i < n; i++) y[i] = (T)1 / __builtin_elementwise_sqrt(x[i]);        \
  }                                                                                      \
  BP_DISPATCH_VOID(bp_##P##_rsqrt, (long n, const T *x, T *y), (n, x, y))                 \
  BP_INLINE void bp_##P##_affine_rows_body(long rows, long cols, const T *restrict x, const T *restrict m, \
                                           const T *restrict k, const T *restrict c0, long cs, int relu, \
                                           T *restrict y) {                                      \
    _Pragma("clang fp contract(off)")                                                    \
    for (long r = 0; r < rows; r++) {                                                    \
      const T *restrict xr = x + r * cols;                                               \
      const T *restrict c = c0 + r * cs;                                                 \
      T *restrict yr = y + r * cols;                                                     \
      if (m) {                                                                           \
        for (long i = 0; i < cols; i++) {                                                \
          const T t = (xr[i] - m[i]) * k[i] + c[i];                                      \
          yr[i] = relu ? (t > 0 ? t : (T)0) : t;                                         \
        }                                                                                \
      } else if (relu) {                                                                 \
        for (long i = 0; i < cols; i++) {                                                \
          const T t = xr[i] * k[i] + c[i];                                               \
          yr[i] = t > 0 ? t : (T)0;                                                      \
        }                                                                                \
      } else {                                                                           \
        for (long i = 0; i < cols; i++) yr[i] = xr[i] * k[i] + c[i];                     \
      }                                                                                  \
    }                                                                                    \
  }                                                                                      \
  BP_DISPATCH_VOID(bp_##P##_affine_rows,                                                 \
                   (long rows, long cols, const T *x, const T *m, const T *k, const T *c, long cs, int relu, T *y), \
                   (rows, cols, x, m, k, c, cs, relu, y))

// Two row-affine terms summed: y = P + Q (or Q + P), P = (x − m)·k, Q = (x2 − m2)·k2 + c2, with
// the rows m, k, m2, k2, c2 of length `cols` (m and m2 may be null: no subtraction), each
// operation rounded as its own kernel rounds it (no FMA): a gradient's g·k + t where t is the
// gradient through batch statistics, in one pass.
#define AFFINE2_LOOP(T, PX, QX, SUM)                                                                   \
  for (long r = 0; r < rows; r++) {                                                                   \
    const T *restrict xr = x + r * cols, *restrict x2r = x2 + r * cols;                               \
    T *restrict yr = y + r * cols;                                                                    \
    for (long i = 0; i < cols; i++) {                                                                 \
      const T p = (PX) * k[i];                                                                        \
      const T q = (QX) * k2[i] + c2[i];                                                               \
      yr[i] = SUM;                                                                                    \
    }                                                                                                 \
  }
#define DEFINE_AFFINE2(T, P)                                                                       \
  BP_INLINE void bp_##P##_affine2_rows_body(long rows, long cols, const T *restrict x, const T *restrict m, \
                                            const T *restrict k, const T *restrict x2, const T *restrict m2, \
                                            const T *restrict k2, const T *restrict c2, int q_first,   \
                                            T *restrict y) {                                          \
    _Pragma("clang fp contract(off)")                                                                 \
    /* One loop per form (no test per element), so that each vectorizes. */                          \
    if (m && m2) {                                                                                    \
      if (q_first) { AFFINE2_LOOP(T, xr[i] - m[i], x2r[i] - m2[i], q + p) }                             \
      else { AFFINE2_LOOP(T, xr[i] - m[i], x2r[i] - m2[i], p + q) }                                      \
    } else if (m) {                                                                                   \
      if (q_first) { AFFINE2_LOOP(T, xr[i] - m[i], x2r[i], q + p) }                                     \
      else { AFFINE2_LOOP(T, xr[i] - m[i], x2r[i], p + q) }                                              \
    } else if (m2) {                                                                                  \
      if (q_first) { AFFINE2_LOOP(T, xr[i], x2r[i] - m2[i], q + p) }                                    \
      else { AFFINE2_LOOP(T, xr[i], x2r[i] - m2[i], p + q) }                                             \
    } else {                                                                                          \
      if (q_first) { AFFINE2_LOOP(T, xr[i], x2r[i], q + p) }                                            \
      else { AFFINE2_LOOP(T, xr[i], x2r[i], p + q) }                                                     \
    }                                                                                                 \
  }                                                                                                   \
  BP_DISPATCH_VOID(bp_##P##_affine2_rows,                                                             \
                   (long rows, long cols, const T *x, const T *m, const T *k, const T *x2, const T *m2, \
                    const T *k2, const T *c2, int q_first, T *y),                                     \
                   (rows, cols, x, m, k, x2, m2, k2, c2, q_first, y))

DEFINE_AFFINE2(float, s)
DEFINE_AFFINE2(double, d)

DEFINE_UNARY(float, s)
DEFINE_UNARY(double, d)

// ReLU's gradient g·sign(y), fused from a Sign and a Mul: the same comparisons as Sign's
// kernel and the same product (operand order kept), without the sign array.
#define DEFINE_MUL_SIGN(T, P)                                                                     \
  BP_INLINE void bp_##P##_mul_sign_body(long n, const T *t, const T *x, int sign_first, T *out) { \
    if (sign_first) {                                                                             \
      for (long i = 0; i < n; i++) {                                                              \
        const T s = x[i] > 0 ? (T)1 : (x[i] < 0 ? (T)-1 : x[i]);                                  \
        out[i] = s * t[i];                                                                        \
      }                                                                                           \
    } else {                                                                                      \
      for (long i = 0; i < n; i++) {                                                              \
        const T s = x[i] > 0 ? (T)1 : (x[i] < 0 ? (T)-1 : x[i]);                                  \
        out[i] = t[i] * s;                                                                        \
      }                                                                                           \
    }                                                                                             \
  }                                                                                               \
  BP_DISPATCH_VOID(bp_##P##_mul_sign, (long n, const T *t, const T *x, int sign_first, T *out),    \
                   (n, t, x, sign_first, out))

DEFINE_MUL_SIGN(float, s)
DEFINE_MUL_SIGN(double, d)

// MARK: Adam

// One pass of Adam's update (see ApplyAdam in GraphCore): the same IEEE operations, in the
// same order, as the separate elementwise kernels, so nothing is contracted into an FMA.
#define DEFINE_ADAM(T, P)                                                                        \
  BP_INLINE void bp_##P##_adam_body(long n, const T *restrict g, T *restrict m, T *restrict v,   \
                                    T *restrict x, const T *c) {                                 \
    _Pragma("clang fp contract(off)")                                                            \
    T b1 = c[0], c1 = c[1], b2 = c[2], c2 = c[3], eta = c[4], eps = c[5], lambda = c[6];         \
    int decays = c[7] != 0;                                                                      \
    for (long i = 0; i < n; i++) {                                                               \
      T gi = g[i];                                                                               \
      T mi = m[i] * b1 + gi * c1;                                                                \
      T vi = v[i] * b2 + (gi * gi) * c2;                                                         \
      m[i] = mi;                                                                                 \
      v[i] = vi;                                                                                 \
      T xi = x[i];                                                                               \
      if (decays) xi = xi + (T)-1 * (xi * lambda);                                               \
      x[i] = xi + (T)-1 * ((eta * mi) / (__builtin_elementwise_sqrt(vi) + eps));                 \
    }                                                                                            \
  }                                                                                              \
  BP_DISPATCH_VOID(bp_##P##_adam, (long n, const T *g, T *m, T *v, T *x, const T *c),            \
                   (n, g, m, v, x, c))

DEFINE_ADAM(float, s)
DEFINE_ADAM(double, d)

// MARK: Reductions

// LANES independent partial sums (a multiple of the widest vector), so the loop vectorizes
// without reassociating floating-point additions; the partial sums are then added pairwise.
#define LANES 32
// Column sums of tall matrices (a bias gradient or batch normalization's statistics over a
// batch of images: 86528 rows of 32 channels in the example CNN) go by fixed chunks of rows:
// each chunk's sums in row order, then the chunks' sums added in chunk order, so the rounding
// depends on the shape alone, not on the number of threads, which take whole chunks (from
// SUM_THREAD_ELEMENTS elements). Matrices of fewer than two chunks are summed in row order.
#define SUM_CHUNK_ROWS 4096
#define SUM_THREAD_ELEMENTS (256.0 * 1024.0)

#define DEFINE_SUM(T, P)                                                                 \
  BP_INLINE T bp_##P##_sum_body(long n, const T *x) {                                    \
    T acc[LANES];                                                                         \
    for (int l = 0; l < LANES; l++) acc[l] = 0;                                           \
    long i = 0;                                                                           \
    for (; i + LANES <= n; i += LANES)                                                    \
      for (int l = 0; l < LANES; l++) acc[l] += x[i + l];                                 \
    T tail = 0;                                                                           \
    for (; i < n; i++) tail += x[i];                                                      \
    for (int w = LANES / 2; w > 0; w /= 2)                                                \
      for (int l = 0; l < w; l++) acc[l] += acc[l + w];                                   \
    return acc[0] + tail;                                                                 \
  }                                                                                       \
  BP_DISPATCH(T, bp_##P##_sum, (long n, const T *x), (n, x))                              \
  BP_INLINE void bp_##P##_sum_rows_body(long rows, long cols, const T *x, T *out) {      \
    for (long r = 0; r < rows; r++) out[r] = bp_##P##_sum_body(cols, x + r * cols);       \
  }                                                                                       \
  /* Column sums of x, or of the products x·y (each rounded, then added: a gradient's       \
     Σ g·x without the product array) when y is not NULL. */                              \
  BP_INLINE void bp_##P##_sum_columns_in_order_body(long rows, long cols, const T *x, const T *y, \
                                                    T *restrict out) {                    \
    _Pragma("clang fp contract(off)")                                                     \
    for (long j = 0; j < cols; j++) out[j] = 0;                                           \
    if (y) {                                                                              \
      for (long r = 0; r < rows; r++) {                                                   \
        const T *restrict row = x + r * cols, *restrict other = y + r * cols;             \
        for (long j = 0; j < cols; j++) out[j] += row[j] * other[j];                      \
      }                                                                                   \
    } else {                                                                              \
      for (long r = 0; r < rows; r++) {                                                   \
        const T *restrict row = x + r * cols;                                             \
        for (long j = 0; j < cols; j++) out[j] += row[j];                                 \
      }                                                                                   \
    }                                                                                     \
  }                                                                                       \
  BP_DISPATCH_VOID(bp_##P##_sum_rows, (long rows, long cols, const T *x, T *out), (rows, cols, x, out)) \
  BP_DISPATCH_VOID(bp_##P##_sum_columns_in_order, (long rows, long cols, const T *x, const T *y, T *out), \
                   (rows, cols, x, y, out))                                               \
  typedef struct {                                                                        \
    long rows, cols;                                                                      \
    const T *x, *y;                                                                       \
    T *partials;                                                                          \
  } bp_##P##_sum_job;                                                                     \
  static void bp_##P##_sum_chunk(void *context, int index, int count) {                   \
    (void)count;                                                                          \
    const bp_##P##_sum_job *j = context;                                                  \
    const long r0 = (long)index * SUM_CHUNK_ROWS;                                         \
    const long r1 = j->rows - r0 < SUM_CHUNK_ROWS ? j->rows : r0 + SUM_CHUNK_ROWS;        \
    bp_##P##_sum_columns_in_order(r1 - r0, j->cols, j->x + r0 * j->cols, j->y ? j->y + r0 * j->cols : NULL, \
                                  j->partials + (long)index * j->cols);                   \
  }                                                                                       \
  static void bp_##P##_sum_columns_of(long rows, long cols, const T *x, const T *y, T *out) { \
    _Pragma("clang fp contract(off)")                                                     \
    if (rows < 2 * SUM_CHUNK_ROWS || cols <= 0) {                                         \
      bp_##P##_sum_columns_in_order(rows, cols, x, y, out);                               \
      return;                                                                             \
    }                                                                                     \
    const long chunks = (rows + SUM_CHUNK_ROWS - 1) / SUM_CHUNK_ROWS;                     \
    T *partials = bp_scratch(4, sizeof(T) * (size_t)(chunks * cols));                     \
    if (!partials) { /* out of memory: the same additions, a column at a time */          \
      for (long j = 0; j < cols; j++) {                                                   \
        T total = 0;                                                                      \
        for (long r0 = 0; r0 < rows; r0 += SUM_CHUNK_ROWS) {                              \
          const long r1 = rows - r0 < SUM_CHUNK_ROWS ? rows : r0 + SUM_CHUNK_ROWS;        \
          T s = 0;                                                                        \
          for (long r = r0; r < r1; r++) s += y ? x[r * cols + j] * y[r * cols + j] : x[r * cols + j]; \
          total += s;                                                                     \
        }                                                                                 \
        out[j] = total;                                                                   \
      }                                                                                   \
      return;                                                                             \
    }                                                                                     \
    bp_##P##_sum_job job = {rows, cols, x, y, partials};                                  \
    if ((double)rows * (double)cols >= SUM_THREAD_ELEMENTS) {                             \
      bp_parallel_for((int)chunks, bp_##P##_sum_chunk, &job);                             \
    } else {                                                                              \
      for (long c = 0; c < chunks; c++) bp_##P##_sum_chunk(&job, (int)c, (int)chunks);   \
    }                                                                                     \
    for (long j = 0; j < cols; j++) out[j] = 0;                                           \
    for (long c = 0; c < chunks; c++)                                                     \
      for (long j = 0; j < cols; j++) out[j] += partials[c * cols + j];                   \
  }                                                                                       \
  void bp_##P##_sum_columns(long rows, long cols, const T *x, T *out) { bp_##P##_sum_columns_of(rows, cols, x, NULL, out); } \
  void bp_##P##_sum_products_columns(long rows, long cols, const T *x, const T *y, T *out) { \
    bp_##P##_sum_columns_of(rows, cols, x, y, out);                                       \
  }

DEFINE_SUM(float, s)
DEFINE_SUM(double, d)

// MARK: Normalization (the core of batch and layer normalization)

// Lanes per piece: one 64-byte line of floats. Each lane (a position along the axes after the
// normalized ones) is computed by one piece from start to end, its sums in double over the rows
// in order, so the split over threads changes no bit.
#define NORM_LANES 16
// Accumulators of a contiguous row's sums (inner = 1; see bp_*_normalize_row_body).
#define NORM_ROW_SUMS 16

#define DEFINE_NORMALIZE(T, P)                                                                        \
  BP_INLINE void bp_##P##_normalize_lanes_body(long n, long inner, long lanes, const T *restrict x,   \
                                               T *restrict y, T *mean, T *var, double epsilon) {     \
    _Pragma("clang fp contract(off)")                                                                 \
    double sum[NORM_LANES], sq[NORM_LANES];                                                           \
    double scale[NORM_LANES];                                                                         \
    const double count = (double)(n > 1 ? n : 1);                                                     \
    for (long i = 0; i < lanes; i++) {                                                                \
      sum[i] = 0;                                                                                     \
      sq[i] = 0;                                                                                      \
    }                                                                                                 \
    for (long j = 0; j < n; j++) {                                                                    \
      const T *row = x + j * inner;                                                                   \
      for (long i = 0; i < lanes; i++) sum[i] += (double)row[i];                                      \
    }                                                                                                 \
    for (long i = 0; i < lanes; i++) sum[i] /= count;                                                 \
    for (long j = 0; j < n; j++) {                                                                    \
      const T *row = x + j * inner;                                                                   \
      for (long i = 0; i < lanes; i++) {                                                              \
        const double d = (double)row[i] - sum[i];                                                     \
        sq[i] += d * d;                                                                               \
      }                                                                                               \
    }                                                                                                 \
    for (long i = 0; i < lanes; i++) {                                                                \
      sq[i] /= count;                                                                                 \
      mean[i] = (T)sum[i];                                                                            \
      var[i] = (T)sq[i];                                                                              \
      scale[i] = 1 / sqrt(sq[i] + epsilon);                                                           \
    }                                                                                                 \
    if (!y) return; /* the statistics alone */                                                       \
    for (long j = 0; j < n; j++) {                                                                    \
      const T *restrict row = x + j * inner;                                                          \
      T *restrict out = y + j * inner;                                                                \
      /* (x - μ) · s in double, rounded once: x · s + (-μ · s) in T cancels (offsets of 1e4 lost   \
         1e-2 of a float32 x̂, 1e-9 of a float64 one). */                                             \
      for (long i = 0; i < lanes; i++) out[i] = (T)(((double)row[i] - sum[i]) * scale[i]);            \
    }                                                                                                 \
  }                                                                                                   \
  /* One contiguous row (layer normalization: the last axis, inner = 1): the lane loops above    \
     would be scalar. Its sums run in NORM_ROW_SUMS double accumulators, element j into         \
     accumulator j mod NORM_ROW_SUMS, then added in a fixed tree; the order is written out, so    \
     every instruction set (each vectorizes the accumulators its own width) gives the same bits. */ \
  BP_INLINE double bp_##P##_row_total(const double *restrict partial) {                             \
    double t[NORM_ROW_SUMS];                                                                          \
    for (int k = 0; k < NORM_ROW_SUMS; k++) t[k] = partial[k];                                        \
    for (int w = NORM_ROW_SUMS / 2; w >= 1; w /= 2)                                                   \
      for (int k = 0; k < w; k++) t[k] += t[k + w];                                                   \
    return t[0];                                                                                      \
  }                                                                                                   \
  BP_INLINE void bp_##P##_normalize_row_body(long n, const T *restrict x, T *restrict y, T *mean,    \
                                             T *var, double epsilon) {                               \
    _Pragma("clang fp contract(off)")                                                                 \
    double partial[NORM_ROW_SUMS];                                                                    \
    const double count = (double)(n > 1 ? n : 1);                                                     \
    const long full = n - n % NORM_ROW_SUMS;                                                          \
    for (int k = 0; k < NORM_ROW_SUMS; k++) partial[k] = 0;                                           \
    for (long j = 0; j < full; j += NORM_ROW_SUMS)                                                    \
      for (int k = 0; k < NORM_ROW_SUMS; k++) partial[k] += (double)x[j + k];                        \
    for (long j = full; j < n; j++) partial[j - full] += (double)x[j];                                \
    const double mu = bp_##P##_row_total(partial) / count;                                           \
    for (int k = 0; k < NORM_ROW_SUMS; k++) partial[k] = 0;                                           \
    for (long j = 0; j < full; j += NORM_ROW_SUMS)                                                    \
      for (int k = 0; k < NORM_ROW_SUMS; k++) {                                                       \
        const double d = (double)x[j + k] - mu;                                                       \
        partial[k] += d * d;                                                                          \
      }                                                                                               \
    for (long j = full; j < n; j++) {                                                                 \
      const double d = (double)x[j] - mu;                                                             \
      partial[j - full] += d * d;                                                                     \
    }                                                                                                 \
    const double variance = bp_##P##_row_total(partial) / count;                                     \
    *mean = (T)mu;                                                                                    \
    *var = (T)variance;                                                                               \
    if (!y) return;                                                                                   \
    const double scale = 1 / sqrt(variance + epsilon);                                                \
    for (long j = 0; j < n; j++) y[j] = (T)(((double)x[j] - mu) * scale);                             \
  }                                                                                                   \
  /* A whole line of lanes (a constant count, so the lane loops are vectors), a contiguous row,   \
     or fewer lanes. */                                                                             \
  BP_INLINE void bp_##P##_normalize_piece_body(long n, long inner, long lanes, const T *x, T *y,      \
                                               T *mean, T *var, double epsilon) {                    \
    if (inner == 1)                                                                                   \
      bp_##P##_normalize_row_body(n, x, y, mean, var, epsilon);                                       \
    else if (lanes == NORM_LANES)                                                                     \
      bp_##P##_normalize_lanes_body(n, inner, NORM_LANES, x, y, mean, var, epsilon);                  \
    else                                                                                              \
      bp_##P##_normalize_lanes_body(n, inner, lanes, x, y, mean, var, epsilon);                       \
  }                                                                                                   \
  BP_DISPATCH_VOID(bp_##P##_normalize_piece,                                                          \
                   (long n, long inner, long lanes, const T *x, T *y, T *mean, T *var, double epsilon),\
                   (n, inner, lanes, x, y, mean, var, epsilon))                                       \
  typedef struct {                                                                                    \
    long n, inner;                                                                                    \
    const T *x;                                                                                       \
    T *y, *mean, *var;                                                                                \
    double epsilon;                                                                                   \
  } bp_##P##_normalize_job;                                                                           \
  static void bp_##P##_normalize_part(void *context, long o, long l0, long lanes) {                   \
    const bp_##P##_normalize_job *j = context;                                                        \
    const long base = o * j->n * j->inner + l0;                                                       \
    bp_##P##_normalize_piece(j->n, j->inner, lanes, j->x + base, j->y ? j->y + base : NULL, j->mean + o * j->inner + l0, \
                             j->var + o * j->inner + l0, j->epsilon);                                 \
  }                                                                                                   \
  void bp_##P##_normalize(long outer, long n, long inner, const T *x, T *y, T *mean, T *var, double epsilon) { \
    bp_##P##_normalize_job job = {n, inner, x, y, mean, var, epsilon};                                \
    bp_for_pieces(outer, inner, NORM_LANES, (double)outer * (double)n * (double)inner, SUM_THREAD_ELEMENTS, \
                  bp_##P##_normalize_part, &job);                                                     \
  }

DEFINE_NORMALIZE(float, s)
DEFINE_NORMALIZE(double, d)

// MARK: Maximum and minimum reductions

// The running extreme of a left-to-right scan, vectorized: each lane keeps the extreme of its
// elements by value (a NaN compares false and is skipped) and whether it met a NaN; the rare
// cases where the order matters are then settled by a scan in order: a NaN (the first one met),
// and a zero extreme (equal zeros: the scan keeps the later one, so the sign of the last zero).
#define EXT_LANES 16
#define DEFINE_EXTREME(T, P)                                                                          \
  BP_INLINE int bp_##P##_better(T v, T m, int largest) { return largest ? v > m : v < m; }           \
  /* The order-dependent cases of one reduction (elements x[j·stride], j < n), given its extreme  \
     by value. */                                                                                   \
  static T bp_##P##_extreme_settle(long n, long stride, const T *x, T value, int sawNaN) {          \
    if (sawNaN) {                                                                                     \
      for (long j = 0; j < n; j++)                                                                    \
        if (x[j * stride] != x[j * stride]) return x[j * stride];                                     \
    }                                                                                                 \
    if (value == 0) {                                                                                 \
      for (long j = n - 1; j >= 0; j--)                                                               \
        if (x[j * stride] == 0) return x[j * stride];                                                 \
    }                                                                                                 \
    return value;                                                                                     \
  }                                                                                                   \
  /* One contiguous row of n elements. */                                                            \
  BP_INLINE T bp_##P##_extreme_row_body(long n, const T *restrict x, int largest) {                  \
    const T start = largest ? -(T)INFINITY : (T)INFINITY;                                             \
    T m[EXT_LANES];                                                                                   \
    int nan[EXT_LANES];                                                                               \
    for (int k = 0; k < EXT_LANES; k++) {                                                             \
      m[k] = start;                                                                                   \
      nan[k] = 0;                                                                                     \
    }                                                                                                 \
    const long full = n - n % EXT_LANES;                                                              \
    /* The two directions written apart: with the direction a run-time flag inside the loop, the  \
       compiler does not vectorize it (a row's maximum: 35-40 against 58-66 GB/s). */             \
    if (largest) {                                                                                    \
      for (long j = 0; j < full; j += EXT_LANES)                                                      \
        for (int k = 0; k < EXT_LANES; k++) {                                                         \
          const T v = x[j + k];                                                                       \
          m[k] = v > m[k] ? v : m[k];                                                                 \
          nan[k] |= v != v;                                                                           \
        }                                                                                             \
    } else {                                                                                          \
      for (long j = 0; j < full; j += EXT_LANES)                                                      \
        for (int k = 0; k < EXT_LANES; k++) {                                                         \
          const T v = x[j + k];                                                                       \
          m[k] = v < m[k] ? v : m[k];                                                                 \
          nan[k] |= v != v;                                                                           \
        }                                                                                             \
    }                                                                                                 \
    T value = start;                                                                                  \
    int sawNaN = 0;                                                                                   \
    for (int k = 0; k < EXT_LANES; k++) {                                                             \
      if (bp_##P##_better(m[k], value, largest)) value = m[k];                                        \
      sawNaN |= nan[k];                                                                               \
    }                                                                                                 \
    for (long j = full; j < n; j++) {                                                                 \
      if (bp_##P##_better(x[j], value, largest)) value = x[j];                                        \
      sawNaN |= x[j] != x[j];                                                                         \
    }                                                                                                 \
    return bp_##P##_extreme_settle(n, 1, x, value, sawNaN);                                           \
  }                                                                                                   \
  /* Up to EXT_LANES columns (lanes l < lanes) of an [n, inner] block, reduced over its rows. */     \
  BP_INLINE void bp_##P##_extreme_columns_body(long n, long inner, long lanes, const T *restrict x,  \
                                               T *restrict out, int largest) {                      \
    const T start = largest ? -(T)INFINITY : (T)INFINITY;                                             \
    T m[EXT_LANES];                                                                                   \
    int nan[EXT_LANES];                                                                               \
    for (int k = 0; k < EXT_LANES; k++) {                                                             \
      m[k] = start;                                                                                   \
      nan[k] = 0;                                                                                     \
    }                                                                                                 \
    for (long j = 0; j < n; j++) {                                                                    \
      const T *row = x + j * inner;                                                                   \
      for (long k = 0; k < lanes; k++) {                                                              \
        const T v = row[k];                                                                           \
        m[k] = bp_##P##_better(v, m[k], largest) ? v : m[k];                                          \
        nan[k] |= v != v;                                                                             \
      }                                                                                               \
    }                                                                                                 \
    for (long k = 0; k < lanes; k++) out[k] = bp_##P##_extreme_settle(n, inner, x + k, m[k], nan[k]); \
  }                                                                                                   \
  BP_INLINE void bp_##P##_extreme_piece_body(long n, long inner, long lanes, const T *x, T *out,     \
                                             int largest) {                                          \
    /* A whole line of lanes is given as the constant (so its lane loop is a vector), as for the  \
       normalization. */                                                                            \
    if (inner == 1)                                                                                   \
      *out = bp_##P##_extreme_row_body(n, x, largest);                                                \
    else if (lanes == EXT_LANES)                                                                      \
      bp_##P##_extreme_columns_body(n, inner, EXT_LANES, x, out, largest);                            \
    else                                                                                              \
      bp_##P##_extreme_columns_body(n, inner, lanes, x, out, largest);                                \
  }                                                                                                   \
  BP_DISPATCH_VOID(bp_##P##_extreme_piece, (long n, long inner, long lanes, const T *x, T *out, int largest), \
                   (n, inner, lanes, x, out, largest))                                                \
  typedef struct {                                                                                    \
    long n, inner;                                                                                    \
    int largest;                                                                                      \
    const T *x;                                                                                       \
    T *out;                                                                                           \
  } bp_##P##_extreme_job;                                                                             \
  static void bp_##P##_extreme_part(void *context, long o, long l0, long lanes) {                     \
    const bp_##P##_extreme_job *j = context;                                                          \
    bp_##P##_extreme_piece(j->n, j->inner, lanes, j->x + o * j->n * j->inner + l0, j->out + o * j->inner + l0, j->largest); \
  }                                                                                                   \
  void bp_##P##_extreme(long outer, long n, long inner, const T *x, T *out, int largest) {            \
    bp_##P##_extreme_job job = {n, inner, largest != 0, x, out};                                      \
    bp_for_pieces(outer, inner, EXT_LANES, (double)outer * (double)n * (double)inner, SUM_THREAD_ELEMENTS, \
                  bp_##P##_extreme_part, &job);                                                       \
  }

DEFINE_EXTREME(float, s)
DEFINE_EXTREME(double, d)

// MARK: Arg-extremes of contiguous rows

#define DEFINE_ARG_EXTREME(T, P)                                                                      \
  /* The first position of `m` in a row that holds it (of a NaN `m`, the first NaN; equal zeros    \
     of either sign match), in blocks of 16 compared without branching. */                          \
  BP_INLINE long bp_##P##_first_index(long n, const T *restrict x, T m) {                            \
    if (m != m) {                                                                                     \
      for (long j = 0; j < n; j++)                                                                    \
        if (x[j] != x[j]) return j;                                                                   \
      return 0;                                                                                       \
    }                                                                                                 \
    long j = 0;                                                                                       \
    for (; j + 16 <= n; j += 16) {                                                                    \
      int hit = 0;                                                                                    \
      for (int k = 0; k < 16; k++) hit |= x[j + k] == m;                                              \
      if (hit) break;                                                                                 \
    }                                                                                                 \
    for (; j < n; j++)                                                                                \
      if (x[j] == m) return j;                                                                        \
    return 0;                                                                                         \
  }                                                                                                   \
  BP_INLINE void bp_##P##_arg_extreme_rows_piece_body(long r0, long r1, long n, const T *x, int32_t *out, \
                                                      int largest) {                                 \
    for (long r = r0; r < r1; r++) {                                                                  \
      const T *row = x + r * n;                                                                       \
      out[r] = (int32_t)bp_##P##_first_index(n, row, bp_##P##_extreme_row_body(n, row, largest));     \
    }                                                                                                 \
  }                                                                                                   \
  BP_DISPATCH_VOID(bp_##P##_arg_extreme_rows_piece,                                                   \
                   (long r0, long r1, long n, const T *x, int32_t *out, int largest), (r0, r1, n, x, out, largest)) \
  typedef struct {                                                                                    \
    long n;                                                                                           \
    int largest;                                                                                      \
    const T *x;                                                                                       \
    int32_t *out;                                                                                     \
  } bp_##P##_arg_job;                                                                                 \
  static void bp_##P##_arg_part(void *context, long o, long l0, long lanes) {                         \
    (void)l0;                                                                                         \
    (void)lanes;                                                                                      \
    const bp_##P##_arg_job *j = context;                                                              \
    bp_##P##_arg_extreme_rows_piece(o, o + 1, j->n, j->x, j->out, j->largest);                        \
  }                                                                                                   \
  void bp_##P##_arg_extreme_rows(long rows, long n, const T *x, int32_t *out, int largest) {          \
    if (n <= 0) return;                                                                               \
    bp_##P##_arg_job job = {n, largest != 0, x, out};                                                 \
    bp_for_pieces(rows, 1, 1, (double)rows * (double)n, SUM_THREAD_ELEMENTS, bp_##P##_arg_part, &job); \
  }

DEFINE_ARG_EXTREME(float, s)
DEFINE_ARG_EXTREME(double, d)
