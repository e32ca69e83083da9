// System zlib (Debian/Ubuntu: zlib1g-dev) for gzip-compressed dataset files.
#ifndef FEATURELENS_CZLIB_SHIM_H
#define FEATURELENS_CZLIB_SHIM_H
#include <zlib.h>
#endif
