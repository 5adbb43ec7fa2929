// Convolution and pooling over NHWC images: im2col (or, for 1×1 stride-1 filters, the images
// themselves) multiplied by the filter with the packed GEMM of gemm.c; pooling loops run over
// the channels, which are contiguous. Work is split over the batch.
#include "CBackpropKernels.h"
#include "internal.h"

#include <stdatomic.h>
#include <string.h>

#if BP_X86
#include <immintrin.h>
#endif

// Bytes of im2col rows a thread builds before multiplying (about L2-sized).
#define COLS_BUDGET (1L << 20)
// Below this many multiply-adds a convolution stays on the calling thread.
#define CONV_THREAD_WORK (1L << 19)

/// The kernels' kinds (one job type serves all of them).
enum {
  K_CONV = 0,
  K_BACK_INPUT = 1,
  K_BACK_FILTER = 2,
  K_MAX_POOL = 3,
  K_MAX_POOL_GRAD = 4,
  K_MAX_POOL_SELECT = 5,
  K_AVG_POOL = 6,
  K_AVG_POOL_GRAD = 7,
  K_MAX_POOL_GRAD_SIGN = 8
};

// The Winograd switch (see bp_set_winograd): the process's choice, read from BACKPROP_WINOGRAD
// once, and each thread's override.
static _Atomic int winograd_on = -1;  // -1: not read yet
static __thread int thread_winograd = -1;

void bp_set_winograd(int on) { atomic_store_explicit(&winograd_on, on ? 1 : 0, memory_order_relaxed); }
int bp_thread_winograd(void) { return thread_winograd; }
void bp_set_thread_winograd(int on) { thread_winograd = on < 0 ? -1 : (on > 0 ? 1 : 0); }

int bp_winograd(void) {
  return thread_winograd >= 0 ? thread_winograd : bp_switch_from_env(&winograd_on, "BACKPROP_WINOGRAD");
}

static int conv_threads(const bp_conv_geometry *g, double work) {
  int t = bp_max_threads();
  if (work < (double)CONV_THREAD_WORK) t = 1;
  if (t > g->n) t = (int)g->n;
  return t < 1 ? 1 : t;
}

// The filter gradient sums over the batch. It is split into slices that depend only on the
// geometry, each summed into its own filter-sized part, and the parts are added in slice order,
// so the result is the same bit for bit whatever the number of threads (or another caller's
// `setMatmulThreads`): threads take whole slices. Up to FILTER_SLICES slices (the most threads
// it can use), fewer when the parts would exceed FILTER_PARTS_BUDGET bytes; one below the
// threading threshold.
#define FILTER_SLICES 16
#define FILTER_PARTS_BUDGET (32L << 20)

static long filter_slices(const bp_conv_geometry *g, double work, long filter_bytes) {
  if (work < (double)CONV_THREAD_WORK) return 1;
  long s = g->n < FILTER_SLICES ? g->n : FILTER_SLICES;
  const long fit = FILTER_PARTS_BUDGET / (filter_bytes > 0 ? filter_bytes : 1);
  if (s > fit) s = fit;
  return s < 1 ? 1 : s;
}

static int is_pointwise(const bp_conv_geometry *g) {
  return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->pad_top == 0 && g->pad_left == 0 &&
         g->oh == g->h && g->ow == g->w;
}

// MARK: Direct convolution for a short reduction (float, AVX2+FMA)
//
// A first layer (3x3 filters on one channel: K = kh·kw·c = 9 taps) has too short a reduction
// for the packed GEMM and its im2col copy: per output pixel the K taps are gathered into
// registers and the output channels (a multiple of 8, at most 64) accumulate in up to eight
// ymm registers, Σ_p tap[p] · w[p, :]. The filter gradient keeps one register per tap for a
// block of 8 output channels, dW[p, block] += Σ_pixels tap[p] · dy[pixel, block], over chunks
// of pixels whose taps are gathered once into an L1-sized buffer.

#define DIRECT_MAX_K 16       // forward: taps per pixel
#define DIRECT_MAX_K_GRAD 12  // filter gradient: one accumulator register per tap
#define DIRECT_CHUNK 128      // filter gradient: pixels whose taps are gathered at once

#if BP_X86
static int direct_conv_applies(const bp_conv_geometry *g, int gradient) {
  const long k = g->kh * g->kw * g->c;
  return g->groups == 1 && g->dh == 1 && g->dw == 1 && g->out_c % 8 == 0 && g->out_c <= 64 && k >= 1 &&
         k <= (gradient ? DIRECT_MAX_K_GRAD : DIRECT_MAX_K);
}

