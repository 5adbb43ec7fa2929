#ifndef BACKPROP_LOCK_H
#define BACKPROP_LOCK_H

/// A mutual-exclusion lock whose uncontended lock and unlock are one atomic instruction each,
/// inlined into the caller (a session takes its lock for every run, and a prepared step of the
/// notebook's recipes costs a few dozen nanoseconds, so `pthread_mutex_lock` and
/// `pthread_mutex_unlock`, about 55 instructions through the PLT, were a tenth of it).
///
/// On Linux it is the three-state futex mutex of Ulrich Drepper, "Futexes Are Tricky" (2011),
/// section 6 ("mutex2"): 0 free, 1 locked, 2 locked with possible waiters; a waiter sleeps in
/// `FUTEX_WAIT` and the unlocker of a state-2 lock wakes one. Elsewhere (macOS) it is
/// `os_unfair_lock`, the system's own lock of this kind. Built from C11 atomics with acquire
/// and release order, so ThreadSanitizer sees its happens-before edges (it cannot see them
/// through the Swift standard library's `Mutex`, which it does not instrument).

#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__APPLE__)
#include <os/lock.h>

/// The lock's state (zero-initialized is unlocked).
typedef struct { os_unfair_lock lock; } bp_lock;

/// Takes the lock, waiting while another thread holds it.
static inline void bp_lock_lock(bp_lock *l) { os_unfair_lock_lock(&l->lock); }
/// Takes the lock if it is free; `true` when taken.
static inline bool bp_lock_try(bp_lock *l) { return os_unfair_lock_trylock(&l->lock); }
/// Releases the lock.
static inline void bp_lock_unlock(bp_lock *l) { os_unfair_lock_unlock(&l->lock); }

#else
#include <stdatomic.h>

/// The lock's state (zero-initialized is unlocked): 0 free, 1 locked, 2 locked with waiters.
/// A plain integer, read only as `_Atomic` through `bp_lock_state` (Swift cannot import an
/// `_Atomic` field).
typedef struct { uint32_t state; } bp_lock;

/// The state as the atomic it is.
static inline _Atomic uint32_t *bp_lock_state(bp_lock *l) { return (_Atomic uint32_t *)&l->state; }

/// The contended halves of `bp_lock_lock` and `bp_lock_unlock` (lock.c).
void bp_lock_wait(bp_lock *l, uint32_t seen);
void bp_lock_wake(bp_lock *l);

/// Takes the lock, waiting while another thread holds it.
static inline void bp_lock_lock(bp_lock *l) {
  uint32_t seen = 0;
  if (!atomic_compare_exchange_strong_explicit(bp_lock_state(l), &seen, 1, memory_order_acquire, memory_order_relaxed)) {
    bp_lock_wait(l, seen);
  }
}

/// Takes the lock if it is free; `true` when taken.
static inline bool bp_lock_try(bp_lock *l) {
  uint32_t seen = 0;
  return atomic_compare_exchange_strong_explicit(bp_lock_state(l), &seen, 1, memory_order_acquire, memory_order_relaxed);
}

/// Releases the lock (held by the caller).
static inline void bp_lock_unlock(bp_lock *l) {
  if (atomic_fetch_sub_explicit(bp_lock_state(l), 1, memory_order_release) != 1) bp_lock_wake(l);
}
#endif

#ifdef __cplusplus
}
#endif

#endif
