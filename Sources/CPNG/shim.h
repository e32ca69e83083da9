// System libpng 1.6 (Debian/Ubuntu: libpng-dev) for PNG image folders.
#ifndef FEATURELENS_CPNG_SHIM_H
#define FEATURELENS_CPNG_SHIM_H
#include <png.h>
#endif