// The K taps of output pixel (oy, ox) of image `xn` (zero outside the image). `t` has room for
// 8 floats beyond the K taps: inside the image, each window row of `run` = kw·c ≤ 8 contiguous
// values is one masked load (`mask`: the first `run` lanes; masked lanes read nothing) stored
// whole, the lanes beyond `run` overwritten by the next row or left past the end.
BP_AVX2 BP_INLINE void s_gather_taps(const bp_conv_geometry *g, const float *xn, long oy, long ox, float *t, __m256i mask) {
  const long y0 = oy * g->sh - g->pad_top, x0 = ox * g->sw - g->pad_left;
  const long c = g->c, kw = g->kw, kh = g->kh, run = kw * c;
  if (y0 >= 0 && x0 >= 0 && y0 + kh <= g->h && x0 + kw <= g->w) {
    const float *src = xn + (y0 * g->w + x0) * c;
    if (run <= 8) {
      for (long i = 0; i < kh; i++) _mm256_storeu_ps(t + i * run, _mm256_maskload_ps(src + i * g->w * c, mask));
    } else {
      for (long i = 0; i < kh; i++)
        for (long q = 0; q < run; q++) t[i * run + q] = src[i * g->w * c + q];
    }
    return;
  }
  for (long i = 0; i < kh; i++) {
    const long yy = y0 + i;
    for (long jj = 0; jj < kw; jj++) {
      const long xx = x0 + jj;
      const int inside = yy >= 0 && yy < g->h && xx >= 0 && xx < g->w;
      for (long ci = 0; ci < c; ci++) t[(i * kw + jj) * c + ci] = inside ? xn[(yy * g->w + xx) * c + ci] : 0.0f;
    }
  }
}

// The mask of the first `run` lanes (all eight when run ≥ 8).
BP_AVX2 BP_INLINE __m256i s_run_mask(long run) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(run < 8 ? run : 8)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// y[pixel, :] = Σ_p t[p] · w[p, :] for NB blocks of 8 output channels, then the epilogue:
// + bias (when not NULL), then max(y, 0) (when relu; _mm256_max_ps(y, 0) returns +0 for NaN
// and for −0, as `y > 0 ? y : 0` does).
BP_AVX2 BP_INLINE void s_direct_pixel(const float *t, long k, const float *w, long out_c, float *y, const int nb,
                                      const float *bias, int relu) {
  __m256 acc[8];
  for (int b = 0; b < nb; b++) acc[b] = _mm256_setzero_ps();
  for (long p = 0; p < k; p++) {
    const __m256 v = _mm256_broadcast_ss(t + p);
    const float *wp = w + p * out_c;
    for (int b = 0; b < nb; b++) acc[b] = _mm256_fmadd_ps(v, _mm256_loadu_ps(wp + 8 * b), acc[b]);
  }
  if (bias)
    for (int b = 0; b < nb; b++) acc[b] = _mm256_add_ps(acc[b], _mm256_loadu_ps(bias + 8 * b));
  if (relu)
    for (int b = 0; b < nb; b++) acc[b] = _mm256_max_ps(acc[b], _mm256_setzero_ps());
  for (int b = 0; b < nb; b++) _mm256_storeu_ps(y + 8 * b, acc[b]);
}

BP_AVX2 BP_INLINE void s_direct_forward_nb(const bp_conv_geometry *g, const float *x, const float *w, float *y, long n0, long n1,
                                           const int nb, const float *bias, int relu) {
  const long k = g->kh * g->kw * g->c, hwc = g->h * g->w * g->c;
  const __m256i mask = s_run_mask(g->kw * g->c);
  float t[DIRECT_MAX_K + 8];
  for (long n = n0; n < n1; n++) {
    const float *xn = x + n * hwc;
    float *yn = y + n * g->oh * g->ow * g->out_c;
    for (long oy = 0; oy < g->oh; oy++)
      for (long ox = 0; ox < g->ow; ox++) {
        s_gather_taps(g, xn, oy, ox, t, mask);
        s_direct_pixel(t, k, w, g->out_c, yn + (oy * g->ow + ox) * g->out_c, nb, bias, relu);
      }
  }
}

