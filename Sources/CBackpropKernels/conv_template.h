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
  const T *wino_u;  // forward and input gradient in the Winograd form: the transformed filter (else NULL)
  int wino_filter;  // filter gradient: 1 in the Winograd form
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

// MARK: Winograd F(2×2, 3×3)
//
// A 3×3 convolution with stride 1 computes each 2×2 block of outputs ("tile") from the 4×4 input
// patch under it as Y = Aᵀ·[(G·g·Gᵀ) ⊙ (Bᵀ·d·B)]·A (Lavin and Gray, "Fast Algorithms for
// Convolutional Neural Networks", CVPR 2016), with
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],
//   Aᵀ = [1 1 1 0; 0 1 −1 −1].
// Summed over the input channels, the 16 positions ξ of the 4×4 transforms are 16 independent
// matrix products, V[ξ] (tiles × c) · U[ξ] (c × k): 16 multiply-adds per tile, channel pair,
// against 36 for the 2×2 outputs directly (2.25x fewer; 1.9x for an 11×11 output, whose 6×6
// tiles cover 12×12). The products run on the packed GEMM, the transforms in plain loops over
// the contiguous channels (additions, and halvings, which are exact; no FMA contraction, so every
// instruction set gives the transforms' bits).
// The gradients are the forward form's adjoints, with Z = A·dY·Aᵀ of each 2×2 tile of dy (zeros
// past its last row or column):
// - input gradient: dV[ξ] = Z[ξ]·U[ξ]ᵀ, and each tile's B·dV·Bᵀ added into dx at its patch
//   (patches overlap by two rows and columns; the tiles are added in order);
// - filter gradient: dU[ξ] = Σ_tiles V[ξ]ᵀ·Z[ξ], then dw = Gᵀ·dU·G.
// The tiles are processed in blocks whose transforms and products fit WINO_BUDGET (half an L2). The
// filter gradient's blocks start at its batch slice (see filter_slices), so its sums are the
// same on any number of threads; the forward pass's tiles do not depend on their block.
// Applies to one group, stride and dilation 1, at least WINO_MIN_CHANNELS channels on both sides
// (the products' depth and width), outputs of at least WINO_MIN_SIDE rows and columns (smaller
// ones waste most of their tiles) and WINO_MIN_TILES tiles in the call (the 16 products' rows);
// errors within rounding of the im2col form (ConvolutionTests). The limits are where it measured
// faster than im2col on the AMD EPYC of BENCHMARKS.md, session 34 (2 threads, float32): 1.2-2.0x
// from 32 channels and about 500 tiles (the CNN's 32 -> 64 layer at batch 128: 1.2-1.6x); about
// 1x at 288 tiles, 0.6-0.9x with 16 channels on a side or one 13x13 image (36 tiles).
#define WINO_MIN_CHANNELS 32
#define WINO_MIN_SIDE 4
#define WINO_MIN_TILES 512
// The most bytes of a transformed filter (16·cin·cout values: the forward pass's and input
// gradient's U, each thread's dU for the filter gradient); larger layers keep im2col, whose
// scratch memory is bounded by COLS_BUDGET and FILTER_PARTS_BUDGET.
#define WINO_FILTER_BYTES (32L << 20)
// Bytes of a block's transforms and products: half an L2 (the rest holds the transformed filter
// and the GEMM's packed panels). A whole L2 (COLS_BUDGET) measured 10-15% slower for the CNN's
// conv2: the output transform then waits on products evicted to L3 (session 34).
#define WINO_BUDGET (COLS_BUDGET / 2)

/// One Winograd convolution's images: the input (rows, columns, channels), the output, and the
/// rows and columns of zeros before the input.
typedef struct {
  long h, w, c, oh, ow, k, pt, pl;
} NAME(wino_dims);

/// Tile t (numbered image by image, row by row): its image and first output row and column, and
/// the offsets, in rows of k values, of its four outputs (-1 past the output's last row or column).
typedef struct {
  long n, oy, ox, at[4];
} NAME(wino_tile);

