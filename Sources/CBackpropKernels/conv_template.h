// Convolution and pooling kernels, instantiated by conv.c for float and double.
// Parameters (macros): T, NAME(x) (prefixes a name), GEMM (bp_sgemm or bp_dgemm).

typedef struct {
  const bp_conv_geometry *g;
  int kind;
  const T *a;     // x (conv, filter gradient, pooling) or dy (input gradient, avg-pool gradient)
  const T *b;     // w (conv, input gradient), dy (filter gradient, max-pool gradient), v (select)
  T *out;
  T *partials;    // filter gradient: the sums of slices 1..<slices (slice 0 sums into `out`)
  long filter_size;
  long slices;    // filter gradient: batch slices, fixed by the geometry (not by the thread count)
  int failed;
  const T *bias;  // forward: added to each output channel after the sum (NULL: none)
  int relu;       // forward: 1 to apply max(y, 0) after the bias; max-pool gradient with sign: sign_first
} NAME(job);

// Images per im2col block so that the block's rows fit COLS_BUDGET.
static long NAME(block_images)(const bp_conv_geometry *g, long k) {
  long rows = COLS_BUDGET / ((long)sizeof(T) * (k > 0 ? k : 1));
  long per = g->oh * g->ow > 0 ? g->oh * g->ow : 1;
  long nb = rows / per;
  return nb < 1 ? 1 : nb;
}

// cols[(n, oy, ox), (i, j, ci)] = x[n0 + n, oy·sh − pt + i·dh, ox·sw − pl + j·dw, gi·cg + ci],
// zero outside the image; nb images.
static void NAME(im2col)(const bp_conv_geometry *g, const T *x, long n0, long nb, long gi, T *restrict cols) {
  const long h = g->h, w = g->w, c = g->c, cg = c / g->groups, kw = g->kw;
  const long k = g->kh * kw * cg;
  const int whole_rows = g->dw == 1 && cg == c;  // a window row is one contiguous run
  T *row = cols;
  for (long n = n0; n < n0 + nb; n++) {
    const T *img = x + n * h * w * c + gi * cg;
    for (long oy = 0; oy < g->oh; oy++) {
      const long y0 = oy * g->sh - g->pad_top;
      for (long ox = 0; ox < g->ow; ox++) {
        const long x0 = ox * g->sw - g->pad_left;
        T *dst = row;
        for (long i = 0; i < g->kh; i++) {
          const long iy = y0 + i * g->dh;
          if (iy < 0 || iy >= h) {
            memset(dst, 0, sizeof(T) * (size_t)(kw * cg));
            dst += kw * cg;
            continue;
          }
          const T *src = img + iy * w * c;
          if (whole_rows && x0 >= 0 && x0 + kw <= w) {
            const long run = kw * c;
            if (run <= 16) {
              for (long q = 0; q < run; q++) dst[q] = src[x0 * c + q];
            } else {
              memcpy(dst, src + x0 * c, sizeof(T) * (size_t)run);
            }
            dst += run;
            continue;
          }
          for (long j = 0; j < kw; j++) {
            const long ix = x0 + j * g->dw;
            if (ix < 0 || ix >= w) {
              for (long q = 0; q < cg; q++) dst[q] = 0;
            } else if (cg == 1) {
              dst[0] = src[ix * c];
            } else {
              memcpy(dst, src + ix * c, sizeof(T) * (size_t)cg);
            }
            dst += cg;
          }
        }
        row += k;
      }
    }
  }
}

// The adjoint of im2col: dx[...] += cols[...] over the same positions.
static void NAME(col2im)(const bp_conv_geometry *g, const T *restrict cols, long n0, long nb, long gi, T *dx) {
  const long h = g->h, w = g->w, c = g->c, cg = c / g->groups, kw = g->kw;
  const long k = g->kh * kw * cg;
  const T *row = cols;
  for (long n = n0; n < n0 + nb; n++) {
    T *img = dx + n * h * w * c + gi * cg;
    for (long oy = 0; oy < g->oh; oy++) {
      const long y0 = oy * g->sh - g->pad_top;
      for (long ox = 0; ox < g->ow; ox++) {
        const long x0 = ox * g->sw - g->pad_left;
        const T *src = row;
        for (long i = 0; i < g->kh; i++) {
          const long iy = y0 + i * g->dh;
          if (iy < 0 || iy >= h) {
            src += kw * cg;
            continue;
          }
          T *dst = img + iy * w * c;
          for (long j = 0; j < kw; j++) {
            const long ix = x0 + j * g->dw;
            if (ix >= 0 && ix < w) {
              T *d = dst + ix * c;
              for (long q = 0; q < cg; q++) d[q] += src[q];
            }
            src += cg;
          }
        }
        row += k;
      }
    }
  }
}

