// PNG (libpng 1.6) and JPEG (libjpeg 6b API, as libjpeg-turbo provides it) decoding and
// encoding for FeatureLens image folders. See FeatureLensImageCodecs.h for the contract.
//
// Error handling: libpng's error function and our libjpeg `error_exit` longjmp to a setjmp in
// the same C function below; nothing here returns to Swift through a longjmp. Locals that
// change between setjmp and a possible longjmp and are read after it are volatile.
#include "FeatureLensImageCodecs.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <jpeglib.h>
#include <jerror.h>

static void set_message(char *message, const char *format, ...) {
    if (!message) return;
    va_list args;
    va_start(args, format);
    vsnprintf(message, FL_CODEC_MESSAGE_SIZE, format, args);
    va_end(args);
}

void fl_image_free(FLDecodedImage *image) {
    if (!image) return;
    free(image->pixels);
    image->pixels = NULL;
    image->pixel_bytes = 0;
}

void fl_buffer_free(uint8_t *buffer) { free(buffer); }

int fl_is_png(const uint8_t *data, size_t size) {
    return data != NULL && size >= 8 && png_sig_cmp((png_const_bytep)data, 0, 8) == 0;
}

int fl_is_jpeg(const uint8_t *data, size_t size) {
    return data != NULL && size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
}

// MARK: - PNG

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t offset;
} PNGSource;

typedef struct {
    uint8_t *data;
    size_t size;
    size_t capacity;
} PNGSink;

static void png_error_to_message(png_structp png, png_const_charp text) {
    char *message = (char *)png_get_error_ptr(png);
    set_message(message, "%s", text ? text : "libpng error");
    png_longjmp(png, 1);
}

static void png_ignore_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

static void png_read_from_memory(png_structp png, png_bytep out, size_t length) {
    PNGSource *source = (PNGSource *)png_get_io_ptr(png);
    if (length > source->size - source->offset) {
        png_error(png, "file ends early (truncated PNG)");
    }
    memcpy(out, source->data + source->offset, length);
    source->offset += length;
}

int fl_png_decode(const uint8_t *data, size_t size, size_t max_pixels, FLDecodedImage *out,
                  char message[FL_CODEC_MESSAGE_SIZE]) {
    memset(out, 0, sizeof *out);
    message[0] = 0;
    if (!fl_is_png(data, size)) {
        set_message(message, "not a PNG file (the 8-byte PNG signature is missing)");
        return FL_CODEC_NOT_THIS_FORMAT;
    }
    PNGSource source = {data, size, 0};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, message, png_error_to_message,
                                             png_ignore_warning);
    if (!png) {
        set_message(message, "libpng could not allocate its reader");
        return FL_CODEC_NO_MEMORY;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        set_message(message, "libpng could not allocate its reader");
        return FL_CODEC_NO_MEMORY;
    }
    uint8_t *volatile rows_data = NULL;
    png_bytep *volatile rows = NULL;
    uint8_t *volatile pixels = NULL;
    volatile int status = FL_CODEC_CORRUPT;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(rows_data);
        free(rows);
        free(pixels);
        memset(out, 0, sizeof *out);
        return status;
    }
    png_set_read_fn(png, &source, png_read_from_memory);
    png_read_info(png, info);
    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    if (width == 0 || height == 0) png_error(png, "image has no pixels");
    if ((size_t)width > max_pixels / (size_t)height) {
        status = FL_CODEC_TOO_LARGE;
        png_error(png, "image is larger than the pixel limit");
    }
    out->had_alpha = (color_type & PNG_COLOR_MASK_ALPHA) != 0 || png_get_valid(png, info, PNG_INFO_tRNS) != 0;
    out->was_palette = color_type == PNG_COLOR_TYPE_PALETTE;
    out->interlaced = interlace != PNG_INTERLACE_NONE;
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    (void)png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int channels = png_get_channels(png, info);
    int depth = png_get_bit_depth(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    if (depth != 8 && depth != 16) png_error(png, "unexpected bit depth after expansion");
    if (channels < 1 || channels > 4) png_error(png, "unexpected channel count after expansion");
    size_t sample_bytes = (size_t)depth / 8;
    if (row_bytes != (size_t)width * (size_t)channels * sample_bytes) png_error(png, "unexpected row size");
    rows_data = (uint8_t *)malloc(row_bytes * (size_t)height);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * (size_t)height);
    if (!rows_data || !rows) {
        status = FL_CODEC_NO_MEMORY;
        png_error(png, "out of memory for the decoded rows");
    }
    for (png_uint_32 y = 0; y < height; y++) rows[y] = rows_data + (size_t)y * row_bytes;
    png_read_image(png, rows);

    // Drop alpha (the last channel of grey+alpha and RGBA).
    int kept = (channels == 2 || channels == 4) ? channels - 1 : channels;
    size_t pixel_count = (size_t)width * (size_t)height;
    pixels = (uint8_t *)malloc(pixel_count * (size_t)kept * sample_bytes);
    if (!pixels) {
        status = FL_CODEC_NO_MEMORY;
        png_error(png, "out of memory for the decoded pixels");
    }
    if (kept == channels) {
        memcpy(pixels, rows_data, pixel_count * (size_t)kept * sample_bytes);
    } else {
        size_t in_pixel = (size_t)channels * sample_bytes, out_pixel = (size_t)kept * sample_bytes;
        for (size_t p = 0; p < pixel_count; p++) memcpy(pixels + p * out_pixel, rows_data + p * in_pixel, out_pixel);
    }
    png_destroy_read_struct(&png, &info, NULL);
    free(rows_data);
    free(rows);
    out->width = (int)width;
    out->height = (int)height;
    out->channels = kept;
    out->bit_depth = depth;
    out->pixels = pixels;
    out->pixel_bytes = pixel_count * (size_t)kept * sample_bytes;
    return FL_CODEC_OK;
}

