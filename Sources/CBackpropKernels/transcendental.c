// The exponential and the functions built on it (sigmoid, tanh, softmax), defined once here.
//
// Each function is one always-inline scalar core in plain C (no intrinsics, no FMA: every body
// runs under `clang fp contract(off)`), used both by the exported scalar function (`bp_s_exp1`:
// the graph's scalar fast path and constant folding) and by the array kernels, which are
// compiled per instruction set (BP_DISPATCH) and vectorized by clang. The operations and their
// order are the same everywhere, so every path and every thread count gives the same bits.
//
// The exponential (method):
//   k = nearest integer to x / ln 2 (the 1.5·2⁵² shifter trick: t = x·(1/ln 2) + 1.5·2⁵²,
//       k = t − 1.5·2⁵², and k's integer from t's low bits),
//   r = (x − k·ln2_hi) − k·ln2_lo (Cody–Waite: ln2_hi has 32 trailing zero bits, so k·ln2_hi
//       and the subtraction are exact), |r| ≤ ln 2 / 2 (plus rounding),
//   eʳ − 1 = r + r²·(1/2! + r/3! + … + r^(d−2)/d!) (Taylor, by Horner; the coefficients are
//       1/n! rounded once by the compiler, and the truncation error is below
//       (ln2/2)^(d+1)/(d+1)!: 6.9e-12 for d = 9, 4.0e-18 for d = 13),
//   eˣ = 2ᵏ · (1 + (eʳ − 1)), the power of two built from its bits.
// ln2_hi and ln2_lo are fdlibm's (Sun Microsystems, e_exp.c: ln2HI[0] = 0x3fe62e42fee00000,
// ln2LO[0] = 0x3dea39ef35793c76).
//
// float32: the whole computation in double with d = 9, rounded to float once at the end (so
// subnormal results are rounded once too). Error ≤ 0.5 ulp + 6.9e-12 relative, i.e. the
// correctly rounded result except within 1e-4 ulp of a tie.
// float64: d = 13; 2ᵏ applied as 2^(k−⌊k/2⌋)·2^⌊k/2⌋ (two normal powers, the first product
// exact), so results in the subnormal range are rounded once, and the overflow to +∞ comes
// from the arithmetic itself.
// Measured (TranscendentalTests, Scripts/check_transcendental.sh): float32 exp 1 ulp at worst
// from the correctly rounded result (1 of 4.3e6 sweep values not correctly rounded); float64
// exp 0.956 ulp at worst against x87 expl over 2e7 values (glibc's: 0.508), 1 ulp from glibc's;
// float32 tanh 1 ulp, float32 sigmoid 2 ulp (its float arithmetic around the exponential).
//
// Edges (as Swift's exp): NaN → NaN; x is clamped to [−746, 710] (float: [−104, 89]) first, so
// +∞ and large x overflow to +∞, −∞ and very negative x underflow to 0; e^(±0) = 1 exactly.
#include "CBackpropKernels.h"
#include "internal.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

#define BP_EXP_SHIFT 0x1.8p52
#define BP_INV_LN2 0x1.71547652b82fep0
#define BP_LN2_HI 0x1.62e42feep-1
#define BP_LN2_LO 0x1.a39ef35793c76p-33

BP_INLINE uint64_t bp_double_bits(double x) {
  uint64_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}
BP_INLINE double bp_double_from_bits(uint64_t u) {
  double x;
  memcpy(&x, &u, sizeof x);
  return x;
}

// eʳ − 1 for the reduced r, Taylor to degree 9 (float32's) and 13 (float64's).
BP_INLINE double bp_expm1_reduced9(double r) {
  _Pragma("clang fp contract(off)")
  double q = 1.0 / 362880.0;
  q = q * r + 1.0 / 40320.0;
  q = q * r + 1.0 / 5040.0;
  q = q * r + 1.0 / 720.0;
  q = q * r + 1.0 / 120.0;
  q = q * r + 1.0 / 24.0;
  q = q * r + 1.0 / 6.0;
  q = q * r + 0.5;
  return r + (r * r) * q;
}
BP_INLINE double bp_expm1_reduced13(double r) {
  _Pragma("clang fp contract(off)")
  double q = 1.0 / 6227020800.0;
  q = q * r + 1.0 / 479001600.0;
  q = q * r + 1.0 / 39916800.0;
  q = q * r + 1.0 / 3628800.0;
  q = q * r + 1.0 / 362880.0;
  q = q * r + 1.0 / 40320.0;
  q = q * r + 1.0 / 5040.0;
  q = q * r + 1.0 / 720.0;
  q = q * r + 1.0 / 120.0;
  q = q * r + 1.0 / 24.0;
  q = q * r + 1.0 / 6.0;
  q = q * r + 0.5;
  return r + (r * r) * q;
}

