// Counts heap allocations for `backprop bench` by interposing the C allocator's entry points
// in the executable and forwarding to glibc's own implementations. Linux/glibc only; elsewhere
// the count is reported as unavailable. Only the `backprop` executable links this target; its
// `backprop_allocation_count` replaces CAllocCounter's weak one (which answers -1).
#include <stddef.h>
#include <errno.h>
#include <stdlib.h>

// Under a sanitizer (`swift build --sanitize=address|thread`, the Fuzz package) the sanitizer's
// runtime owns malloc: interposing it there would bypass the sanitizer, and calls made before
// its runtime is initialized abort the process ("CHECK failed: asan_posix.cpp ... tsd_key_inited").
// Nothing is interposed then and `backprop bench` reports allocations as n/a.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define BACKPROP_SANITIZED 1
#endif
#endif

#if defined(__linux__) && defined(__GLIBC__) && !defined(BACKPROP_SANITIZED)

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static long long allocations = 0;

static inline void count(void) { __atomic_fetch_add(&allocations, 1, __ATOMIC_RELAXED); }

void *malloc(size_t n) { count(); return __libc_malloc(n); }
void *calloc(size_t n, size_t s) { count(); return __libc_calloc(n, s); }
void *realloc(void *p, size_t n) { count(); return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { count(); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { count(); return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
  count();
  void *p = __libc_memalign(a, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

long long backprop_allocation_count(void) { return __atomic_load_n(&allocations, __ATOMIC_RELAXED); }
#endif