// Direct loops for a short reduction (k = kh·kw·cg small, as for a first layer on one channel),
// where packing for the GEMM costs more than it saves: vectorized over the output channels.
// c[r, :] = Σ_p a[r, p] · b[p, :] (forward), or b[p, :] += Σ_r a[r, p] · c[r, :] (filter gradient).
BP_INLINE void NAME(smallk_body)(int gradient, long m, long k, long n, const T *restrict a, T *restrict b, long ldb,
                                 T *restrict c, long ldc) {
  if (!gradient) {
    for (long r = 0; r < m; r++) {
      T *restrict cr = c + r * ldc;
      const T *restrict ar = a + r * k;
      for (long q = 0; q < n; q++) cr[q] = 0;
      for (long p = 0; p < k; p++) {
        const T v = ar[p];
        const T *restrict bp = b + p * ldb;
        for (long q = 0; q < n; q++) cr[q] += v * bp[q];
      }
    }
  } else {
    for (long r = 0; r < m; r++) {
      const T *restrict cr = c + r * ldc;
      const T *restrict ar = a + r * k;
      for (long p = 0; p < k; p++) {
        const T v = ar[p];
        T *restrict bp = b + p * ldb;
        for (long q = 0; q < n; q++) bp[q] += v * cr[q];
      }
    }
  }
}
#if BP_X86
BP_AVX2 static void NAME(smallk_avx2)(int gradient, long m, long k, long n, const T *a, T *b, long ldb, T *c, long ldc) {
  NAME(smallk_body)(gradient, m, k, n, a, b, ldb, c, ldc);
}
#endif
static void NAME(smallk)(int gradient, long m, long k, long n, const T *a, T *b, long ldb, T *c, long ldc) {
#if BP_X86
  if (bp_use_avx2()) {
    NAME(smallk_avx2)(gradient, m, k, n, a, b, ldb, c, ldc);
    return;
  }
#endif
  NAME(smallk_body)(gradient, m, k, n, a, b, ldb, c, ldc);
}

#define SMALL_K 16

// The forward pass's epilogue on m rows of n output channels (row stride ldy): y + bias, then
// the rectifier, the same IEEE operations as the separate Add and Relu kernels.
BP_INLINE void NAME(epilogue_body)(const T *restrict bias, int relu, long m, long n, T *restrict y, long ldy) {
  for (long r = 0; r < m; r++) {
    T *restrict yr = y + r * ldy;
    if (bias)
      for (long q = 0; q < n; q++) yr[q] = yr[q] + bias[q];
    if (relu)
      for (long q = 0; q < n; q++) yr[q] = yr[q] > 0 ? yr[q] : (T)0;
  }
}
#if BP_X86
BP_AVX2 static void NAME(epilogue_avx2)(const T *bias, int relu, long m, long n, T *y, long ldy) {
  NAME(epilogue_body)(bias, relu, m, n, y, ldy);
}
#endif
static void NAME(epilogue)(const T *bias, int relu, long m, long n, T *y, long ldy) {
  if (!bias && !relu) return;
#if BP_X86
  if (bp_use_avx2()) {
    NAME(epilogue_avx2)(bias, relu, m, n, y, ldy);
    return;
  }
#endif
  NAME(epilogue_body)(bias, relu, m, n, y, ldy);
}

