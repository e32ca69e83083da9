#ifndef FEATURELENS_KERNELS_H
#define FEATURELENS_KERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Name of the micro-kernel family chosen for this CPU ("generic" until the SIMD kernels land).
const char *fl_kernel_name(void);

#ifdef __cplusplus
}
#endif

#endif
