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
//       (ln2/2)^(d+1)/(d+1)!: 5.2e-9 for d = 7, 4.0e-18 for d = 13),
//   eˣ = 2ᵏ · (1 + (eʳ − 1)), the power of two built from its bits.
// ln2_hi and ln2_lo are fdlibm's (Sun Microsystems, e_exp.c: ln2HI[0] = 0x3fe62e42fee00000,
// ln2LO[0] = 0x3dea39ef35793c76).
//
// float32: in float, with d = 7 (bp_exp_s_core, below).
// float64: d = 13; 2ᵏ applied as 2^(k−⌊k/2⌋)·2^⌊k/2⌋ (two normal powers, the first product
// exact), so results in the subnormal range are rounded once, and the overflow to +∞ comes
// from the arithmetic itself.
// Measured (TranscendentalTests, Scripts/check_transcendental.sh): float64 exp 0.956 ulp at
// worst against x87 expl over 2e7 values (glibc's: 0.508), 1 ulp from glibc's; the float32
// functions as their note below says.
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

// bp_double_bits/bp_double_from_bits and bp_float_bits/bp_float_from_bits: a value's bits and back.
#define BP_BIT_CASTS(T, U, NAME)                                \
  BP_INLINE U bp_##NAME##_bits(T x) {                           \
    U u;                                                        \
    memcpy(&u, &x, sizeof u);                                   \
    return u;                                                   \
  }                                                             \
  BP_INLINE T bp_##NAME##_from_bits(U u) {                      \
    T x;                                                        \
    memcpy(&x, &u, sizeof x);                                   \
    return x;                                                   \
  }
BP_BIT_CASTS(double, uint64_t, double)
BP_BIT_CASTS(float, uint32_t, float)

// eʳ − 1 for the reduced r, Taylor to degree 13 (float64's).
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

// The float32 functions (exp, and through it sigmoid, softplus, the sigmoid cross-entropy and
// softmax; tanh, log, log1p) compute in float, 16 lanes to a 512-bit vector (twice double's);
// exp, tanh, log and log1p are within 1 ulp of the correctly rounded result for every one of the
// 2³² inputs, sigmoid within 2 (Scripts/check_transcendental.sh --all-floats checks them).
// NumPy's, Eigen's (TensorFlow's) and SLEEF's (PyTorch's) vectorized float32 functions are
// float arithmetic too.

// ln 2 split for float: BP_LN2F_HI has 9 significant bits (Cephes's 0.693359375, 355/512), so
// k·BP_LN2F_HI is exact for |k| < 2¹⁵; BP_LN2F_LO = ln 2 − BP_LN2F_HI rounded to float.
#define BP_LN2F_HI 0x1.63p-1f
#define BP_LN2F_LO -0x1.bd0106p-13f

// The reduction: k (as a double and as an integer) and r for x (already clamped).
#define BP_EXP_REDUCE(x, k, ki, r)                                   \
  const double t_ = (x) * BP_INV_LN2 + BP_EXP_SHIFT;                 \
  const double k = t_ - BP_EXP_SHIFT;                                \
  const int64_t ki = (int64_t)(bp_double_bits(t_) - bp_double_bits(BP_EXP_SHIFT)); \
  const double r = ((x) - k * BP_LN2_HI) - k * BP_LN2_LO;

// The float reduction for eˣ: k = round(x / ln 2) (1/ln 2 and the shifter 1.5·2²³) as the
// integer ki, and r = rh − kl with rh = x − k·ln2_hi (exact) and kl = k·ln2_lo.
#define BP_EXPF_REDUCE(x, ki, rh, kl)                                              \
  const float t_ = (x) * 0x1.715476p0f + 0x1.8p23f;                                \
  const float k_ = t_ - 0x1.8p23f;                                                 \
  const int32_t ki = (int32_t)(bp_float_bits(t_) - bp_float_bits(0x1.8p23f));     \
  const float rh = (x) - k_ * BP_LN2F_HI, kl = k_ * BP_LN2F_LO;

// (eʳ − 1 − r) / r² by Taylor to degree 7 or 8 (`degree`, a constant at each use), by Horner:
// 1/2! + r/3! + … + r^(degree−2)/degree!.
BP_INLINE float bp_expm1f_tail(float r, int degree) {
  _Pragma("clang fp contract(off)")
  float q = 1.0f / 5040.0f;
  if (degree == 8) q = (1.0f / 40320.0f) * r + q;
  q = q * r + 1.0f / 720.0f;
  q = q * r + 1.0f / 120.0f;
  q = q * r + 1.0f / 24.0f;
  q = q * r + 1.0f / 6.0f;
  return q * r + 0.5f;
}

