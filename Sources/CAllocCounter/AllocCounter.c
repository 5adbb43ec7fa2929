// The allocation count that `backprop bench` reports. This weak definition answers -1 (not
// counted): it is what a program gets that links BackpropCommands without the `backprop`
// executable's allocator interposer (the fuzz target FuzzCLI, whose AddressSanitizer must keep
// its own malloc). The executable links CAllocInterposer, whose strong definition replaces it.
#include "CAllocCounter.h"

__attribute__((weak)) long long backprop_allocation_count(void) { return -1; }