BP_AVX2 static void s_direct_forward(const bp_conv_geometry *g, const float *x, const float *w, float *y, long n0, long n1,
                                     const float *bias, int relu) {
  switch (g->out_c / 8) {
  case 1: s_direct_forward_nb(g, x, w, y, n0, n1, 1, bias, relu); break;
  case 2: s_direct_forward_nb(g, x, w, y, n0, n1, 2, bias, relu); break;
  case 3: s_direct_forward_nb(g, x, w, y, n0, n1, 3, bias, relu); break;
  case 4: s_direct_forward_nb(g, x, w, y, n0, n1, 4, bias, relu); break;
  case 5: s_direct_forward_nb(g, x, w, y, n0, n1, 5, bias, relu); break;
  case 6: s_direct_forward_nb(g, x, w, y, n0, n1, 6, bias, relu); break;
  case 7: s_direct_forward_nb(g, x, w, y, n0, n1, 7, bias, relu); break;
  default: s_direct_forward_nb(g, x, w, y, n0, n1, 8, bias, relu); break;
  }
}

// dw[p, 8b..8b+7] += Σ over `count` pixels of taps[pixel, p] · dy[pixel, 8b..], for K taps.
BP_AVX2 BP_INLINE void s_direct_filter_block(const float *taps, const float *dy, long count, long out_c, float *dw, long b,
                                             const int k) {
  __m256 acc[DIRECT_MAX_K_GRAD];
  for (int p = 0; p < k; p++) acc[p] = _mm256_loadu_ps(dw + p * out_c + 8 * b);
  for (long i = 0; i < count; i++) {
    const __m256 d = _mm256_loadu_ps(dy + i * out_c + 8 * b);
    const float *t = taps + i * k;
    for (int p = 0; p < k; p++) acc[p] = _mm256_fmadd_ps(_mm256_broadcast_ss(t + p), d, acc[p]);
  }
  for (int p = 0; p < k; p++) _mm256_storeu_ps(dw + p * out_c + 8 * b, acc[p]);
}

BP_AVX2 BP_INLINE void s_direct_filter_block_wide(const float *taps, const float *dy, long count, long out_c, float *dw,
                                                  long b, const int k);

// The filter gradient for K taps: `wide` selects the blocks of 16 output channels (the AVX-512
// path and its twin) over those of 8.
BP_AVX2 BP_INLINE void s_direct_filter_k(const bp_conv_geometry *g, const float *x, const float *dy, float *dw, long n0, long n1,
                                         float *taps, const int k, const int wide) {
  const long hwc = g->h * g->w * g->c, ohw = g->oh * g->ow, out_c = g->out_c;
  const __m256i mask = s_run_mask(g->kw * g->c);
  for (long n = n0; n < n1; n++) {
    const float *xn = x + n * hwc;
    const float *dyn = dy + n * ohw * out_c;
    long oy = 0, ox = 0;
    for (long start = 0; start < ohw; start += DIRECT_CHUNK) {
      const long count = ohw - start < DIRECT_CHUNK ? ohw - start : DIRECT_CHUNK;
      for (long i = 0; i < count; i++) {
        s_gather_taps(g, xn, oy, ox, taps + i * k, mask);
        if (++ox == g->ow) ox = 0, oy++;
      }
      if (wide)
        for (long b = 0; b < out_c / 16; b++) s_direct_filter_block_wide(taps, dyn + start * out_c, count, out_c, dw, b, k);
      else
        for (long b = 0; b < out_c / 8; b++) s_direct_filter_block(taps, dyn + start * out_c, count, out_c, dw, b, k);
    }
  }
}

BP_AVX2 BP_INLINE void s_direct_filter_any(const bp_conv_geometry *g, const float *x, const float *dy, float *dw, long n0,
                                           long n1, float *taps, const int wide) {
  switch (g->kh * g->kw * g->c) {
  case 1: s_direct_filter_k(g, x, dy, dw, n0, n1, taps, 1, wide); break;
  case 2: s_direct_filter_k(g, x, dy, dw, n0, n1, taps, 2, wide); break;
  case 3: s_direct_filter_k(g, x, dy, dw, n0, n1, taps, 3, wide); break;
  case 4: s_direct_filter_k(g, x, dy, dw, n0, n1, taps, 4, wide); break;
  case 5: s_direct_filter_k(g, x, dy, dw, n0, n1, taps, 5, wide); break;
  case 6: s_direct_filter_k(g, x, dy, dw, n0, n1, taps, 6, wide); break;
  case 7: s_direct_filter_k(g, x, dy, dw, n0, n1, taps, 7, wide); break;
  case 8: s_direct_filter_k(g, x, dy, dw, n0, n1, taps, 8, wide); break;
  case 9: s_direct_filter_k(g, x, dy, dw, n0, n1, taps, 9, wide); break;
  case 10: s_direct_filter_k(g, x, dy, dw, n0, n1, taps, 10, wide); break;
  case 11: s_direct_filter_k(g, x, dy, dw, n0, n1, taps, 11, wide); break;
  default: s_direct_filter_k(g, x, dy, dw, n0, n1, taps, 12, wide); break;
  }
}