BP_INLINE NAME(wino_tile) NAME(wino_tile_at)(const NAME(wino_dims) *d, long t) {
  const long tw = (d->ow + 1) / 2, per = (d->oh + 1) / 2 * tw;
  NAME(wino_tile) e = {t / per, 2 * (t % per / tw), 2 * (t % tw), {0, 0, 0, 0}};
  const long row = (e.n * d->oh + e.oy) * d->ow + e.ox;
  const int down = e.oy + 1 < d->oh, right = e.ox + 1 < d->ow;
  e.at[0] = row, e.at[1] = right ? row + 1 : -1, e.at[2] = down ? row + d->ow : -1;
  e.at[3] = down && right ? row + d->ow + 1 : -1;
  return e;
}

static int NAME(wino_applies)(const bp_conv_geometry *g) {
  if (g->kh != 3 || g->kw != 3 || g->sh != 1 || g->sw != 1 || g->dh != 1 || g->dw != 1 || g->groups != 1) return 0;
  if (g->c < WINO_MIN_CHANNELS || g->out_c < WINO_MIN_CHANNELS || g->oh < WINO_MIN_SIDE || g->ow < WINO_MIN_SIDE) return 0;
  if ((double)g->n * (double)((g->oh + 1) / 2) * (double)((g->ow + 1) / 2) < WINO_MIN_TILES) return 0;
  if (16.0 * (double)g->c * (double)g->out_c * (double)sizeof(T) > (double)WINO_FILTER_BYTES) return 0;
  return bp_winograd();
}

// u[ξ][a][b] = (G·f·Gᵀ)[ξ] (ξ = 4i + j) of the 3×3 filter f = w[·][·][a][b] from input channel a
// to output channel b, or, `transposed`, u[ξ][b][a] (the input gradient's products read U[ξ]ᵀ).
static void NAME(wino_filter)(const bp_conv_geometry *g, const T *w, int transposed, T *restrict u) {
  _Pragma("clang fp contract(off)")
  const long ca = g->c, cb = g->out_c, plane = ca * cb;
  const long sa = transposed ? 1 : cb, sb = transposed ? ca : 1;
  for (long a = 0; a < ca; a++)
    for (long b = 0; b < cb; b++) {
      T f[3][3], t[4][3];
      for (int i = 0; i < 3; i++)
        for (int jj = 0; jj < 3; jj++) f[i][jj] = w[(i * 3 + jj) * plane + a * cb + b];
      for (int jj = 0; jj < 3; jj++) {  // G·f
        t[0][jj] = f[0][jj];
        t[1][jj] = (f[0][jj] + f[1][jj] + f[2][jj]) * (T)0.5;
        t[2][jj] = (f[0][jj] - f[1][jj] + f[2][jj]) * (T)0.5;
        t[3][jj] = f[2][jj];
      }
      for (int i = 0; i < 4; i++) {  // (G·f)·Gᵀ
        T *e = u + 4 * i * plane + a * sa + b * sb;
        e[0] = t[i][0];
        e[plane] = (t[i][0] + t[i][1] + t[i][2]) * (T)0.5;
        e[2 * plane] = (t[i][0] - t[i][1] + t[i][2]) * (T)0.5;
        e[3 * plane] = t[i][2];
      }
    }
}