// The reduction: k (as a double and as an integer) and r for x (already clamped).
#define BP_EXP_REDUCE(x, k, ki, r)                                   \
  const double t_ = (x) * BP_INV_LN2 + BP_EXP_SHIFT;                 \
  const double k = t_ - BP_EXP_SHIFT;                                \
  const int64_t ki = (int64_t)(bp_double_bits(t_) - bp_double_bits(BP_EXP_SHIFT)); \
  const double r = ((x) - k * BP_LN2_HI) - k * BP_LN2_LO;

BP_INLINE float bp_exp_s_core(float value) {
  _Pragma("clang fp contract(off)")
  double x = (double)value;
  x = x > 89.0 ? 89.0 : x;
  x = x < -104.0 ? -104.0 : x;
  BP_EXP_REDUCE(x, k, ki, r)
  (void)k;
  const double scale = bp_double_from_bits((uint64_t)(ki + 1023) << 52);
  return (float)((1.0 + bp_expm1_reduced9(r)) * scale);
}

BP_INLINE double bp_exp_d_core(double x) {
  _Pragma("clang fp contract(off)")
  x = x > 710.0 ? 710.0 : x;
  x = x < -746.0 ? -746.0 : x;
  BP_EXP_REDUCE(x, k, ki, r)
  (void)k;
  const int64_t k1 = ki >> 1, k2 = ki - k1;
  const double s1 = bp_double_from_bits(((uint64_t)k2 + 1023) << 52);
  const double s2 = bp_double_from_bits(((uint64_t)k1 + 1023) << 52);
  return ((1.0 + bp_expm1_reduced13(r)) * s1) * s2;
}

