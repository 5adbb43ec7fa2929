// Shared by the kernel files; not part of the public header.
#ifndef BACKPROP_KERNELS_INTERNAL_H
#define BACKPROP_KERNELS_INTERNAL_H

#include <stddef.h>

// BP_NO_X86 compiles the kernels as for a CPU without x86 (Scripts/check_avx512_codegen.sh).
#if (defined(__x86_64__) || defined(__i386__)) && !defined(BP_NO_X86)
#define BP_X86 1
#define BP_AVX2 __attribute__((target("avx2,fma")))
// min_vector_width: the vectorizer may use 512-bit registers whatever the tuning prefers.
#define BP_AVX512 __attribute__((target("avx512f,avx2,fma"), min_vector_width(512)))
#else
#define BP_X86 0
#endif

#define BP_INLINE static inline __attribute__((always_inline))

// Defines `name` dispatching to `name_avx512` / `name_avx2` / `name_portable`, all instantiated
// from `name_body` (an always-inline function taking `params`). The bodies fix every
// floating-point operation's order (sums in LANES fixed partial sums) and contract nothing into
// an FMA, so all three versions give the same bits.
#if BP_X86
#define BP_DISPATCH(ret, name, params, args)                            \
  BP_AVX512 static ret name##_avx512 params { return name##_body args; } \
  BP_AVX2 static ret name##_avx2 params { return name##_body args; }     \
  static ret name##_portable params { return name##_body args; }         \
  ret name params {                                                      \
    switch (bp_kernel_isa()) {                                                  \
    case BP_ISA_AVX512: return name##_avx512 args;                       \
    case BP_ISA_PORTABLE: return name##_portable args;                   \
    default: return name##_avx2 args;                                    \
    }                                                                    \
  }
#define BP_DISPATCH_VOID(name, params, args)                      \
  BP_AVX512 static void name##_avx512 params { name##_body args; } \
  BP_AVX2 static void name##_avx2 params { name##_body args; }     \
  static void name##_portable params { name##_body args; }         \
  void name params {                                               \
    switch (bp_kernel_isa()) {                                            \
    case BP_ISA_AVX512: name##_avx512 args; break;                 \
    case BP_ISA_PORTABLE: name##_portable args; break;             \
    default: name##_avx2 args;                                     \
    }                                                              \
  }