BP_AVX2 static void s_direct_filter(const bp_conv_geometry *g, const float *x, const float *dy, float *dw, long n0, long n1,
                                    float *taps) {
  s_direct_filter_any(g, x, dy, dw, n0, n1, taps, 0);
}
// The same kernels on blocks of 16 output channels (out_c a multiple of 16), written with
// 512-bit vectors and compiled for AVX-512F and, as its test twin, for AVX2 (see internal.h).
// Each output lane is the same chain of FMAs over the taps (forward) or the pixels (filter
// gradient) as in the 8-channel kernels above, so all give the same bits.
BP_AVX2 BP_INLINE void s_direct_pixel_wide(const float *t, long k, const float *w, long out_c, float *y, const int nb,
                                   const float *bias, int relu) {
  bp_f32x16 acc[4];
  for (int b = 0; b < nb; b++) acc[b] = (bp_f32x16)0;
  for (long p = 0; p < k; p++) {
    const bp_f32x16 v = (bp_f32x16)t[p];
    const float *wp = w + p * out_c;
    for (int b = 0; b < nb; b++) acc[b] = __builtin_elementwise_fma(v, *(const bp_f32x16u *)(wp + 16 * b), acc[b]);
  }
  if (bias)
    for (int b = 0; b < nb; b++) acc[b] = acc[b] + *(const bp_f32x16u *)(bias + 16 * b);
  if (relu)  // max(y, 0) as _mm256_max_ps(y, 0): +0 for NaN and for −0
    for (int b = 0; b < nb; b++) acc[b] = acc[b] > (bp_f32x16)0 ? acc[b] : (bp_f32x16)0;
  for (int b = 0; b < nb; b++) *(bp_f32x16u *)(y + 16 * b) = acc[b];
}

// A pixel whose window lies inside the image, its taps broadcast from the image's rows where they
// are (`src`: the window's first value; kh rows of `run` contiguous values, `stride` apart): the
// same taps in the same order as s_direct_pixel_wide, without gathering them first.
BP_AVX2 BP_INLINE void s_direct_inner_pixel_wide(const float *src, long stride, long kh, long run, const float *w,
                                                 long out_c, float *y, const int nb, const float *bias, int relu) {
  bp_f32x16 acc[4];
  for (int b = 0; b < nb; b++) acc[b] = (bp_f32x16)0;
  for (long i = 0; i < kh; i++)
    for (long q = 0; q < run; q++) {
      const bp_f32x16 v = (bp_f32x16)src[i * stride + q];
      const float *wp = w + (i * run + q) * out_c;
      for (int b = 0; b < nb; b++) acc[b] = __builtin_elementwise_fma(v, *(const bp_f32x16u *)(wp + 16 * b), acc[b]);
    }
  if (bias)
    for (int b = 0; b < nb; b++) acc[b] = acc[b] + *(const bp_f32x16u *)(bias + 16 * b);
  if (relu)
    for (int b = 0; b < nb; b++) acc[b] = acc[b] > (bp_f32x16)0 ? acc[b] : (bp_f32x16)0;
  for (int b = 0; b < nb; b++) *(bp_f32x16u *)(y + 16 * b) = acc[b];
}

BP_AVX2 BP_INLINE void s_direct_forward_wide_nb(const bp_conv_geometry *g, const float *x, const float *w, float *y, long n0,
                                        long n1, const int nb, const float *bias, int relu) {
  const long k = g->kh * g->kw * g->c, hwc = g->h * g->w * g->c, run = g->kw * g->c, stride = g->w * g->c;
  const __m256i mask = s_run_mask(run);
  float t[DIRECT_MAX_K + 8];
  for (long n = n0; n < n1; n++) {
    const float *xn = x + n * hwc;
    float *yn = y + n * g->oh * g->ow * g->out_c;
    for (long oy = 0; oy < g->oh; oy++)
      for (long ox = 0; ox < g->ow; ox++) {
        const long y0 = oy * g->sh - g->pad_top, x0 = ox * g->sw - g->pad_left;
        float *out = yn + (oy * g->ow + ox) * g->out_c;
        if (y0 >= 0 && x0 >= 0 && y0 + g->kh <= g->h && x0 + g->kw <= g->w) {
          s_direct_inner_pixel_wide(xn + (y0 * g->w + x0) * g->c, stride, g->kh, run, w, g->out_c, out, nb, bias, relu);
        } else {
          s_gather_taps(g, xn, oy, ox, t, mask);
          s_direct_pixel_wide(t, k, w, g->out_c, out, nb, bias, relu);
        }
      }
  }
}

