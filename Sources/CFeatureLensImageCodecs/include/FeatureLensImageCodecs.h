// PNG and JPEG decoding and encoding through the system libpng and libjpeg.
//
// Both libraries report a fatal error by calling an error function that must not return;
// here it longjmps back to a setjmp inside the same C function, so no longjmp ever crosses
// a Swift frame. Every function returns 0 on success, or a nonzero status with a one-line
// message (NUL-terminated, at most FL_CODEC_MESSAGE_SIZE bytes) in `message`.
#ifndef FEATURELENS_IMAGE_CODECS_H
#define FEATURELENS_IMAGE_CODECS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FL_CODEC_MESSAGE_SIZE 256

/// Status codes.
enum {
    FL_CODEC_OK = 0,
    /// The bytes are not of the format (bad signature).
    FL_CODEC_NOT_THIS_FORMAT = 1,
    /// The library rejected the data (corrupt, truncated, unsupported); see the message.
    FL_CODEC_CORRUPT = 2,
    /// width × height exceeds the caller's pixel limit (checked before the pixels are allocated).
    FL_CODEC_TOO_LARGE = 3,
    /// Memory could not be allocated.
    FL_CODEC_NO_MEMORY = 4,
    /// A bad argument to an encoder.
    FL_CODEC_BAD_ARGUMENT = 5,
};

/// A decoded image: `height` rows of `width` pixels of `channels` interleaved samples, each
/// `bit_depth / 8` bytes (16-bit samples big-endian, as stored in PNG). Samples are the file's
/// stored values: no gamma or colour-profile conversion.
typedef struct {
    int width;
    int height;
    /// PNG: 1 (grey) or 3 (RGB; palette images are expanded). JPEG: 1 (grey), 3 (RGB) or 4 (CMYK).
    int channels;
    /// 8 or 16 (16 only for 16-bit PNG).
    int bit_depth;
    /// The file had an alpha channel (or palette transparency), which was dropped.
    int had_alpha;
    /// The file was a palette image (PNG colour type 3).
    int was_palette;
    /// The file was interlaced (PNG Adam7, or progressive JPEG).
    int interlaced;
    /// JPEG CMYK only: the file carries an Adobe APP14 marker, whose CMYK samples are stored
    /// inverted (255 = no ink), as Adobe applications write them.
    int adobe_inverted;
    /// JPEG: libjpeg's first warning about recoverable corrupt data (the image was decoded), else "".
    char warning[FL_CODEC_MESSAGE_SIZE];
    /// The samples (malloc'd; free with fl_image_free).
    uint8_t *pixels;
    size_t pixel_bytes;
} FLDecodedImage;

/// Frees the pixels of a decoded image (safe on a zeroed or already freed one).
void fl_image_free(FLDecodedImage *image);

/// 1 when `data` starts with the 8-byte PNG signature.
int fl_is_png(const uint8_t *data, size_t size);
/// 1 when `data` starts with the JPEG start-of-image marker FF D8 FF.
int fl_is_jpeg(const uint8_t *data, size_t size);

/// Decodes a whole PNG file held in memory. Bit depths 1, 2, 4 are scaled to 8 bits (as the
/// PNG specification's sample-depth scaling: v · 255 / (2^depth − 1)); palette images become
/// RGB; alpha (and tRNS transparency) is dropped; Adam7 interlacing is undone; 16-bit samples
/// stay 16-bit. `max_pixels` bounds width × height.
int fl_png_decode(const uint8_t *data, size_t size, size_t max_pixels, FLDecodedImage *out,
                  char message[FL_CODEC_MESSAGE_SIZE]);

/// Decodes a whole JPEG file held in memory: grey stays grey, YCbCr and RGB become RGB,
/// CMYK and YCCK become CMYK (4 channels, see `adobe_inverted`). A file that ends before its
/// image data does ("Premature end of JPEG file") is an error; libjpeg's other warnings about
/// corrupt data leave the decoded image and set `warning`.
int fl_jpeg_decode(const uint8_t *data, size_t size, size_t max_pixels, FLDecodedImage *out,
                   char message[FL_CODEC_MESSAGE_SIZE]);

/// PNG colour types accepted by fl_png_encode (the PNG specification's values).
enum {
    FL_PNG_GRAY = 0,
    FL_PNG_RGB = 2,
    FL_PNG_PALETTE = 3,
    FL_PNG_GRAY_ALPHA = 4,
    FL_PNG_RGBA = 6,
};

/// Encodes a PNG into a malloc'd buffer (`*out`, `*out_size`; free with fl_buffer_free).
/// `samples`: `height` rows of `width` pixels, interleaved; for bit_depth 16 each sample is
/// two bytes big-endian; for bit depths 1, 2, 4 (grey or palette) one byte per sample holding
/// the value, which is packed. For FL_PNG_PALETTE the samples are palette indices and
/// `palette` holds `palette_entries` RGB triples. `interlace` 1 writes Adam7.
int fl_png_encode(const uint8_t *samples, int width, int height, int color_type, int bit_depth,
                  int interlace, const uint8_t *palette, int palette_entries,
                  uint8_t **out, size_t *out_size, char message[FL_CODEC_MESSAGE_SIZE]);

/// Encodes a baseline JPEG (or progressive when `progressive` is 1) into a malloc'd buffer.
/// `components` 1 (grey), 3 (RGB, stored as YCbCr) or 4 (CMYK, stored inverted with an Adobe
/// marker as Adobe applications write it; `samples` hold ink amounts, 255 = full ink).
/// `quality` 1…100 (libjpeg's scale).
int fl_jpeg_encode(const uint8_t *samples, int width, int height, int components, int quality,
                   int progressive, uint8_t **out, size_t *out_size, char message[FL_CODEC_MESSAGE_SIZE]);

/// Frees a buffer returned by an encoder.
void fl_buffer_free(uint8_t *buffer);

#ifdef __cplusplus
}
#endif

#endif