#else
#define BP_DISPATCH(ret, name, params, args) \
  ret name params { return name##_body args; }
#define BP_DISPATCH_VOID(name, params, args) \
  void name params { name##_body args; }
#endif

// Clang's extended vectors of 512 bits (a cast from a scalar splats it; the `u` types are
// unaligned rows): the AVX-512 kernels are written once with them and compiled twice, for
// AVX-512F and for AVX2+FMA (each vector two YMM registers: BP_ISA_WIDE_ON_AVX2, for tests).
typedef float bp_f32x16 __attribute__((ext_vector_type(16)));
typedef float bp_f32x16u __attribute__((ext_vector_type(16), aligned(4)));
typedef double bp_f64x8 __attribute__((ext_vector_type(8)));
typedef double bp_f64x8u __attribute__((ext_vector_type(8), aligned(8)));
// And of 256 bits, for the AVX2 path's tiles written the same way.
typedef float bp_f32x8 __attribute__((ext_vector_type(8)));
typedef float bp_f32x8u __attribute__((ext_vector_type(8), aligned(4)));
typedef double bp_f64x4 __attribute__((ext_vector_type(4)));
typedef double bp_f64x4u __attribute__((ext_vector_type(4), aligned(8)));

/// 1 when the AVX2+FMA kernels (or wider) are to be used (CPU support, not forced off).
int bp_use_avx2(void);

/// A job split into pieces: `run(context, index, count)` is called once for every index in
/// [0, count), on the calling thread or one of the pool's threads, in no fixed order; a piece's
/// result must not depend on which thread runs it (each thread has its own `bp_scratch`).
typedef void (*bp_parallel_fn)(void *context, int index, int count);

/// Runs `fn` for indices 0..<count on up to bp_max_threads() threads, the caller included: each
/// thread claims the next unclaimed index until none is left, so the caller takes the pieces of
/// a worker that is slow to start. Returns when every piece is done. Runs the indices one after
/// another on the calling thread when the pool is busy (a job from another thread).
void bp_parallel_for(int count, bp_parallel_fn fn, void *context);

/// How many times a caller of `bp_parallel_for` moved a pool thread off its own CPU (Linux: a
/// worker that woke on the caller's CPU; see runtime.c, "Keeping the threads apart"). For tests.
long bp_pool_worker_moves(void);

/// One piece of a kernel over an array viewed as `[outer, n, inner]`: the lanes `l0 ..<
/// l0 + lanes` (along `inner`) of outer index `o`, computed whole by one call.
typedef void (*bp_piece_fn)(void *context, long o, long l0, long lanes);

/// Runs `fn` on every piece of an `[outer, n, inner]` array, pieces of up to `width` lanes (a
/// whole row when `inner` is 1), in at most 64 parts of consecutive pieces, over the pool's
/// threads when `elements` reaches `threshold`. A piece is one call whatever the split, so the
/// thread count changes no bit (normalization, extremes, softmax).
void bp_for_pieces(long outer, long inner, long width, double elements, double threshold, bp_piece_fn fn, void *context);

/// The optional splits (medium products), by kind: `bp_split_begin` returns 1 to split the call
/// over the threads, 0 to run it on the calling thread (the way that measured faster lately for
/// this kind, the other one in occasional bursts: runtime.c), and its start time (0: a call not to
/// measure); `bp_split_end` records the call's speed (`work`: multiply-adds).
enum { BP_SPLIT_SGEMM, BP_SPLIT_DGEMM, BP_SPLIT_DOT_ROWS, BP_SPLIT_DOT_COLUMNS, BP_SPLIT_SWEEP, BP_SPLIT_DOT_PRODUCTS,
       BP_SPLIT_OUTER_PRODUCTS };
int bp_split_begin(int kind, double *start);
void bp_split_end(int kind, int split, double work, double start);

/// A per-thread scratch buffer of at least `bytes` bytes, 64-byte aligned (slots 0 and 1: the
/// matrix products' packing buffers; 2 and 3: the convolution and pooling kernels; 4: the
/// column sums' partial sums),
/// kept for the thread's lifetime and grown as needed. NULL when memory is exhausted.
void *bp_scratch(int slot, size_t bytes);
/// The number of scratch slots.
#define BP_SCRATCH_SLOTS 5

/// A process-wide on/off switch read from the environment variable `name` on first use (on
/// unless its value starts with '0') and cached in `*cache` (-1: not read yet; `bp_set_*` stores
/// 0 or 1 there): the value of `*cache` once read. The direct small products, the Winograd
/// convolutions and the huge pages of large arrays use it.
int bp_switch_from_env(_Atomic int *cache, const char *name);

/// 1 when `bp_force_portable_kernels` is on (then no system BLAS is used either).
int bp_portable_forced(void);

/// Runs the product on the loaded system BLAS and returns 1, or returns 0 (nothing done) when
/// no BLAS is loaded, the portable kernels are forced, or the sizes do not fit CBLAS's `int`.
int bp_blas_sgemm(int trans_a, int trans_b, long m, long n, long k, const float *a, long lda,
                  const float *b, long ldb, float beta, float *c, long ldc);
int bp_blas_dgemm(int trans_a, int trans_b, long m, long n, long k, const double *a, long lda,
                  const double *b, long ldb, double beta, double *c, long ldc);

/// 1 when a system BLAS is loaded (reads BACKPROP_BLAS on first use).
int bp_blas_active(void);

#endif
