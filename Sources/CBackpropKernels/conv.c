// Convolution and pooling over NHWC images: im2col (or, for 1×1 stride-1 filters, the images
// themselves) multiplied by the filter with the packed GEMM of gemm.c; pooling loops run over
// the channels, which are contiguous. Work is split over the batch.
#include "CBackpropKernels.h"
#include "internal.h"

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
  K_AVG_POOL_GRAD = 7
};

static int conv_threads(const bp_conv_geometry *g, double work) {
  int t = bp_max_threads();
  if (work < (double)CONV_THREAD_WORK) t = 1;
  if (t > g->n) t = (int)g->n;
  return t < 1 ? 1 : t;
}

static int is_pointwise(const bp_conv_geometry *g) {
  return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->pad_top == 0 && g->pad_left == 0 &&
         g->oh == g->h && g->ow == g->w;
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