static void NAME(conv_part)(NAME(job) *j, long n0, long n1, int index) {
  const bp_conv_geometry *g = j->g;
  const long cg = g->c / g->groups, cog = g->out_c / g->groups, k = g->kh * g->kw * cg;
  const long hwc = g->h * g->w * g->c, ohw = g->oh * g->ow;
  // The filter gradient of slice `index` sums into its own filter-sized part.
  T *const part = j->kind == K_BACK_FILTER && index > 0 ? j->partials + (long)(index - 1) * j->filter_size : j->out;
  if (j->kind == K_BACK_FILTER) memset(part, 0, sizeof(T) * (size_t)j->filter_size);
  if (n0 >= n1) return;
  if (j->kind == K_BACK_INPUT) memset(j->out + n0 * hwc, 0, sizeof(T) * (size_t)((n1 - n0) * hwc));
  if (NAME(direct)(g, j->kind, j->a, j->b, part, n0, n1, j->bias, j->relu, &j->failed)) return;
  if (is_pointwise(g)) {
    const long m = (n1 - n0) * ohw;
    for (long gi = 0; gi < g->groups; gi++) {
      const long xo = n0 * hwc + gi * cg, yo = n0 * ohw * g->out_c + gi * cog;
      switch (j->kind) {
      case K_CONV:
        GEMM(0, 0, m, cog, cg, j->a + xo, g->c, j->b + gi * cog, g->out_c, 0, j->out + yo, g->out_c);
        NAME(epilogue)(j->bias ? j->bias + gi * cog : NULL, j->relu, m, cog, j->out + yo, g->out_c);
        break;
      case K_BACK_INPUT: GEMM(0, 1, m, cg, cog, j->a + yo, g->out_c, j->b + gi * cog, g->out_c, 0, j->out + xo, g->c); break;
      default: GEMM(1, 0, cg, cog, m, j->a + xo, g->c, j->b + yo, g->out_c, 1, part + gi * cog, g->out_c);
      }
    }
    return;
  }
  const long nb = NAME(block_images)(g, k);
  const long block = n1 - n0 < nb ? n1 - n0 : nb;
  T *cols = bp_scratch(2, sizeof(T) * (size_t)(block * ohw * k));
  if (!cols) {
    j->failed = 1;
    return;
  }
  for (long n = n0; n < n1; n += nb) {
    const long b = n1 - n < nb ? n1 - n : nb;
    const long m = b * ohw;
    for (long gi = 0; gi < g->groups; gi++) {
      const long yo = n * ohw * g->out_c + gi * cog;
      switch (j->kind) {
      case K_CONV:
        NAME(im2col)(g, j->a, n, b, gi, cols);
        if (k <= SMALL_K)
          NAME(smallk)(0, m, k, cog, cols, (T *)(j->b + gi * cog), g->out_c, j->out + yo, g->out_c);
        else
          GEMM(0, 0, m, cog, k, cols, k, j->b + gi * cog, g->out_c, 0, j->out + yo, g->out_c);
        NAME(epilogue)(j->bias ? j->bias + gi * cog : NULL, j->relu, m, cog, j->out + yo, g->out_c);
        break;
      case K_BACK_INPUT:
        GEMM(0, 1, m, k, cog, j->a + yo, g->out_c, j->b + gi * cog, g->out_c, 0, cols, k);
        NAME(col2im)(g, cols, n, b, gi, j->out);
        break;
      default: {
        NAME(im2col)(g, j->a, n, b, gi, cols);
        if (k <= SMALL_K)
          NAME(smallk)(1, m, k, cog, cols, part + gi * cog, g->out_c, (T *)(j->b + yo), g->out_c);
        else
          GEMM(1, 0, k, cog, m, cols, k, j->b + yo, g->out_c, 1, part + gi * cog, g->out_c);
      }
      }
    }
  }
}

// MARK: Pooling (loops over the contiguous channels)