static void png_write_to_memory(png_structp png, png_bytep bytes, size_t length) {
    PNGSink *sink = (PNGSink *)png_get_io_ptr(png);
    if (length > sink->capacity - sink->size) {
        size_t capacity = sink->capacity ? sink->capacity : 4096;
        while (length > capacity - sink->size) capacity *= 2;
        uint8_t *grown = (uint8_t *)realloc(sink->data, capacity);
        if (!grown) png_error(png, "out of memory for the encoded PNG");
        sink->data = grown;
        sink->capacity = capacity;
    }
    memcpy(sink->data + sink->size, bytes, length);
    sink->size += length;
}

static void png_flush_nothing(png_structp png) { (void)png; }

int fl_png_encode(const uint8_t *samples, int width, int height, int color_type, int bit_depth,
                  int interlace, const uint8_t *palette, int palette_entries,
                  uint8_t **out, size_t *out_size, char message[FL_CODEC_MESSAGE_SIZE]) {
    *out = NULL;
    *out_size = 0;
    message[0] = 0;
    if (width <= 0 || height <= 0 || !samples) {
        set_message(message, "image size %d x %d: expected positive width and height", width, height);
        return FL_CODEC_BAD_ARGUMENT;
    }
    int channels;
    int depth_ok;
    switch (color_type) {
    case FL_PNG_GRAY: channels = 1; depth_ok = bit_depth == 1 || bit_depth == 2 || bit_depth == 4 || bit_depth == 8 || bit_depth == 16; break;
    case FL_PNG_PALETTE: channels = 1; depth_ok = bit_depth == 1 || bit_depth == 2 || bit_depth == 4 || bit_depth == 8; break;
    case FL_PNG_RGB: channels = 3; depth_ok = bit_depth == 8 || bit_depth == 16; break;
    case FL_PNG_GRAY_ALPHA: channels = 2; depth_ok = bit_depth == 8 || bit_depth == 16; break;
    case FL_PNG_RGBA: channels = 4; depth_ok = bit_depth == 8 || bit_depth == 16; break;
    default:
        set_message(message, "PNG colour type %d: expected 0, 2, 3, 4 or 6", color_type);
        return FL_CODEC_BAD_ARGUMENT;
    }
    if (!depth_ok) {
        set_message(message, "PNG colour type %d does not allow bit depth %d", color_type, bit_depth);
        return FL_CODEC_BAD_ARGUMENT;
    }
    size_t sample_bytes = bit_depth == 16 ? 2 : 1;
    size_t row_bytes = (size_t)width * (size_t)channels * sample_bytes;
    size_t count = (size_t)width * (size_t)height * (size_t)channels;
    if (color_type == FL_PNG_PALETTE) {
        if (!palette || palette_entries < 1 || palette_entries > 256 || palette_entries > (1 << bit_depth)) {
            set_message(message, "palette with %d entries: expected 1…%d RGB entries", palette_entries, 1 << bit_depth);
            return FL_CODEC_BAD_ARGUMENT;
        }
        for (size_t i = 0; i < count; i++) {
            if (samples[i] >= palette_entries) {
                set_message(message, "palette index %d at sample %zu: expected < %d", samples[i], i, palette_entries);
                return FL_CODEC_BAD_ARGUMENT;
            }
        }
    } else if (bit_depth < 8) {
        for (size_t i = 0; i < count; i++) {
            if (samples[i] >= (1 << bit_depth)) {
                set_message(message, "sample %d at %zu does not fit in %d bits", samples[i], i, bit_depth);
                return FL_CODEC_BAD_ARGUMENT;
            }
        }
    }
    PNGSink sink = {NULL, 0, 0};
    png_bytep *volatile rows = NULL;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, message, png_error_to_message,
                                              png_ignore_warning);
    if (!png) {
        set_message(message, "libpng could not allocate its writer");
        return FL_CODEC_NO_MEMORY;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        set_message(message, "libpng could not allocate its writer");
        return FL_CODEC_NO_MEMORY;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(sink.data);
        free(rows);
        return FL_CODEC_CORRUPT;
    }
    png_set_write_fn(png, &sink, png_write_to_memory, png_flush_nothing);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, bit_depth, color_type,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (color_type == FL_PNG_PALETTE) {
        png_color entries[256];
        for (int i = 0; i < palette_entries; i++) {
            entries[i].red = palette[3 * i];
            entries[i].green = palette[3 * i + 1];
            entries[i].blue = palette[3 * i + 2];
        }
        png_set_PLTE(png, info, entries, palette_entries);
    }
    png_write_info(png, info);
    if (bit_depth < 8) png_set_packing(png);
    if (interlace) (void)png_set_interlace_handling(png);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * (size_t)height);
    if (!rows) png_error(png, "out of memory for the row table");
    for (int y = 0; y < height; y++) rows[y] = (png_bytep)(samples + (size_t)y * row_bytes);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    *out = sink.data;
    *out_size = sink.size;
    return FL_CODEC_OK;
}