// float32, in float arithmetic (see the float32 functions' note above): the reduction with the
// float split of ln 2, r's rounding error c = ((x − k·ln2_hi) − r) − k·ln2_lo (Fast2Sum) added
// to the small part, eʳ − 1 by Taylor to degree 7 (truncation below 5.2e-9 relative), and 2ᵏ
// applied as two powers as for float64 (subnormal results rounded once, overflow to +∞ from the
// arithmetic). Within 1 ulp of the correctly rounded result for every float.
BP_INLINE float bp_exp_s_core(float x) {
  _Pragma("clang fp contract(off)")
  x = x > 89.0f ? 89.0f : x;
  x = x < -104.0f ? -104.0f : x;
  BP_EXPF_REDUCE(x, ki, rh, kl)
  const float r = rh - kl, c = (rh - r) - kl;
  const float p = r + ((r * r) * bp_expm1f_tail(r, 7) + c);
  const int32_t k1 = ki >> 1, k2 = ki - k1;
  const float s1 = bp_float_from_bits((uint32_t)(k2 + 127) << 23);
  const float s2 = bp_float_from_bits((uint32_t)(k1 + 127) << 23);
  return ((1.0f + p) * s1) * s2;
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

// tanh x for float32, in float, with a = |x|:
//   a < 0.3: a + a·z·P(z), z = a², P of degree 3 fitted to (tanh a − a)/a³ on [0, 0.09]
//            (weighted least squares, Lawson's iterations to the minimax; its error is below
//            0.03 ulp of tanh there; the coefficients are that fit's, rounded to float);
//   else:    E / (E + 2) with E = e^(2a) − 1 = 2ᵏ·(eʳ − 1) + (2ᵏ − 1) (the exponential's
//            reduction in float with the split above, eʳ − 1 by Taylor to degree 8; 2a clamped
//            to 40, where tanh is 1 in float).
// Below 0.3 the quotient's rounding of E + 2 ≈ 2 would cost a second ulp (measured: 2 ulp up to
// a = 0.2554). sign(x) is copied last: tanh(±0) = ±0, tanh(±∞) = ±1, NaN → NaN (quieted).
BP_INLINE float bp_tanh_s_core(float x) {
  _Pragma("clang fp contract(off)")
  const float a = __builtin_fabsf(x);
  const float z = a * a;
  float p = 0x1.484676p-6f;
  p = p * z - 0x1.b8fee4p-5f;
  p = p * z + 0x1.110ef8p-3f;
  p = p * z - 0x1.555552p-2f;
  const float small = a + a * (z * p);
  const float y = 2.0f * (a < 20.0f ? a : 20.0f);
  BP_EXPF_REDUCE(y, ki, rh, kl)
  const float r = rh - kl;
  const float scale = bp_float_from_bits((uint32_t)(ki + 127) << 23);
  const float e = scale * (r + (r * r) * bp_expm1f_tail(r, 8)) + (scale - 1.0f);
  const float result = a < 0.3f ? small : e / (e + 2.0f);
  return x != x ? x + x : __builtin_copysignf(result, x);
}

// MARK: Logarithms

// The logarithm (method, fdlibm's e_log.c and s_log1p.c, rewritten branch-free for the
// vectorizer): x = 2ᵏ·m with m in [√2/2, √2) (k from the bits of x minus those of √2/2, so the
// mantissa range is centred on 1), f = m − 1 (exact), s = f / (2 + f), and
//   ln(1 + f) = 2s + s·R(s²),  R(z) = Lg1·z + Lg2·z² + … + Lg7·z⁷ ≈ 2z/3 + 2z²/5 + …
// (a minimax fit, |error| < 2^−58.45 on [0, 0.1716²]), evaluated as f − (f²/2 − s·(f²/2 + R))
// (2s = f − s·f and s·f = f²/2 − s·f²/2), R as its odd and even parts (Estrin-like, in w = z²).
// ln x = k·ln2_hi + (that, with k·ln2_lo added to its small part): k·ln2_hi is exact.
// Lg1…Lg7 are fdlibm's (Sun Microsystems, e_log.c: Lg1 = 0x3FE5555555555593, Lg2 =
// 0x3FD999999997FA04, Lg3 = 0x3FD2492494229359, Lg4 = 0x3FCC71C51D8E78AF, Lg5 =
// 0x3FC7466496CB03DE, Lg6 = 0x3FC39A09D078C69F, Lg7 = 0x3FC2F112DF3E5244), as are ln2_hi/lo.
// float64: subnormal x is scaled by 2⁵⁴ first (k − 54). Within 1 ulp (Scripts/check_transcendental.sh
// measures it against x87 logl). float32: the same method in float (m's split from the float's
// bits, subnormal x scaled by 2²⁵), with R of degree 4, Lg1…Lg4 from FreeBSD's e_logf.c (Bruce
// D. Evans: 0xaaaaaa.0p-24, 0xccce13.0p-25, 0x91e9ee.0p-25, 0xf89e26.0p-26, |error| < 2^−34.24)
// and ln 2 split as BP_LN2F_HI/LO; within 1 ulp of the correctly rounded result for every float
// (0.64% of them are 1 ulp off; log1p: 0.37%).
// log1p x: u = 1 + x, its k and m as above; when k = 0 (u in [√2/2, √2)) f = x itself, else
// f = m − 1 and c = (the rounding error of 1 + x) / u (1 − (u − x) for k ≥ 2, x − (u − 1)
// otherwise, both exact), added with k·ln2_lo: ln(1 + x) = ln u + c/u to first order.
// |x| < 2⁻⁵⁴ gives x (±0 and subnormals included).
// Edges (as Swift's log and log(onePlus:)): log(±0) = −∞, log(x < 0) = NaN, log(+∞) = +∞,
// log1p(−1) = −∞, log1p(x < −1) = NaN, log1p(+∞) = +∞, NaN → NaN.

#define BP_LG1 0x1.5555555555593p-1
#define BP_LG2 0x1.999999997fa04p-2
#define BP_LG3 0x1.2492494229359p-2
#define BP_LG4 0x1.c71c51d8e78afp-3
#define BP_LG5 0x1.7466496cb03dep-3
#define BP_LG6 0x1.39a09d078c69fp-3
#define BP_LG7 0x1.2f112df3e5244p-3
// The bits of √2/2 rounded to double.
#define BP_SQRT_HALF_BITS 0x3fe6a09e667f3bcdULL

// k·ln 2 + ln(1 + f) for f in [√2/2 − 1, √2 − 1), with c added to the small part (log1p's
// correction; 0 for log).
BP_INLINE double bp_log_reduced(double f, double dk, double c) {
  _Pragma("clang fp contract(off)")
  const double s = f / (2.0 + f), z = s * s, w = z * z;
  const double odd = z * (BP_LG1 + w * (BP_LG3 + w * (BP_LG5 + w * BP_LG7)));
  const double even = w * (BP_LG2 + w * (BP_LG4 + w * BP_LG6));
  const double r = odd + even, hfsq = (0.5 * f) * f;
  return dk * BP_LN2_HI + (f - (hfsq - (s * (hfsq + r) + (dk * BP_LN2_LO + c))));
}

// k (centred: m = x / 2ᵏ in [√2/2, √2)) as a double, and m, for positive finite normal x's bits
// u; kb = k + 1023 (unsigned arithmetic and a logical shift, and kb to a double through the bits
// of 2⁵² + kb: AVX2 and AVX-512F have no 64-bit arithmetic shift or integer-to-double conversion).
#define BP_LOG_SPLIT(u, kb, dk, m)                                                         \
  const uint64_t kb = ((u) - BP_SQRT_HALF_BITS + (1023ULL << 52)) >> 52;                   \
  const double dk = bp_double_from_bits(0x4330000000000000ULL | kb) - (0x1p52 + 1023.0);   \
  const double m = bp_double_from_bits((u) - (kb << 52) + (1023ULL << 52));

// The edges of ln x, given y for positive finite x (a NaN is returned quieted by an addition,
// so that no path may hand back a signalling NaN's bits unchanged).
BP_INLINE double bp_log_edges(double x, double y) {
  return x > 0 ? (x < INFINITY ? y : x) : (x == 0 ? -INFINITY : (x < 0 ? __builtin_nan("") : x + x));
}

BP_INLINE double bp_log_d_core(double x) {
  _Pragma("clang fp contract(off)")
  const int sub = x < 0x1p-1022;
  const uint64_t u = bp_double_bits(sub ? x * 0x1p54 : x);
  BP_LOG_SPLIT(u, kb, dk, m)
  return bp_log_edges(x, bp_log_reduced(m - 1.0, sub ? dk - 54.0 : dk, 0.0));
}
// The float32 logarithm's constants (above) and its reduction, as bp_log_reduced in float.
#define BP_LGF1 0x1.555554p-1f
#define BP_LGF2 0x1.999c26p-2f
#define BP_LGF3 0x1.23d3dcp-2f
#define BP_LGF4 0x1.f13c4cp-3f
BP_INLINE float bp_logf_reduced(float f, float dk, float c) {
  _Pragma("clang fp contract(off)")
  const float s = f / (2.0f + f), z = s * s, w = z * z;
  const float r = z * (BP_LGF1 + w * BP_LGF3) + w * (BP_LGF2 + w * BP_LGF4);
  const float hfsq = (0.5f * f) * f;
  return dk * BP_LN2F_HI + (f - (hfsq - (s * (hfsq + r) + (dk * BP_LN2F_LO + c))));
}
// BP_LOG_SPLIT for a float's bits: kb = k + 127 (0x3f3504f3: √2/2 rounded to float), dk = k.
#define BP_LOGF_SPLIT(u, kb, dk, m)                                      \
  const uint32_t kb = ((u) - 0x3f3504f3u + (127u << 23)) >> 23;          \
  const float dk = (float)(int32_t)kb - 127.0f;                          \
  const float m = bp_float_from_bits((u) - (kb << 23) + (127u << 23));

BP_INLINE float bp_log_s_core(float x) {
  _Pragma("clang fp contract(off)")
  const int sub = x < 0x1p-126f;
  const uint32_t u = bp_float_bits(sub ? x * 0x1p25f : x);
  BP_LOGF_SPLIT(u, kb, dk, m)
  const float y = bp_logf_reduced(m - 1.0f, sub ? dk - 25.0f : dk, 0.0f);
  return x > 0 ? (x < INFINITY ? y : x) : (x == 0 ? -INFINITY : (x < 0 ? __builtin_nanf("") : x + x));
}

BP_INLINE double bp_log1p_d_core(double x) {
  _Pragma("clang fp contract(off)")
  const double u = 1.0 + x;
  const uint64_t ub = bp_double_bits(u);
  BP_LOG_SPLIT(ub, kb, dk, m)
  const double c = kb == 1023 ? 0.0 : (kb >= 1025 ? 1.0 - (u - x) : x - (u - 1.0)) / u;
  const double y = bp_log_reduced(kb == 1023 ? x : m - 1.0, dk, c);
  const double t = __builtin_fabs(x) < 0x1p-54 ? x : y;
  return x > -1.0 ? (x < INFINITY ? t : x) : (x == -1.0 ? -INFINITY : (x < -1.0 ? __builtin_nan("") : x + x));
}
// float32: as float64's, in float (the same corrections c, exact as there); |x| < 2⁻²⁵ gives x.
BP_INLINE float bp_log1p_s_core(float x) {
  _Pragma("clang fp contract(off)")
  const float u = 1.0f + x;
  const uint32_t ub = bp_float_bits(u);
  BP_LOGF_SPLIT(ub, kb, dk, m)
  const float c = kb == 127 ? 0.0f : (kb >= 129 ? 1.0f - (u - x) : x - (u - 1.0f)) / u;
  const float y = bp_logf_reduced(kb == 127 ? x : m - 1.0f, dk, c);
  const float t = __builtin_fabsf(x) < 0x1p-25f ? x : y;
  return x > -1.0f ? (x < INFINITY ? t : x) : (x == -1.0f ? -INFINITY : (x < -1.0f ? __builtin_nanf("") : x + x));
}

// Softplus and the sigmoid cross-entropy as Softplus and SigmoidCrossEntropy (GraphCore) write
// them, each operation rounded in the element type: max(x, 0) + log1p(e^(−|x|)) and
// (max(x, 0) − x·z) + log1p(e^(−|x|)), max(x, 0) as Swift's max (0 ≥ x ? 0 : x; NaN stays).
// A NaN x gives x + x (x quieted: which NaN an addition of two returns would depend on the
// operand order a compiler picks).
#define DEFINE_SOFTPLUS(T, P, FABS)                                             \
  BP_INLINE T bp_softplus_##P##_exp(T x) { return bp_exp_##P##_core(-FABS(x)); } \
  BP_INLINE T bp_softplus_##P##_finish(T x, T e) {                              \
    _Pragma("clang fp contract(off)")                                           \
    const T m = (T)0 >= x ? (T)0 : x;                                           \
    const T y = m + bp_log1p_##P##_core(e);                                     \
    return x != x ? x + x : y;                                                  \
  }                                                                             \
  BP_INLINE T bp_sigmoid_xent_##P##_finish(T x, T z, T e) {                     \
    _Pragma("clang fp contract(off)")                                           \
    const T m = (T)0 >= x ? (T)0 : x;                                           \
    const T y = (m - x * z) + bp_log1p_##P##_core(e);                           \
    return x != x ? x + x : y;                                                  \
  }                                                                             \
  BP_INLINE T bp_softplus_##P##_core(T x) { return bp_softplus_##P##_finish(x, bp_softplus_##P##_exp(x)); } \
  BP_INLINE T bp_sigmoid_xent_##P##_core(T x, T z) {                            \
    return bp_sigmoid_xent_##P##_finish(x, z, bp_softplus_##P##_exp(x));        \
  }