BP_INLINE void NAME(pool_image)(NAME(job) *j, long n) {
  const bp_conv_geometry *g = j->g;
  const long h = g->h, w = g->w, c = g->c;
  const T *x = j->a + n * h * w * c;
  T *best = NULL, *taken = NULL;
  const int grad = j->kind == K_MAX_POOL_GRAD || j->kind == K_MAX_POOL_GRAD_SIGN;
  if (grad || j->kind == K_MAX_POOL_SELECT) {
    best = bp_scratch(2, 2 * sizeof(T) * (size_t)c + 64);
    if (!best) {
      j->failed = 1;
      return;
    }
    taken = best + c + (8 - c % 8);
  }
  if (grad || j->kind == K_AVG_POOL_GRAD) memset(j->out + n * h * w * c, 0, sizeof(T) * (size_t)(h * w * c));
  for (long oy = 0; oy < g->oh; oy++) {
    const long y0 = oy * g->sh - g->pad_top;
    const long i0 = y0 < 0 ? -y0 : 0, i1 = y0 + g->kh > h ? h - y0 : g->kh;
    for (long ox = 0; ox < g->ow; ox++) {
      const long x0 = ox * g->sw - g->pad_left;
      const long j0 = x0 < 0 ? -x0 : 0, j1 = x0 + g->kw > w ? w - x0 : g->kw;
      const long o = ((n * g->oh + oy) * g->ow + ox) * c;
      switch (j->kind) {
      case K_MAX_POOL: {
        T *restrict y = j->out + o;
        int first = 1;
        for (long i = i0; i < i1; i++)
          for (long q = j0; q < j1; q++) {
            const T *restrict s = x + ((y0 + i) * w + x0 + q) * c;
            if (first) {
              for (long cc = 0; cc < c; cc++) y[cc] = s[cc];
              first = 0;
            } else {
              for (long cc = 0; cc < c; cc++) y[cc] = s[cc] > y[cc] || s[cc] != s[cc] ? s[cc] : y[cc];  // NaN propagates
            }
          }
        break;
      }
      case K_MAX_POOL_GRAD:
      case K_MAX_POOL_GRAD_SIGN:
      case K_MAX_POOL_SELECT: {
        // Pass 1: the maximum per channel (NaN propagating); pass 2: the first position that
        // attains it takes the gradient (`taken` marks the channels already served), vectorized
        // over channels. A NaN is only ever in a window whose maximum is NaN, so the first NaN
        // attains it (NaN equals nothing, so `==` alone would route the gradient nowhere).
        if (i0 >= i1 || j0 >= j1) break;
        for (long cc = 0; cc < c; cc++) {
          best[cc] = x[((y0 + i0) * w + x0 + j0) * c + cc];
          taken[cc] = 0;
        }
        for (long i = i0; i < i1; i++)
          for (long q = j0; q < j1; q++) {
            const T *restrict s = x + ((y0 + i) * w + x0 + q) * c;
            for (long cc = 0; cc < c; cc++) best[cc] = s[cc] > best[cc] || s[cc] != s[cc] ? s[cc] : best[cc];
          }
        if (grad) {
          const T *restrict dy = j->b + o;
          for (long i = i0; i < i1; i++)
            for (long q = j0; q < j1; q++) {
              const long p = ((y0 + i) * w + x0 + q) * c;
              const T *restrict s = x + p;
              T *restrict d = j->out + n * h * w * c + p;
              for (long cc = 0; cc < c; cc++) {  // branch-free: hit is 0 or 1
                const T hit = (T)(s[cc] == best[cc] || s[cc] != s[cc]) * ((T)1 - taken[cc]);
                d[cc] += hit * dy[cc];
                taken[cc] += hit;
              }
            }
        } else {
          T *restrict y = j->out + o;
          for (long cc = 0; cc < c; cc++) y[cc] = 0;
          for (long i = i0; i < i1; i++)
            for (long q = j0; q < j1; q++) {
              const long p = ((y0 + i) * w + x0 + q) * c;
              const T *restrict s = x + p;
              const T *restrict v = j->b + n * h * w * c + p;
              for (long cc = 0; cc < c; cc++) {
                const T hit = (T)(s[cc] == best[cc] || s[cc] != s[cc]) * ((T)1 - taken[cc]);
                y[cc] += hit * v[cc];
                taken[cc] += hit;
              }
            }
        }
        break;
      }
      case K_AVG_POOL: {
        T *restrict y = j->out + o;
        for (long cc = 0; cc < c; cc++) y[cc] = 0;
        for (long i = i0; i < i1; i++)
          for (long q = j0; q < j1; q++) {
            const T *restrict s = x + ((y0 + i) * w + x0 + q) * c;
            for (long cc = 0; cc < c; cc++) y[cc] += s[cc];
          }
        const T count = (T)((i1 - i0) * (j1 - j0));
        if (count > 0)
          for (long cc = 0; cc < c; cc++) y[cc] /= count;
        break;
      }
      default: {  // K_AVG_POOL_GRAD: a = dy
        const T count = (T)((i1 - i0) * (j1 - j0));
        if (count <= 0) break;
        const T *restrict dy = j->a + o;
        T *dx = j->out + n * h * w * c;
        for (long i = i0; i < i1; i++)
          for (long q = j0; q < j1; q++) {
            T *restrict d = dx + ((y0 + i) * w + x0 + q) * c;
            for (long cc = 0; cc < c; cc++) d[cc] += dy[cc] / count;
          }
      }
      }
    }
  }
  if (j->kind == K_MAX_POOL_GRAD_SIGN) {  // then ReLU's gradient: t·sign(x) or sign(x)·t
    T *restrict d = j->out + n * h * w * c;
    const long count = h * w * c;
    for (long i = 0; i < count; i++) {
      const T sg = x[i] > 0 ? (T)1 : (x[i] < 0 ? (T)-1 : x[i]);
      d[i] = j->relu ? sg * d[i] : d[i] * sg;
    }
  }
}