// v[ξ][r][q] = (Bᵀ·d·B)[ξ] for tiles t0 + r (r < nt; numbered image by image, row by row) and
// channel q, d the 4×4 patch at rows 2·ty − pt + i, columns 2·tx − pl + j (`zeros` outside).
BP_INLINE void NAME(wino_input_body)(const NAME(wino_dims) *d, const T *x, long t0, long nt, const T *zeros, T *restrict v) {
  _Pragma("clang fp contract(off)")
  const long c = d->c, stride = nt * c;
  for (long r = 0; r < nt; r++) {
    const NAME(wino_tile) e = NAME(wino_tile_at)(d, t0 + r);
    const T *p[4][4];
    for (int i = 0; i < 4; i++)
      for (int jj = 0; jj < 4; jj++) {
        const long iy = e.oy - d->pt + i, ix = e.ox - d->pl + jj;
        p[i][jj] = iy >= 0 && iy < d->h && ix >= 0 && ix < d->w ? x + ((e.n * d->h + iy) * d->w + ix) * c : zeros;
      }
    T *restrict o = v + r * c;
    for (long q = 0; q < c; q++) {
      T s[4][4];
      for (int i = 0; i < 4; i++) {  // d·B
        const T d0 = p[i][0][q], d1 = p[i][1][q], d2 = p[i][2][q], d3 = p[i][3][q];
        s[i][0] = d0 - d2, s[i][1] = d1 + d2, s[i][2] = d2 - d1, s[i][3] = d1 - d3;
      }
      for (int jj = 0; jj < 4; jj++) {  // Bᵀ·(d·B)
        o[jj * stride + q] = s[0][jj] - s[2][jj];
        o[(4 + jj) * stride + q] = s[1][jj] + s[2][jj];
        o[(8 + jj) * stride + q] = s[2][jj] - s[1][jj];
        o[(12 + jj) * stride + q] = s[1][jj] - s[3][jj];
      }
    }
  }
}

// y for tiles t0..<t0 + nt: Aᵀ·m·A of each channel's products m[ξ][r][q], then the bias and the
// rectifier as the epilogue applies them; the positions past the output's last row or column go
// to `sink` (3·k values, a run for each position of the tile but the first, always inside).
BP_INLINE void NAME(wino_output_body)(const NAME(wino_dims) *d, const T *m, long t0, long nt, const T *bias, int relu, T *sink,
                                      T *y) {
  _Pragma("clang fp contract(off)")
  const long k = d->k, stride = nt * k;
  for (long r = 0; r < nt; r++) {
    const NAME(wino_tile) e = NAME(wino_tile_at)(d, t0 + r);
    T *restrict y00 = y + e.at[0] * k;
    T *restrict y01 = e.at[1] >= 0 ? y + e.at[1] * k : sink;
    T *restrict y10 = e.at[2] >= 0 ? y + e.at[2] * k : sink + k;
    T *restrict y11 = e.at[3] >= 0 ? y + e.at[3] * k : sink + 2 * k;
    const T *restrict mr = m + r * k;
    for (long q = 0; q < k; q++) {
      T s[4][2];
      for (int i = 0; i < 4; i++) {  // m·A
        const T m0 = mr[4 * i * stride + q], m1 = mr[(4 * i + 1) * stride + q];
        const T m2 = mr[(4 * i + 2) * stride + q], m3 = mr[(4 * i + 3) * stride + q];
        s[i][0] = m0 + m1 + m2, s[i][1] = m1 - m2 - m3;
      }
      T v[2][2];
      for (int jj = 0; jj < 2; jj++) {  // Aᵀ·(m·A)
        v[0][jj] = s[0][jj] + s[1][jj] + s[2][jj];
        v[1][jj] = s[1][jj] - s[2][jj] - s[3][jj];
      }
      if (bias)
        for (int i = 0; i < 2; i++) v[i][0] = v[i][0] + bias[q], v[i][1] = v[i][1] + bias[q];
      if (relu)
        for (int i = 0; i < 2; i++) v[i][0] = v[i][0] > 0 ? v[i][0] : (T)0, v[i][1] = v[i][1] > 0 ? v[i][1] : (T)0;
      y00[q] = v[0][0], y01[q] = v[0][1], y10[q] = v[1][0], y11[q] = v[1][1];
    }
  }
}