// MARK: - JPEG

typedef struct {
    struct jpeg_error_mgr manager;
    jmp_buf jump;
    char *message;
    char warning[FL_CODEC_MESSAGE_SIZE];
    int premature_end;
} JPEGErrors;

static void jpeg_error_to_message(j_common_ptr cinfo) {
    JPEGErrors *errors = (JPEGErrors *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    set_message(errors->message, "%s", text);
    longjmp(errors->jump, 1);
}

static void jpeg_collect_warning(j_common_ptr cinfo, int level) {
    if (level >= 0) return;  // trace messages
    JPEGErrors *errors = (JPEGErrors *)cinfo->err;
    if (cinfo->err->msg_code == JWRN_JPEG_EOF) errors->premature_end = 1;
    if (errors->warning[0] == 0) {
        char text[JMSG_LENGTH_MAX];
        (*cinfo->err->format_message)(cinfo, text);
        set_message(errors->warning, "%s", text);
    }
    cinfo->err->num_warnings++;
}

static void jpeg_print_nothing(j_common_ptr cinfo) { (void)cinfo; }

static void jpeg_install_errors(JPEGErrors *errors, char *message) {
    memset(errors, 0, sizeof *errors);
    jpeg_std_error(&errors->manager);
    errors->manager.error_exit = jpeg_error_to_message;
    errors->manager.emit_message = jpeg_collect_warning;
    errors->manager.output_message = jpeg_print_nothing;
    errors->message = message;
}

int fl_jpeg_decode(const uint8_t *data, size_t size, size_t max_pixels, FLDecodedImage *out,
                   char message[FL_CODEC_MESSAGE_SIZE]) {
    memset(out, 0, sizeof *out);
    message[0] = 0;
    if (!fl_is_jpeg(data, size)) {
        set_message(message, "not a JPEG file (the start-of-image marker FF D8 FF is missing)");
        return FL_CODEC_NOT_THIS_FORMAT;
    }
    struct jpeg_decompress_struct cinfo;
    JPEGErrors errors;
    jpeg_install_errors(&errors, message);
    cinfo.err = &errors.manager;
    uint8_t *volatile pixels = NULL;
    volatile int status = FL_CODEC_CORRUPT;
    if (setjmp(errors.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        memset(out, 0, sizeof *out);
        return status;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, (unsigned char *)data, (unsigned long)size);
    (void)jpeg_read_header(&cinfo, TRUE);
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo.out_color_space = JCS_GRAYSCALE; break;
    case JCS_YCbCr:
    case JCS_RGB: cinfo.out_color_space = JCS_RGB; break;
    case JCS_CMYK:
    case JCS_YCCK: cinfo.out_color_space = JCS_CMYK; break;
    default:
        set_message(message, "unsupported JPEG colour space (%d components of unknown meaning)", cinfo.num_components);
        jpeg_destroy_decompress(&cinfo);
        return FL_CODEC_CORRUPT;
    }
    if (cinfo.image_width == 0 || cinfo.image_height == 0) {
        set_message(message, "image has no pixels");
        jpeg_destroy_decompress(&cinfo);
        return FL_CODEC_CORRUPT;
    }
    if ((size_t)cinfo.image_width > max_pixels / (size_t)cinfo.image_height) {
        set_message(message, "image is larger than the pixel limit");
        jpeg_destroy_decompress(&cinfo);
        return FL_CODEC_TOO_LARGE;
    }
    out->adobe_inverted = cinfo.out_color_space == JCS_CMYK && cinfo.saw_Adobe_marker;
    out->interlaced = cinfo.progressive_mode ? 1 : 0;
    (void)jpeg_start_decompress(&cinfo);
    size_t stride = (size_t)cinfo.output_width * (size_t)cinfo.output_components;
    pixels = (uint8_t *)malloc(stride * (size_t)cinfo.output_height);
    if (!pixels) {
        set_message(message, "out of memory for the decoded pixels");
        jpeg_destroy_decompress(&cinfo);
        return FL_CODEC_NO_MEMORY;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + (size_t)cinfo.output_scanline * stride;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) break;
        if (errors.premature_end) break;
    }
    if (errors.premature_end || cinfo.output_scanline < cinfo.output_height) {
        set_message(message, "file ends early (truncated JPEG: %s)", errors.warning[0] ? errors.warning : "no more scanlines");
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        return FL_CODEC_CORRUPT;
    }
    (void)jpeg_finish_decompress(&cinfo);
    if (errors.premature_end) {
        set_message(message, "file ends early (truncated JPEG: %s)", errors.warning);
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        return FL_CODEC_CORRUPT;
    }
    out->width = (int)cinfo.output_width;
    out->height = (int)cinfo.output_height;
    out->channels = cinfo.output_components;
    out->bit_depth = 8;
    out->pixels = pixels;
    out->pixel_bytes = stride * (size_t)cinfo.output_height;
    memcpy(out->warning, errors.warning, sizeof out->warning);
    jpeg_destroy_decompress(&cinfo);
    return FL_CODEC_OK;
}