BP_AVX2 BP_INLINE void s_direct_forward_wide(const bp_conv_geometry *g, const float *x, const float *w, float *y, long n0,
                                     long n1, const float *bias, int relu) {
  switch (g->out_c / 16) {
  case 1: s_direct_forward_wide_nb(g, x, w, y, n0, n1, 1, bias, relu); break;
  case 2: s_direct_forward_wide_nb(g, x, w, y, n0, n1, 2, bias, relu); break;
  case 3: s_direct_forward_wide_nb(g, x, w, y, n0, n1, 3, bias, relu); break;
  default: s_direct_forward_wide_nb(g, x, w, y, n0, n1, 4, bias, relu); break;
  }
}

BP_AVX2 BP_INLINE void s_direct_filter_block_wide(const float *taps, const float *dy, long count, long out_c, float *dw, long b,
                                          const int k) {
  bp_f32x16 acc[DIRECT_MAX_K_GRAD];
  for (int p = 0; p < k; p++) acc[p] = *(const bp_f32x16u *)(dw + p * out_c + 16 * b);
  for (long i = 0; i < count; i++) {
    const bp_f32x16 d = *(const bp_f32x16u *)(dy + i * out_c + 16 * b);
    const float *t = taps + i * k;
    for (int p = 0; p < k; p++) acc[p] = __builtin_elementwise_fma((bp_f32x16)t[p], d, acc[p]);
  }
  for (int p = 0; p < k; p++) *(bp_f32x16u *)(dw + p * out_c + 16 * b) = acc[p];
}

BP_AVX512 static void s_direct_forward_avx512(const bp_conv_geometry *g, const float *x, const float *w, float *y,
                                              long n0, long n1, const float *bias, int relu) {
  s_direct_forward_wide(g, x, w, y, n0, n1, bias, relu);
}
BP_AVX2 static void s_direct_forward_wide_on_avx2(const bp_conv_geometry *g, const float *x, const float *w, float *y,
                                                  long n0, long n1, const float *bias, int relu) {
  s_direct_forward_wide(g, x, w, y, n0, n1, bias, relu);
}
BP_AVX512 static void s_direct_filter_avx512(const bp_conv_geometry *g, const float *x, const float *dy, float *dw,
                                             long n0, long n1, float *taps) {
  s_direct_filter_any(g, x, dy, dw, n0, n1, taps, 1);
}
BP_AVX2 static void s_direct_filter_wide_on_avx2(const bp_conv_geometry *g, const float *x, const float *dy, float *dw,
                                                 long n0, long n1, float *taps) {
  s_direct_filter_any(g, x, dy, dw, n0, n1, taps, 1);
}
#endif


// Runs the direct kernel for images n0..<n1 of a float convolution (`out` zeroed by the caller
// for the filter gradient) and returns 1, or returns 0 when it does not apply (then nothing is
// done): another shape, a kind other than the forward pass and the filter gradient, or no AVX2.
static int s_direct(const bp_conv_geometry *g, int kind, const float *a, const float *b, float *out, long n0, long n1,
                    const float *bias, int relu, int *failed) {
#if BP_X86
  if ((kind != K_CONV && kind != K_BACK_FILTER) || !direct_conv_applies(g, kind == K_BACK_FILTER) || !bp_use_avx2()) return 0;
  // 16 output channels per vector on the AVX-512 path (and its AVX2 twin), else 8.
  const int isa = bp_kernel_isa(), wide = g->out_c % 16 == 0;
  if (kind == K_CONV) {
    if (wide && isa == BP_ISA_AVX512) s_direct_forward_avx512(g, a, b, out, n0, n1, bias, relu);
    else if (wide && isa == BP_ISA_WIDE_ON_AVX2) s_direct_forward_wide_on_avx2(g, a, b, out, n0, n1, bias, relu);
    else s_direct_forward(g, a, b, out, n0, n1, bias, relu);
  } else {
    float *taps = bp_scratch(2, sizeof(float) * (DIRECT_CHUNK * DIRECT_MAX_K_GRAD + 8));
    if (!taps) {
      *failed = 1;
      return 1;
    }
    if (wide && isa == BP_ISA_AVX512) s_direct_filter_avx512(g, a, b, out, n0, n1, taps);
    else if (wide && isa == BP_ISA_WIDE_ON_AVX2) s_direct_filter_wide_on_avx2(g, a, b, out, n0, n1, taps);
    else s_direct_filter(g, a, b, out, n0, n1, taps);
  }
  return 1;
#else
  (void)g, (void)kind, (void)a, (void)b, (void)out, (void)n0, (void)n1, (void)bias, (void)relu, (void)failed;
  return 0;
#endif
}