DEFINE_SOFTPLUS(float, s, __builtin_fabsf)
DEFINE_SOFTPLUS(double, d, __builtin_fabs)

// MARK: Maps

// From this many elements a map is split over the threads, in pieces of MAP_PIECE elements
// (each element is computed alone, so the split changes no bit).
#define MAP_THREAD_ELEMENTS ((double)BP_MAP_THREAD_ELEMENTS)
#define MAP_PIECE BP_MAP_PIECE

typedef struct {
  bp_range_fn fn;
  void *context;
} bp_range_job;

static void bp_range_part(void *context, long o, long l0, long lanes) {
  (void)o;
  const bp_range_job *j = context;
  j->fn(j->context, l0, lanes);
}

void bp_split_range(long n, bp_range_fn fn, void *context) {
  if (n <= 0) return;
  if ((double)n < MAP_THREAD_ELEMENTS) {
    fn(context, 0, n);
    return;
  }
  bp_range_job job = {fn, context};
  bp_for_pieces(1, n, MAP_PIECE, (double)n, MAP_THREAD_ELEMENTS, bp_range_part, &job);
}

typedef void (*bp_map_fn)(long n, const void *x, const void *z, void *y);
typedef struct {
  bp_map_fn fn;
  long size;
  const char *x, *z;
  char *y;
} bp_map_job;