// σ(x) as stableSigmoid (GraphCore) writes it: 1 / (1 + e⁻ˣ) for x ≥ 0, eˣ / (1 + eˣ) otherwise.
BP_INLINE float bp_sigmoid_s_core(float x) {
  _Pragma("clang fp contract(off)")
  const int positive = x >= 0;
  const float e = bp_exp_s_core(positive ? -x : x);
  return positive ? 1.0f / (1.0f + e) : e / (1.0f + e);
}
BP_INLINE double bp_sigmoid_d_core(double x) {
  _Pragma("clang fp contract(off)")
  const int positive = x >= 0;
  const double e = bp_exp_d_core(positive ? -x : x);
  return positive ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

// tanh x for float32, in double, rounded once: with a = |x| and E = e^(2a) − 1 (the reduction
// above with d = 9, E = 2ᵏ·(eʳ − 1) + (2ᵏ − 1), exact but for the last addition; 2a clamped to
// 40, where tanh is 1 in float), tanh x = sign(x) · E / (E + 2). No cancellation near 0 (E ≈ 2a),
// tanh(±0) = ±0, tanh(±∞) = ±1, NaN → NaN.
BP_INLINE float bp_tanh_s_core(float value) {
  _Pragma("clang fp contract(off)")
  const double a = __builtin_fabs((double)value);
  double y = 2.0 * a;
  y = y > 40.0 ? 40.0 : y;
  BP_EXP_REDUCE(y, k, ki, r)
  (void)k;
  const double scale = bp_double_from_bits((uint64_t)(ki + 1023) << 52);
  const double e = scale * bp_expm1_reduced9(r) + (scale - 1.0);
  return (float)__builtin_copysign(e / (e + 2.0), (double)value);
}

#define DEFINE_MAP(T, P, NAME, CORE)                                                   \
  BP_INLINE void bp_##P##_##NAME##_body(long n, const T *x, T *y) {                    \
    for (long i = 0; i < n; i++) y[i] = CORE(x[i]);                                    \
  }                                                                                    \
  BP_DISPATCH_VOID(bp_##P##_##NAME, (long n, const T *x, T *y), (n, x, y))              \
  T bp_##P##_##NAME##1(T x) { return CORE(x); }

DEFINE_MAP(float, s, exp, bp_exp_s_core)
DEFINE_MAP(double, d, exp, bp_exp_d_core)
DEFINE_MAP(float, s, sigmoid, bp_sigmoid_s_core)
DEFINE_MAP(double, d, sigmoid, bp_sigmoid_d_core)
DEFINE_MAP(float, s, tanh, bp_tanh_s_core)

// MARK: Softmax

// Lanes per piece of a strided softmax (one 64-byte line of floats), and accumulators of a
// contiguous row's maximum and sum.
#define SOFTMAX_LANES 16
#define SOFTMAX_ROW_SUMS 16
// From this many elements a softmax is split over the threads (in at most 64 fixed pieces).
#define SOFTMAX_THREAD_ELEMENTS (256.0 * 1024.0)

BP_INLINE double bp_softmax_total(const double *restrict partial) {
  double t[SOFTMAX_ROW_SUMS];
  for (int k = 0; k < SOFTMAX_ROW_SUMS; k++) t[k] = partial[k];
  for (int w = SOFTMAX_ROW_SUMS / 2; w >= 1; w /= 2)
    for (int k = 0; k < w; k++) t[k] += t[k + w];
  return t[0];
}

// The maximum as Swift's loop keeps it: a larger value or a NaN replaces it.
#define BP_TAKE_MAX(m, v) ((v) > (m) || (v) != (v) ? (v) : (m))

#define DEFINE_SOFTMAX(T, P, EXP)                                                                     \
  /* One contiguous row of n: maximum and sum in SOFTMAX_ROW_SUMS accumulators (element j into      \
     accumulator j mod SOFTMAX_ROW_SUMS; the sums in double), combined in a fixed order. */         \
  BP_INLINE void bp_##P##_softmax_row_body(long n, const T *x, T *y, int log_form) {                \
    _Pragma("clang fp contract(off)")                                                               \
    T mp[SOFTMAX_ROW_SUMS];                                                                         \
    double partial[SOFTMAX_ROW_SUMS];                                                               \
    const long full = n - n % SOFTMAX_ROW_SUMS;                                                     \
    for (int k = 0; k < SOFTMAX_ROW_SUMS; k++) { mp[k] = -(T)INFINITY; partial[k] = 0; }            \
    for (long j = 0; j < full; j += SOFTMAX_ROW_SUMS)                                               \
      for (int k = 0; k < SOFTMAX_ROW_SUMS; k++) mp[k] = BP_TAKE_MAX(mp[k], x[j + k]);              \
    for (long j = full; j < n; j++) mp[j - full] = BP_TAKE_MAX(mp[j - full], x[j]);                 \
    T m = mp[0];                                                                                    \
    for (int k = 1; k < SOFTMAX_ROW_SUMS; k++) m = BP_TAKE_MAX(m, mp[k]);                           \
    if (m == (T)INFINITY || m == -(T)INFINITY) m = 0; /* all −∞ or some +∞: no shift, as TF */     \
    if (log_form) {                                                                                 \
      for (long j = 0; j < full; j += SOFTMAX_ROW_SUMS)                                             \
        for (int k = 0; k < SOFTMAX_ROW_SUMS; k++) partial[k] += (double)EXP(x[j + k] - m);         \
      for (long j = full; j < n; j++) partial[j - full] += (double)EXP(x[j] - m);                   \
      const T lt = (T)log(bp_softmax_total(partial));                                               \
      for (long j = 0; j < n; j++) y[j] = (x[j] - m) - lt;                                          \
    } else {                                                                                        \
      for (long j = 0; j < full; j += SOFTMAX_ROW_SUMS)                                             \
        for (int k = 0; k < SOFTMAX_ROW_SUMS; k++) {                                                \
          const T e = EXP(x[j + k] - m);                                                            \
          y[j + k] = e;                                                                             \
          partial[k] += (double)e;                                                                  \
        }                                                                                           \
      for (long j = full; j < n; j++) {                                                             \
        const T e = EXP(x[j] - m);                                                                  \
        y[j] = e;                                                                                   \
        partial[j - full] += (double)e;                                                             \
      }                                                                                             \
      const double total = bp_softmax_total(partial);                                               \
      for (long j = 0; j < n; j++) y[j] = (T)((double)y[j] / total);                                \
    }                                                                                               \
  }                                                                                                 \
  /* `lanes` columns (≤ SOFTMAX_LANES) at stride `inner`: each lane's maximum and sum over the     \
     n rows in row order (the sums in double), the lanes side by side so the loops vectorize. */   \
  BP_INLINE void bp_##P##_softmax_lanes_body(long n, long inner, long lanes, const T *x, T *y,      \
                                             int log_form) {                                        \
    _Pragma("clang fp contract(off)")                                                               \
    T m[SOFTMAX_LANES], lt[SOFTMAX_LANES];                                                          \
    double total[SOFTMAX_LANES];                                                                    \
    for (long l = 0; l < lanes; l++) { m[l] = -(T)INFINITY; total[l] = 0; }                         \
    for (long j = 0; j < n; j++)                                                                    \
      for (long l = 0; l < lanes; l++) m[l] = BP_TAKE_MAX(m[l], x[j * inner + l]);                  \
    for (long l = 0; l < lanes; l++)                                                                \
      if (m[l] == (T)INFINITY || m[l] == -(T)INFINITY) m[l] = 0;                                    \
    if (log_form) {                                                                                 \
      for (long j = 0; j < n; j++)                                                                  \
        for (long l = 0; l < lanes; l++) total[l] += (double)EXP(x[j * inner + l] - m[l]);          \
      for (long l = 0; l < lanes; l++) lt[l] = (T)log(total[l]);                                    \
      for (long j = 0; j < n; j++)                                                                  \
        for (long l = 0; l < lanes; l++) y[j * inner + l] = (x[j * inner + l] - m[l]) - lt[l];      \
    } else {                                                                                        \
      for (long j = 0; j < n; j++)                                                                  \
        for (long l = 0; l < lanes; l++) {                                                          \
          const T e = EXP(x[j * inner + l] - m[l]);                                                 \
          y[j * inner + l] = e;                                                                     \
          total[l] += (double)e;                                                                    \
        }                                                                                           \
      for (long j = 0; j < n; j++)                                                                  \
        for (long l = 0; l < lanes; l++) y[j * inner + l] = (T)((double)y[j * inner + l] / total[l]); \
    }                                                                                               \
  }                                                                                                 \
  BP_INLINE void bp_##P##_softmax_piece_body(long n, long inner, long lanes, const T *x, T *y,      \
                                             int log_form) {                                        \
    if (inner == 1)                                                                                 \
      bp_##P##_softmax_row_body(n, x, y, log_form);                                                 \
    else if (lanes == SOFTMAX_LANES)                                                                \
      bp_##P##_softmax_lanes_body(n, inner, SOFTMAX_LANES, x, y, log_form);                         \
    else                                                                                            \
      bp_##P##_softmax_lanes_body(n, inner, lanes, x, y, log_form);                                 \
  }                                                                                                 \
  BP_DISPATCH_VOID(bp_##P##_softmax_piece, (long n, long inner, long lanes, const T *x, T *y, int log_form), \
                   (n, inner, lanes, x, y, log_form))                                               \
  typedef struct {                                                                                  \
    long n, inner;                                                                                  \
    int log_form;                                                                                   \
    const T *x;                                                                                     \
    T *y;                                                                                           \
  } bp_##P##_softmax_job;                                                                           \
  static void bp_##P##_softmax_part(void *context, long o, long l0, long lanes) {                   \
    const bp_##P##_softmax_job *j = context;                                                        \
    const long base = o * j->n * j->inner + l0;                                                     \
    bp_##P##_softmax_piece(j->n, j->inner, lanes, j->x + base, j->y + base, j->log_form);           \
  }                                                                                                 \
  void bp_##P##_softmax(long outer, long n, long inner, const T *x, T *y, int log_form) {           \
    if (n <= 0 || inner <= 0) return;                                                               \
    bp_##P##_softmax_job job = {n, inner, log_form, x, y};                                          \
    bp_for_pieces(outer, inner, SOFTMAX_LANES, (double)outer * (double)n * (double)inner, SOFTMAX_THREAD_ELEMENTS, \
                  bp_##P##_softmax_part, &job);                                                     \
  }

DEFINE_SOFTMAX(float, s, bp_exp_s_core)
DEFINE_SOFTMAX(double, d, bp_exp_d_core)
