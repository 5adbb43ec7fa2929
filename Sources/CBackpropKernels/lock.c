// The contended paths of bp_lock on Linux (see include/bp_lock.h): Drepper, "Futexes Are
// Tricky", section 6.
#include "bp_lock.h"

#if !defined(__APPLE__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

void bp_lock_wait(bp_lock *l, uint32_t seen) {
  // Mark the lock contended (2) and sleep until the holder wakes us; whoever swaps a 0 out
  // owns the lock (still marked 2, so its unlock wakes the next waiter, if any).
  if (seen != 2) seen = atomic_exchange_explicit(bp_lock_state(l), 2, memory_order_acquire);
  while (seen != 0) {
    syscall(SYS_futex, &l->state, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
    seen = atomic_exchange_explicit(bp_lock_state(l), 2, memory_order_acquire);
  }
}

void bp_lock_wake(bp_lock *l) {
  // The state was 2 (waiters possible): free it and wake one.
  atomic_store_explicit(bp_lock_state(l), 0, memory_order_release);
  syscall(SYS_futex, &l->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
#endif