BP_INLINE void NAME(pool_images)(NAME(job) *j, long n0, long n1) {
  for (long n = n0; n < n1; n++)
    if (!NAME(pool2x2)(j->g, j->kind, j->a, j->b, j->out, n, j->relu)) NAME(pool_image)(j, n);
}

#if BP_X86
BP_AVX2 static void NAME(pool_images_avx2)(NAME(job) *j, long n0, long n1) { NAME(pool_images)(j, n0, n1); }
#endif
static void NAME(pool_images_portable)(NAME(job) *j, long n0, long n1) { NAME(pool_images)(j, n0, n1); }

static void NAME(run_part)(void *context, int index, int count) {
  NAME(job) *j = context;
  if (j->kind == K_BACK_FILTER) {  // thread `index` of `count` takes slices index, index + count, ...
    for (long s = index; s < j->slices; s += count)
      NAME(conv_part)(j, j->g->n * s / j->slices, j->g->n * (s + 1) / j->slices, (int)s);
    return;
  }
  const long n0 = j->g->n * index / count, n1 = j->g->n * (index + 1) / count;
  if (j->kind < K_BACK_FILTER) {
    NAME(conv_part)(j, n0, n1, index);
    return;
  }
  // The pooling kernels read x through `a` except the average-pool gradient, whose `a` is dy
  // (of the output's shape): its per-image offsets are computed from the geometry alike.
#if BP_X86
  if (bp_use_avx2()) {
    NAME(pool_images_avx2)(j, n0, n1);
    return;
  }
#endif
  NAME(pool_images_portable)(j, n0, n1);
}

static int NAME(run_with)(const bp_conv_geometry *g, int kind, const T *a, const T *b, T *out, const T *bias, int relu) {
  NAME(job) j = {g, kind, a, b, out, NULL, 0, 1, 0, bias, relu};
  if (g->n <= 0) return 0;
  double work;
  if (kind <= K_BACK_FILTER)
    work = (double)g->n * (double)(g->oh * g->ow) * (double)(g->kh * g->kw * (g->c / g->groups)) * (double)g->out_c;
  else
    work = 4.0 * (double)g->n * (double)(g->oh * g->ow) * (double)(g->kh * g->kw) * (double)g->c;
  int threads = conv_threads(g, work);
  if (kind == K_BACK_FILTER) {
    j.filter_size = g->kh * g->kw * (g->c / g->groups) * g->out_c;
    j.slices = filter_slices(g, work, (long)sizeof(T) * j.filter_size);
    if (j.slices > 1) {
      j.partials = bp_scratch(3, sizeof(T) * (size_t)((j.slices - 1) * j.filter_size));
      if (!j.partials) return -1;
    }
    if (threads > j.slices) threads = (int)j.slices;
  }
  if (threads <= 1) {
    NAME(run_part)(&j, 0, 1);
  } else {
    bp_parallel_for(threads, NAME(run_part), &j);
  }
  // The slices' sums, added in slice order: the same additions on any number of threads.
  for (long s = 1; s < j.slices; s++) {
    const T *p = j.partials + (s - 1) * j.filter_size;
    for (long i = 0; i < j.filter_size; i++) out[i] += p[i];
  }
  return j.failed ? -1 : 0;
}


static int NAME(run)(const bp_conv_geometry *g, int kind, const T *a, const T *b, T *out) {
  return NAME(run_with)(g, kind, a, b, out, NULL, 0);
}