static void bp_map_range(void *context, long first, long count) {
  const bp_map_job *j = context;
  j->fn(count, j->x + first * j->size, j->z ? j->z + first * j->size : NULL, j->y + first * j->size);
}

// fn over n elements of `size` bytes (z: a second operand or NULL), split as bp_split_range
// splits.
static void bp_map_split(long n, long size, bp_map_fn fn, const void *x, const void *z, void *y) {
  bp_map_job job = {fn, size, x, z, y};
  bp_split_range(n, bp_map_range, &job);
}

#define DEFINE_MAP(T, P, NAME, CORE)                                                   \
  BP_INLINE void bp_##P##_##NAME##_run_body(long n, const T *x, T *y) {                \
    for (long i = 0; i < n; i++) y[i] = CORE(x[i]);                                    \
  }                                                                                    \
  static void bp_##P##_##NAME##_run(long n, const T *x, T *y);                         \
  BP_DISPATCH_VOID(bp_##P##_##NAME##_run, (long n, const T *x, T *y), (n, x, y))        \
  static void bp_##P##_##NAME##_piece(long n, const void *x, const void *z, void *y) {  \
    (void)z;                                                                           \
    bp_##P##_##NAME##_run(n, x, y);                                                    \
  }                                                                                    \
  void bp_##P##_##NAME(long n, const T *x, T *y) {                                     \
    bp_map_split(n, sizeof(T), bp_##P##_##NAME##_piece, x, NULL, y);                   \
  }                                                                                    \
  T bp_##P##_##NAME##1(T x) { return CORE(x); }

