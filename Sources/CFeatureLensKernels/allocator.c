// Process-wide allocator setting for long training runs (see FeatureLensKernels.h).

#include "FeatureLensKernels.h"

#if defined(__GLIBC__)
#include <limits.h>
#include <malloc.h>
#endif

int fl_keep_freed_memory(void) {
#if defined(__GLIBC__)
    return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, INT_MAX) == 1;
#else
    return 0;
#endif
}
