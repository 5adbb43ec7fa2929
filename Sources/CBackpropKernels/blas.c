// The optional system BLAS: a CBLAS library loaded at run time with dlopen, used for large
// matrix products only when the environment variable BACKPROP_BLAS asks for it (a path, or
// "auto" to try common library names). Without the variable nothing is loaded, and products
// stay bit-for-bit those of the package's own kernels.
#include "CBackpropKernels.h"
#include "internal.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The CBLAS constants (the values every CBLAS uses: OpenBLAS, BLIS, MKL, Accelerate, netlib).
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };

typedef void (*cblas_sgemm_fn)(int order, int trans_a, int trans_b, int m, int n, int k,
                               float alpha, const float *a, int lda, const float *b, int ldb,
                               float beta, float *c, int ldc);
typedef void (*cblas_dgemm_fn)(int order, int trans_a, int trans_b, int m, int n, int k,
                               double alpha, const double *a, int lda, const double *b, int ldb,
                               double beta, double *c, int ldc);

// One selection, immutable once published (never freed, so pointers handed out stay valid).
typedef struct {
  cblas_sgemm_fn sgemm;  // NULL: no BLAS, use the own kernels
  cblas_dgemm_fn dgemm;
  char *library;         // the path or name that was loaded, or NULL
  char *error;           // why nothing was loaded when something was asked for, or NULL
} blas_state;

static _Atomic(blas_state *) current = NULL;  // NULL: the environment was not read yet
static pthread_mutex_t select_lock = PTHREAD_MUTEX_INITIALIZER;

static char *copy_string(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

// Tries one library; on success fills `state` and returns 1, otherwise appends the reason.
static int try_library(const char *name, blas_state *state, char *reasons, size_t capacity) {
  char reason[512];
  void *handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *e = dlerror();
    snprintf(reason, sizeof reason, "dlopen(%s) failed: %s", name, e ? e : "unknown error");
  } else {
    cblas_sgemm_fn s = (cblas_sgemm_fn)dlsym(handle, "cblas_sgemm");
    cblas_dgemm_fn d = (cblas_dgemm_fn)dlsym(handle, "cblas_dgemm");
    if (s && d) {
      state->sgemm = s;
      state->dgemm = d;
      state->library = copy_string(name);
      return 1;  // the handle stays open for the life of the process
    }
    snprintf(reason, sizeof reason, "%s has no %s", name, s ? "cblas_dgemm" : "cblas_sgemm");
    dlclose(handle);
  }
  size_t used = strlen(reasons);
  if (used > 0 && used + 2 < capacity) {
    strcat(reasons, "; ");
    used += 2;
  }
  if (used < capacity) snprintf(reasons + used, capacity - used, "%s", reason);
  return 0;
}

static blas_state *make_state(const char *spec) {
  blas_state *state = calloc(1, sizeof *state);
  if (!state) return NULL;
  if (!spec || !*spec) return state;  // nothing asked for: the own kernels, no error
  char reasons[2048] = "";
  if (strcmp(spec, "auto") == 0) {
    static const char *const names[] = {
#if defined(__APPLE__)
      "/System/Library/Frameworks/Accelerate.framework/Accelerate",
#endif
      "libopenblas.so.0", "libblis.so.4", "libmkl_rt.so", "libblas.so.3",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
      if (try_library(names[i], state, reasons, sizeof reasons)) return state;
    char *e = malloc(strlen(reasons) + 64);
    if (e) sprintf(e, "BACKPROP_BLAS=auto found no CBLAS library (%s)", reasons);
    state->error = e;
    return state;
  }
  if (!try_library(spec, state, reasons, sizeof reasons)) state->error = copy_string(reasons);
  return state;
}

static blas_state *state_now(void) {
  blas_state *s = atomic_load_explicit(&current, memory_order_acquire);
  if (s) return s;
  pthread_mutex_lock(&select_lock);
  s = atomic_load_explicit(&current, memory_order_acquire);
  if (!s) {
    s = make_state(getenv("BACKPROP_BLAS"));
    if (s) atomic_store_explicit(&current, s, memory_order_release);
  }
  pthread_mutex_unlock(&select_lock);
  return s;
}

int bp_blas_select(const char *spec) {
  pthread_mutex_lock(&select_lock);
  blas_state *s = make_state(spec);
  if (s) atomic_store_explicit(&current, s, memory_order_release);  // the old one leaks (tiny)
  pthread_mutex_unlock(&select_lock);
  return s && s->sgemm ? 1 : 0;
}

int bp_blas_active(void) {
  blas_state *s = state_now();
  return s && s->sgemm ? 1 : 0;
}

const char *bp_blas_library(void) {
  blas_state *s = state_now();
  return s ? s->library : NULL;
}

const char *bp_blas_error(void) {
  blas_state *s = state_now();
  return s ? s->error : "out of memory while selecting the BLAS";
}

// CBLAS takes 32-bit sizes and checks that each leading dimension covers its row; products it
// would reject go to the own kernels instead.
static int fits(int trans_a, int trans_b, long m, long n, long k, long lda, long ldb, long ldc) {
  if (m <= 0 || n <= 0 || k <= 0) return 0;
  if (m > INT_MAX || n > INT_MAX || k > INT_MAX) return 0;
  if (lda > INT_MAX || ldb > INT_MAX || ldc > INT_MAX) return 0;
  if (lda < (trans_a ? m : k) || ldb < (trans_b ? k : n) || ldc < n) return 0;
  return 1;
}

int bp_blas_sgemm(int trans_a, int trans_b, long m, long n, long k, const float *a, long lda,
                  const float *b, long ldb, float beta, float *c, long ldc) {
  if (bp_portable_forced() || !fits(trans_a, trans_b, m, n, k, lda, ldb, ldc)) return 0;
  blas_state *s = state_now();
  if (!s || !s->sgemm) return 0;
  s->sgemm(CBLAS_ROW_MAJOR, trans_a ? CBLAS_TRANS : CBLAS_NO_TRANS,
           trans_b ? CBLAS_TRANS : CBLAS_NO_TRANS, (int)m, (int)n, (int)k, 1.0f, a, (int)lda, b,
           (int)ldb, beta, c, (int)ldc);
  return 1;
}

int bp_blas_dgemm(int trans_a, int trans_b, long m, long n, long k, const double *a, long lda,
                  const double *b, long ldb, double beta, double *c, long ldc) {
  if (bp_portable_forced() || !fits(trans_a, trans_b, m, n, k, lda, ldb, ldc)) return 0;
  blas_state *s = state_now();
  if (!s || !s->dgemm) return 0;
  s->dgemm(CBLAS_ROW_MAJOR, trans_a ? CBLAS_TRANS : CBLAS_NO_TRANS,
           trans_b ? CBLAS_TRANS : CBLAS_NO_TRANS, (int)m, (int)n, (int)k, 1.0, a, (int)lda, b,
           (int)ldb, beta, c, (int)ldc);
  return 1;
}