#define DEFINE_MAP2(T, P, NAME, CORE)                                                  \
  BP_INLINE void bp_##P##_##NAME##_run_body(long n, const T *x, const T *z, T *y) {    \
    for (long i = 0; i < n; i++) y[i] = CORE(x[i], z[i]);                              \
  }                                                                                    \
  static void bp_##P##_##NAME##_run(long n, const T *x, const T *z, T *y);             \
  BP_DISPATCH_VOID(bp_##P##_##NAME##_run, (long n, const T *x, const T *z, T *y), (n, x, z, y)) \
  static void bp_##P##_##NAME##_piece(long n, const void *x, const void *z, void *y) {  \
    bp_##P##_##NAME##_run(n, x, z, y);                                                 \
  }                                                                                    \
  void bp_##P##_##NAME(long n, const T *x, const T *z, T *y) {                         \
    bp_map_split(n, sizeof(T), bp_##P##_##NAME##_piece, x, z, y);                      \
  }                                                                                    \
  T bp_##P##_##NAME##1(T x, T z) { return CORE(x, z); }


// Softplus and the sigmoid cross-entropy in chunks of CHUNK elements, the exponentials first
// into a buffer, then the rest: the same operations as the scalar function (the exponential
// rounded to T either way), in two loops that vectorize better than one (measured: softplus of
// 256x1024 floats 577 µs in one loop, 405 µs so; exp alone 152, log1p alone 225).
#define CHUNK 512
#define DEFINE_CHUNKED(T, P)                                                           \
  BP_INLINE void bp_##P##_softplus_run_body(long n, const T *x, T *y) {                \
    T e[CHUNK];                                                                        \
    for (long i0 = 0; i0 < n; i0 += CHUNK) {                                           \
      const long c = n - i0 < CHUNK ? n - i0 : CHUNK;                                  \
      for (long i = 0; i < c; i++) e[i] = bp_softplus_##P##_exp(x[i0 + i]);           \
      for (long i = 0; i < c; i++) y[i0 + i] = bp_softplus_##P##_finish(x[i0 + i], e[i]); \
    }                                                                                  \
  }                                                                                    \
  static void bp_##P##_softplus_run(long n, const T *x, T *y);                         \
  BP_DISPATCH_VOID(bp_##P##_softplus_run, (long n, const T *x, T *y), (n, x, y))        \
  static void bp_##P##_softplus_piece(long n, const void *x, const void *z, void *y) {  \
    (void)z;                                                                           \
    bp_##P##_softplus_run(n, x, y);                                                    \
  }                                                                                    \
  void bp_##P##_softplus(long n, const T *x, T *y) {                                   \
    bp_map_split(n, sizeof(T), bp_##P##_softplus_piece, x, NULL, y);                   \
  }                                                                                    \
  T bp_##P##_softplus1(T x) { return bp_softplus_##P##_core(x); }                      \
  BP_INLINE void bp_##P##_sigmoid_xent_run_body(long n, const T *x, const T *z, T *y) { \
    T e[CHUNK];                                                                        \
    for (long i0 = 0; i0 < n; i0 += CHUNK) {                                           \
      const long c = n - i0 < CHUNK ? n - i0 : CHUNK;                                  \
      for (long i = 0; i < c; i++) e[i] = bp_softplus_##P##_exp(x[i0 + i]);           \
      for (long i = 0; i < c; i++) y[i0 + i] = bp_sigmoid_xent_##P##_finish(x[i0 + i], z[i0 + i], e[i]); \
    }                                                                                  \
  }                                                                                    \
  static void bp_##P##_sigmoid_xent_run(long n, const T *x, const T *z, T *y);         \
  BP_DISPATCH_VOID(bp_##P##_sigmoid_xent_run, (long n, const T *x, const T *z, T *y), (n, x, z, y)) \
  static void bp_##P##_sigmoid_xent_piece(long n, const void *x, const void *z, void *y) { \
    bp_##P##_sigmoid_xent_run(n, x, z, y);                                             \
  }                                                                                    \
  void bp_##P##_sigmoid_xent(long n, const T *x, const T *z, T *y) {                   \
    bp_map_split(n, sizeof(T), bp_##P##_sigmoid_xent_piece, x, z, y);                  \
  }                                                                                    \
  T bp_##P##_sigmoid_xent1(T x, T z) { return bp_sigmoid_xent_##P##_core(x, z); }

DEFINE_MAP(float, s, exp, bp_exp_s_core)
DEFINE_MAP(double, d, exp, bp_exp_d_core)
DEFINE_MAP(float, s, sigmoid, bp_sigmoid_s_core)
DEFINE_MAP(double, d, sigmoid, bp_sigmoid_d_core)
DEFINE_MAP(float, s, tanh, bp_tanh_s_core)
DEFINE_MAP(float, s, log, bp_log_s_core)
DEFINE_MAP(double, d, log, bp_log_d_core)
DEFINE_MAP(float, s, log1p, bp_log1p_s_core)
DEFINE_MAP(double, d, log1p, bp_log1p_d_core)
DEFINE_CHUNKED(float, s)
DEFINE_CHUNKED(double, d)

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
