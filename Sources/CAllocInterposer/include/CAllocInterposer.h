#ifndef BACKPROP_ALLOC_INTERPOSER_H
#define BACKPROP_ALLOC_INTERPOSER_H

// Nothing to call: linking this target into an executable replaces malloc and friends with
// counting versions and defines the strong `backprop_allocation_count` (see CAllocCounter.h).

#endif