// z[ξ][r][q] = (A·dY·Aᵀ)[ξ] for the 2×2 tile t0 + r of the output gradient dy, channel q
// (`zeros` past its last row or column).
BP_INLINE void NAME(wino_grad_body)(const NAME(wino_dims) *d, const T *dy, long t0, long nt, const T *zeros, T *restrict z) {
  _Pragma("clang fp contract(off)")
  const long k = d->k, stride = nt * k;
  for (long r = 0; r < nt; r++) {
    const NAME(wino_tile) e = NAME(wino_tile_at)(d, t0 + r);
    const T *p00 = dy + e.at[0] * k, *p01 = e.at[1] >= 0 ? dy + e.at[1] * k : zeros;
    const T *p10 = e.at[2] >= 0 ? dy + e.at[2] * k : zeros, *p11 = e.at[3] >= 0 ? dy + e.at[3] * k : zeros;
    T *restrict o = z + r * k;
    for (long q = 0; q < k; q++) {
      const T a = p00[q], b = p01[q], e = p10[q], f = p11[q];
      const T s[4][2] = {{a, b}, {a + e, b + f}, {a - e, b - f}, {-e, -f}};  // A·dY
      for (int i = 0; i < 4; i++) {  // (A·dY)·Aᵀ
        o[4 * i * stride + q] = s[i][0];
        o[(4 * i + 1) * stride + q] = s[i][0] + s[i][1];
        o[(4 * i + 2) * stride + q] = s[i][0] - s[i][1];
        o[(4 * i + 3) * stride + q] = -s[i][1];
      }
    }
  }
}

// dx += B·dv·Bᵀ of each channel's 4×4 values dv[ξ][r][q] at the patch of tile t0 + r (the
// input transform's adjoint; positions outside the image are dropped), tile after tile. `tmp`
// holds one tile's 16·c values.
BP_INLINE void NAME(wino_add_run)(T *restrict o, const T *restrict a, long c) {
  for (long q = 0; q < c; q++) o[q] = o[q] + a[q];
}
BP_INLINE void NAME(wino_scatter_body)(const NAME(wino_dims) *d, const T *dv, long t0, long nt, T *restrict tmp, T *dx) {
  _Pragma("clang fp contract(off)")
  const long c = d->c, stride = nt * c;
  for (long r = 0; r < nt; r++) {
    const NAME(wino_tile) e = NAME(wino_tile_at)(d, t0 + r);
    const T *restrict vr = dv + r * c;
    for (long q = 0; q < c; q++) {
      T s[4][4];
      for (int jj = 0; jj < 4; jj++) {  // B·dv
        const T v0 = vr[jj * stride + q], v1 = vr[(4 + jj) * stride + q];
        const T v2 = vr[(8 + jj) * stride + q], v3 = vr[(12 + jj) * stride + q];
        s[0][jj] = v0, s[1][jj] = v1 - v2 + v3, s[2][jj] = v1 + v2 - v0, s[3][jj] = -v3;
      }
      for (int i = 0; i < 4; i++) {  // (B·dv)·Bᵀ
        tmp[4 * i * c + q] = s[i][0];
        tmp[(4 * i + 1) * c + q] = s[i][1] - s[i][2] + s[i][3];
        tmp[(4 * i + 2) * c + q] = s[i][1] + s[i][2] - s[i][0];
        tmp[(4 * i + 3) * c + q] = -s[i][3];
      }
    }
    for (int i = 0; i < 4; i++) {
      const long iy = e.oy - d->pt + i;
      if (iy < 0 || iy >= d->h) continue;
      for (int jj = 0; jj < 4; jj++) {
        const long ix = e.ox - d->pl + jj;
        if (ix >= 0 && ix < d->w) NAME(wino_add_run)(dx + ((e.n * d->h + iy) * d->w + ix) * c, tmp + (4 * i + jj) * c, c);
      }
    }
  }
}

