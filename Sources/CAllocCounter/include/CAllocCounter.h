#ifndef BACKPROP_ALLOC_COUNTER_H
#define BACKPROP_ALLOC_COUNTER_H

/// The number of heap allocations (malloc, calloc, realloc, aligned allocations) made by the
/// process so far, or -1 where counting is not supported (it is on Linux with glibc).
long long backprop_allocation_count(void);

#endif