// The double instantiation has no direct kernel.
static int d_direct(const bp_conv_geometry *g, int kind, const double *a, const double *b, double *out, long n0, long n1,
                    const double *bias, int relu, int *failed) {
  (void)g, (void)kind, (void)a, (void)b, (void)out, (void)n0, (void)n1, (void)bias, (void)relu, (void)failed;
  return 0;
}

// MARK: 2x2 max pooling with stride 2 (float, AVX2)
//
// The common pooling layer, window 2x2 moved by 2 with every window inside the image: each
// window's four positions are four loads of 8 channels, the maximum and the first position
// attaining it found in registers (the same comparisons, in the same row-major order, as the
// general loops: `best = s > best || s is NaN ? s : best`, then the first `s == best || s is NaN`:
// NaN propagates, and the first NaN takes the gradient), one pass over the
// image. The gradient writes every position of dx once (routed value, or zero where a window
// does not take it or no window covers it) instead of clearing dx and adding.

#if BP_X86
/// `v > best || v is NaN ? v : best`, per lane: the window's maximum so far, NaN propagating.
BP_AVX2 BP_INLINE __m256 s_pool_max(__m256 best, __m256 v) {
  return _mm256_blendv_ps(best, v, _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q)));
}
/// `v == best || v is NaN`, per lane: whether position v attains the window's maximum (a NaN
/// is only in a window whose maximum is NaN).
BP_AVX2 BP_INLINE __m256 s_pool_attains(__m256 v, __m256 best) {
  return _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_EQ_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}

BP_AVX2 BP_INLINE __m256 s_sign_times(__m256 x, __m256 t, int sign_first) {
  const __m256 zero = _mm256_setzero_ps();
  __m256 sg = _mm256_blendv_ps(x, _mm256_set1_ps(-1.0f), _mm256_cmp_ps(x, zero, _CMP_LT_OQ));
  sg = _mm256_blendv_ps(sg, _mm256_set1_ps(1.0f), _mm256_cmp_ps(x, zero, _CMP_GT_OQ));
  return sign_first ? _mm256_mul_ps(sg, t) : _mm256_mul_ps(t, sg);
}

/// dx[i] for the positions `from..<to` of one image row that no window covers: 0, or 0 times
/// sign(x[i]) when the gradient is fused with Sign's (the same product, in the same order, as the
/// unfused graph computes).
BP_AVX2 BP_INLINE void s_zero_uncovered(const float *xr, float *dr, long from, long to, int with_sign, int sign_first) {
  const __m256 zero = _mm256_setzero_ps();
  for (long i = from; i < to; i += 8) {
    const long left = to - i;
    if (left >= 8) {
      _mm256_storeu_ps(dr + i, with_sign ? s_sign_times(_mm256_loadu_ps(xr + i), zero, sign_first) : zero);
    } else {
      for (long q = 0; q < left; q++) {
        const float xv = xr[i + q], sg = xv > 0 ? 1.0f : (xv < 0 ? -1.0f : xv);
        dr[i + q] = with_sign ? (sign_first ? sg * 0.0f : 0.0f * sg) : 0.0f;
      }
    }
  }
}

