#include "FeatureLensKernels.h"

const char *fl_kernel_name(void) { return "generic"; }