// The three transforms for each instruction set (the same bits on each: no contraction).
#if BP_X86
#define WINO_ISA(name, params, args)                                          \
  BP_AVX512 static void NAME(name##_avx512) params { NAME(name##_body) args; } \
  BP_AVX2 static void NAME(name##_avx2) params { NAME(name##_body) args; }     \
  static void NAME(name) params {                                              \
    switch (bp_kernel_isa()) {                                                 \
    case BP_ISA_AVX512: NAME(name##_avx512) args; break;                       \
    case BP_ISA_PORTABLE: NAME(name##_body) args; break;                       \
    default: NAME(name##_avx2) args;                                           \
    }                                                                          \
  }
#else
#define WINO_ISA(name, params, args) \
  static void NAME(name) params { NAME(name##_body) args; }
#endif
WINO_ISA(wino_input, (const NAME(wino_dims) *d, const T *x, long t0, long nt, const T *zeros, T *v), (d, x, t0, nt, zeros, v))
WINO_ISA(wino_output, (const NAME(wino_dims) *d, const T *m, long t0, long nt, const T *bias, int relu, T *sink, T *y),
         (d, m, t0, nt, bias, relu, sink, y))
WINO_ISA(wino_grad, (const NAME(wino_dims) *d, const T *dy, long t0, long nt, const T *zeros, T *z), (d, dy, t0, nt, zeros, z))
WINO_ISA(wino_scatter, (const NAME(wino_dims) *d, const T *dv, long t0, long nt, T *tmp, T *dx), (d, dv, t0, nt, tmp, dx))
#undef WINO_ISA

// part[i][j][a][b] = (Gᵀ·du·G)[i][j] of the sums du[ξ][a][b] (c·k filter pairs; written).
static void NAME(wino_filter_grad)(long c, long k, const T *du, T *restrict part) {
  _Pragma("clang fp contract(off)")
  const long plane = c * k;
  for (long e = 0; e < plane; e++) {
    T u[4][4], t[3][4];
    for (int x = 0; x < 16; x++) u[x / 4][x % 4] = du[x * plane + e];
    for (int jj = 0; jj < 4; jj++) {  // Gᵀ·du
      const T h = (u[1][jj] + u[2][jj]) * (T)0.5;
      t[0][jj] = u[0][jj] + h;
      t[1][jj] = (u[1][jj] - u[2][jj]) * (T)0.5;
      t[2][jj] = h + u[3][jj];
    }
    for (int i = 0; i < 3; i++) {  // (Gᵀ·du)·G
      const T h = (t[i][1] + t[i][2]) * (T)0.5;
      part[3 * i * plane + e] = t[i][0] + h;
      part[(3 * i + 1) * plane + e] = (t[i][1] - t[i][2]) * (T)0.5;
      part[(3 * i + 2) * plane + e] = h + t[i][3];
    }
  }
}

// Images n0..<n1 in the Winograd form, when the job takes it: 1 when done (or failed: no
// scratch memory), 0 when the job does not take it.
static int NAME(wino)(NAME(job) *j, T *part, long n0, long n1) {
  const bp_conv_geometry *g = j->g;
  const int kind = j->kind;
  if (kind == K_BACK_FILTER ? !j->wino_filter : !j->wino_u) return 0;
  const NAME(wino_dims) d = {g->h, g->w, g->c, g->oh, g->ow, g->out_c, g->pad_top, g->pad_left};
  const long per = (d.oh + 1) / 2 * ((d.ow + 1) / 2), c = d.c, k = d.k, last = n1 * per;
  long nb = WINO_BUDGET / ((long)sizeof(T) * 16 * (c + k));
  if (nb < 1) nb = 1;
  if (nb > (n1 - n0) * per) nb = (n1 - n0) * per;
  // v: the input's 16 transforms (or their gradients); m: the products (or dy's transforms);
  // then zeros, the output's sink (3·k) or a tile's 16·c gradient values, and dU's 16·c·k sums.
  const long wide = c > k ? c : k, extra = 17 * wide, du_size = kind == K_BACK_FILTER ? 16 * c * k : 0;
  T *v = bp_scratch(2, sizeof(T) * (size_t)(16 * nb * (c + k) + extra + du_size));
  if (!v) {
    j->failed = 1;
    return 1;
  }
  T *m = v + 16 * nb * c, *zeros = m + 16 * nb * k, *sink = zeros + wide, *du = zeros + extra;
  memset(zeros, 0, sizeof(T) * (size_t)wide);
  if (kind == K_BACK_FILTER) memset(du, 0, sizeof(T) * (size_t)du_size);
  if (kind == K_BACK_INPUT) memset(j->out + n0 * d.h * d.w * c, 0, sizeof(T) * (size_t)((n1 - n0) * d.h * d.w * c));
  for (long t = n0 * per; t < last; t += nb) {
    const long nt = last - t < nb ? last - t : nb;
    switch (kind) {
    case K_CONV:
      NAME(wino_input)(&d, j->a, t, nt, zeros, v);
      for (int x = 0; x < 16; x++) GEMM(0, 0, nt, k, c, v + x * nt * c, c, j->wino_u + x * c * k, k, 0, m + x * nt * k, k);
      NAME(wino_output)(&d, m, t, nt, j->bias, j->relu, sink, j->out);
      break;
    case K_BACK_INPUT:  // a = dy
      NAME(wino_grad)(&d, j->a, t, nt, zeros, m);
      for (int x = 0; x < 16; x++) GEMM(0, 0, nt, c, k, m + x * nt * k, k, j->wino_u + x * c * k, c, 0, v + x * nt * c, c);
      NAME(wino_scatter)(&d, v, t, nt, sink, j->out);
      break;
    default:  // the filter gradient: a = x, b = dy
      NAME(wino_input)(&d, j->a, t, nt, zeros, v);
      NAME(wino_grad)(&d, j->b, t, nt, zeros, m);
      for (int x = 0; x < 16; x++) GEMM(1, 0, c, k, nt, v + x * nt * c, c, m + x * nt * k, k, 1, du + x * c * k, k);
    }
  }
  if (kind == K_BACK_FILTER) NAME(wino_filter_grad)(c, k, du, part);
  return 1;
}

static void NAME(conv_part)(NAME(job) *j, long n0, long n1, int index) {
  const bp_conv_geometry *g = j->g;
  const long cg = g->c / g->groups, cog = g->out_c / g->groups, k = g->kh * g->kw * cg;
  const long hwc = g->h * g->w * g->c, ohw = g->oh * g->ow;
  // The filter gradient of slice `index` sums into its own filter-sized part.
  T *const part = j->kind == K_BACK_FILTER && index > 0 ? j->partials + (long)(index - 1) * j->filter_size : j->out;
  if (j->kind == K_BACK_FILTER) memset(part, 0, sizeof(T) * (size_t)j->filter_size);
  if (n0 >= n1) return;
  if (NAME(wino)(j, part, n0, n1)) return;
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
  NAME(job) j = {g, kind, a, b, out, NULL, 0, 1, 0, bias, relu, NULL, 0};
  if (g->n <= 0) return 0;
  double work;
  if (kind <= K_BACK_FILTER)
    work = (double)g->n * (double)(g->oh * g->ow) * (double)(g->kh * g->kw * (g->c / g->groups)) * (double)g->out_c;
  else
    work = 4.0 * (double)g->n * (double)(g->oh * g->ow) * (double)(g->kh * g->kw) * (double)g->c;
  int threads = conv_threads(g, work);
  if (kind <= K_BACK_FILTER && NAME(wino_applies)(g)) {
    if (kind == K_BACK_FILTER) {
      j.wino_filter = 1;
    } else {  // the transformed filter, once, for every thread's tiles
      T *u = bp_scratch(3, sizeof(T) * (size_t)(16 * g->c * g->out_c));
      if (!u) return -1;
      NAME(wino_filter)(g, b, kind == K_BACK_INPUT, u);
      j.wino_u = u;
    }
  }
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