int fl_jpeg_encode(const uint8_t *samples, int width, int height, int components, int quality,
                   int progressive, uint8_t **out, size_t *out_size, char message[FL_CODEC_MESSAGE_SIZE]) {
    *out = NULL;
    *out_size = 0;
    message[0] = 0;
    if (width <= 0 || height <= 0 || width > JPEG_MAX_DIMENSION || height > JPEG_MAX_DIMENSION || !samples) {
        set_message(message, "image size %d x %d: expected 1…%d pixels each way", width, height, JPEG_MAX_DIMENSION);
        return FL_CODEC_BAD_ARGUMENT;
    }
    if (components != 1 && components != 3 && components != 4) {
        set_message(message, "%d components: expected 1 (grey), 3 (RGB) or 4 (CMYK)", components);
        return FL_CODEC_BAD_ARGUMENT;
    }
    if (quality < 1 || quality > 100) {
        set_message(message, "quality %d: expected 1…100", quality);
        return FL_CODEC_BAD_ARGUMENT;
    }
    struct jpeg_compress_struct cinfo;
    JPEGErrors errors;
    jpeg_install_errors(&errors, message);
    cinfo.err = &errors.manager;
    unsigned char *buffer = NULL;
    unsigned long buffer_size = 0;
    uint8_t *volatile row = NULL;
    if (setjmp(errors.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(*(unsigned char *volatile *)&buffer);  // set by libjpeg through its address
        free(row);
        return FL_CODEC_CORRUPT;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &buffer, &buffer_size);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = components;
    cinfo.in_color_space = components == 1 ? JCS_GRAYSCALE : (components == 3 ? JCS_RGB : JCS_CMYK);
    jpeg_set_defaults(&cinfo);
    if (components == 4) jpeg_set_colorspace(&cinfo, JCS_CMYK);  // plain CMYK with an Adobe marker
    jpeg_set_quality(&cinfo, quality, TRUE);
    if (progressive) jpeg_simple_progression(&cinfo);
    size_t stride = (size_t)width * (size_t)components;
    row = (uint8_t *)malloc(stride);
    if (!row) ERREXIT1(&cinfo, JERR_OUT_OF_MEMORY, 0);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        const uint8_t *source = samples + (size_t)cinfo.next_scanline * stride;
        if (components == 4) {
            for (size_t i = 0; i < stride; i++) row[i] = (uint8_t)(255 - source[i]);
        } else {
            memcpy(row, source, stride);
        }
        JSAMPROW pointer = row;
        (void)jpeg_write_scanlines(&cinfo, &pointer, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    free(row);
    *out = buffer;
    *out_size = (size_t)buffer_size;
    return FL_CODEC_OK;
}