BP_AVX2 static void s_pool2x2_image(const bp_conv_geometry *g, int kind, const float *x, const float *dy, float *out, long n,
                                    int sign_first) {
  const long h = g->h, w = g->w, c = g->c, oh = g->oh, ow = g->ow;
  const float *xn = x + n * h * w * c;
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
  if (kind == K_MAX_POOL) {
    float *yn = out + n * oh * ow * c;
    for (long oy = 0; oy < oh; oy++)
      for (long ox = 0; ox < ow; ox++) {
        const float *p0 = xn + ((2 * oy) * w + 2 * ox) * c, *p1 = p0 + w * c;
        float *y = yn + (oy * ow + ox) * c;
        for (long q = 0; q < c; q += 8) {
          __m256 best = _mm256_loadu_ps(p0 + q), v;
          v = _mm256_loadu_ps(p0 + c + q), best = s_pool_max(best, v);
          v = _mm256_loadu_ps(p1 + q), best = s_pool_max(best, v);
          v = _mm256_loadu_ps(p1 + c + q), best = s_pool_max(best, v);
          _mm256_storeu_ps(y + q, best);
        }
      }
    return;
  }
  // Gradient (kind K_MAX_POOL_GRAD, or K_MAX_POOL_GRAD_SIGN: then times sign(x)).
  const int with_sign = kind == K_MAX_POOL_GRAD_SIGN;
  float *dn = out + n * h * w * c;
  const float *dyn = dy + n * oh * ow * c;
  for (long iy = 0; iy < h; iy++) {
    const long oy = iy / 2;
    const float *xr = xn + iy * w * c;
    float *dr = dn + iy * w * c;
    long covered = 0;
    if (oy < oh) {
      covered = 2 * ow * c;
      if (iy % 2 == 0) {  // both rows of each window at once
        const float *xr1 = xr + w * c;
        float *dr1 = dr + w * c;
        for (long ox = 0; ox < ow; ox++) {
          const long o = 2 * ox * c;
          const float *d = dyn + (oy * ow + ox) * c;
          for (long q = 0; q < c; q += 8) {
            const __m256 a = _mm256_loadu_ps(xr + o + q), b = _mm256_loadu_ps(xr + o + c + q);
            const __m256 e = _mm256_loadu_ps(xr1 + o + q), f = _mm256_loadu_ps(xr1 + o + c + q);
            __m256 best = a;
            best = s_pool_max(best, b);
            best = s_pool_max(best, e);
            best = s_pool_max(best, f);
            const __m256 ha = s_pool_attains(a, best);
            __m256 taken = ha;
            const __m256 hb = _mm256_andnot_ps(taken, s_pool_attains(b, best));
            taken = _mm256_or_ps(taken, hb);
            const __m256 he = _mm256_andnot_ps(taken, s_pool_attains(e, best));
            taken = _mm256_or_ps(taken, he);
            const __m256 hf = _mm256_andnot_ps(taken, s_pool_attains(f, best));
            const __m256 dv = _mm256_loadu_ps(d + q);
            // 0 + hit·dy with hit = 1 or 0, as the general loop adds it to the cleared dx.
            __m256 ta = _mm256_add_ps(zero, _mm256_mul_ps(_mm256_and_ps(ha, one), dv));
            __m256 tb = _mm256_add_ps(zero, _mm256_mul_ps(_mm256_and_ps(hb, one), dv));
            __m256 te = _mm256_add_ps(zero, _mm256_mul_ps(_mm256_and_ps(he, one), dv));
            __m256 tf = _mm256_add_ps(zero, _mm256_mul_ps(_mm256_and_ps(hf, one), dv));
            if (with_sign) {
              ta = s_sign_times(a, ta, sign_first), tb = s_sign_times(b, tb, sign_first);
              te = s_sign_times(e, te, sign_first), tf = s_sign_times(f, tf, sign_first);
            }
            _mm256_storeu_ps(dr + o + q, ta);
            _mm256_storeu_ps(dr + o + c + q, tb);
            _mm256_storeu_ps(dr1 + o + q, te);
            _mm256_storeu_ps(dr1 + o + c + q, tf);
          }
        }
      } else {
        continue;  // written with the row above
      }
    }
    // Positions no window covers: zero (times sign(x) when fused), in this row and, when the
    // row is the top of a window row, in the row below.
    s_zero_uncovered(xr, dr, covered, w * c, with_sign, sign_first);
    if (oy < oh && 2 * ow < w) s_zero_uncovered(xr + w * c, dr + w * c, covered, w * c, with_sign, sign_first);
  }
}
#endif

// Runs the 2x2 stride-2 kernel for image n and returns 1, or returns 0 when it does not apply.
static int s_pool2x2(const bp_conv_geometry *g, int kind, const float *x, const float *dy, float *out, long n, int sign_first) {
#if BP_X86
  if ((kind != K_MAX_POOL && kind != K_MAX_POOL_GRAD && kind != K_MAX_POOL_GRAD_SIGN) || g->kh != 2 || g->kw != 2 ||
      g->sh != 2 || g->sw != 2 || g->pad_top != 0 || g->pad_left != 0 || 2 * g->oh > g->h || 2 * g->ow > g->w ||
      g->c % 8 != 0 || !bp_use_avx2())
    return 0;
  s_pool2x2_image(g, kind, x, dy, out, n, sign_first);
  return 1;
#else
  (void)g, (void)kind, (void)x, (void)dy, (void)out, (void)n, (void)sign_first;
  return 0;
#endif
}

