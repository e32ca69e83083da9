// System libjpeg (Debian/Ubuntu: libjpeg62-turbo-dev, the libjpeg-turbo build of the libjpeg 6b
// API) for JPEG image folders. jpeglib.h needs size_t and FILE declared before it.
#ifndef FEATURELENS_CJPEG_SHIM_H
#define FEATURELENS_CJPEG_SHIM_H
#include <stddef.h>
#include <stdio.h>
#include <jpeglib.h>
#endif