// The double instantiation has no 2x2 kernel.
static int d_pool2x2(const bp_conv_geometry *g, int kind, const double *x, const double *dy, double *out, long n,
                     int sign_first) {
  (void)g, (void)kind, (void)x, (void)dy, (void)out, (void)n, (void)sign_first;
  return 0;
}

#define T float
#define NAME(x) s_##x
#define GEMM bp_sgemm
#include "conv_template.h"
#undef T
#undef NAME
#undef GEMM

#define T double
#define NAME(x) d_##x
#define GEMM bp_dgemm
#include "conv_template.h"

int bp_s_conv2d(const bp_conv_geometry *g, const float *x, const float *w, float *y) {
  return s_run(g, K_CONV, x, w, y);
}
int bp_d_conv2d(const bp_conv_geometry *g, const double *x, const double *w, double *y) {
  return d_run(g, K_CONV, x, w, y);
}
int bp_s_conv2d_bias_relu(const bp_conv_geometry *g, const float *x, const float *w, const float *bias, int relu, float *y) {
  return s_run_with(g, K_CONV, x, w, y, bias, relu != 0);
}
int bp_d_conv2d_bias_relu(const bp_conv_geometry *g, const double *x, const double *w, const double *bias, int relu,
                          double *y) {
  return d_run_with(g, K_CONV, x, w, y, bias, relu != 0);
}
int bp_s_conv2d_backprop_input(const bp_conv_geometry *g, const float *dy, const float *w, float *dx) {
  return s_run(g, K_BACK_INPUT, dy, w, dx);
}
int bp_d_conv2d_backprop_input(const bp_conv_geometry *g, const double *dy, const double *w, double *dx) {
  return d_run(g, K_BACK_INPUT, dy, w, dx);
}
int bp_s_conv2d_backprop_filter(const bp_conv_geometry *g, const float *x, const float *dy, float *dw) {
  return s_run(g, K_BACK_FILTER, x, dy, dw);
}
int bp_d_conv2d_backprop_filter(const bp_conv_geometry *g, const double *x, const double *dy, double *dw) {
  return d_run(g, K_BACK_FILTER, x, dy, dw);
}
int bp_s_max_pool(const bp_conv_geometry *g, const float *x, float *y) { return s_run(g, K_MAX_POOL, x, NULL, y); }
int bp_d_max_pool(const bp_conv_geometry *g, const double *x, double *y) { return d_run(g, K_MAX_POOL, x, NULL, y); }
int bp_s_max_pool_grad(const bp_conv_geometry *g, const float *x, const float *dy, float *dx) {
  return s_run(g, K_MAX_POOL_GRAD, x, dy, dx);
}
int bp_d_max_pool_grad(const bp_conv_geometry *g, const double *x, const double *dy, double *dx) {
  return d_run(g, K_MAX_POOL_GRAD, x, dy, dx);
}
int bp_s_max_pool_grad_sign(const bp_conv_geometry *g, const float *x, const float *dy, int sign_first, float *dx) {
  return s_run_with(g, K_MAX_POOL_GRAD_SIGN, x, dy, dx, NULL, sign_first != 0);
}
int bp_d_max_pool_grad_sign(const bp_conv_geometry *g, const double *x, const double *dy, int sign_first, double *dx) {
  return d_run_with(g, K_MAX_POOL_GRAD_SIGN, x, dy, dx, NULL, sign_first != 0);
}
int bp_s_max_pool_select(const bp_conv_geometry *g, const float *x, const float *v, float *y) {
  return s_run(g, K_MAX_POOL_SELECT, x, v, y);
}
int bp_d_max_pool_select(const bp_conv_geometry *g, const double *x, const double *v, double *y) {
  return d_run(g, K_MAX_POOL_SELECT, x, v, y);
}
int bp_s_avg_pool(const bp_conv_geometry *g, const float *x, float *y) { return s_run(g, K_AVG_POOL, x, NULL, y); }
int bp_d_avg_pool(const bp_conv_geometry *g, const double *x, double *y) { return d_run(g, K_AVG_POOL, x, NULL, y); }
int bp_s_avg_pool_grad(const bp_conv_geometry *g, const float *dy, float *dx) {
  return s_run(g, K_AVG_POOL_GRAD, dy, NULL, dx);
}
int bp_d_avg_pool_grad(const bp_conv_geometry *g, const double *dy, double *dx) {
  return d_run(g, K_AVG_POOL_GRAD, dy, NULL, dx);
}
