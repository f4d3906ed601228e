/* A grayscale 8-bit PNG writer (zlib's compress and crc32) for the zoo's image grids. */
#ifndef PNG_GRAY_H
#define PNG_GRAY_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static inline void png_chunk(FILE *f, const char *type, const unsigned char *data, uint32_t n) {
    unsigned char be[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                           (unsigned char)(n >> 8), (unsigned char)n};
    fwrite(be, 1, 4, f);
    fwrite(type, 1, 4, f);
    if (n) fwrite(data, 1, n, f);
    uLong crc = crc32(0, (const Bytef *)type, 4);
    if (n) crc = crc32(crc, data, n); /* crc32(c, NULL, 0) would restart at 0 */
    unsigned char c[4] = {(unsigned char)(crc >> 24), (unsigned char)(crc >> 16),
                          (unsigned char)(crc >> 8), (unsigned char)crc};
    fwrite(c, 1, 4, f);
}

/* pixels [h][w] in [0, 1] (clamped); 0 on success. */
static inline int png_gray_write(const char *path, const float *pixels, int w, int h) {
    size_t raw_n = (size_t)h * (size_t)(w + 1);
    unsigned char *raw = malloc(raw_n);
    uLongf z_n = compressBound((uLong)raw_n);
    unsigned char *z = malloc(z_n);
    FILE *f = fopen(path, "wb");
    if (!raw || !z || !f) {
        free(raw), free(z);
        if (f) fclose(f);
        return 1;
    }
    for (int y = 0; y < h; y++) {
        raw[(size_t)y * (size_t)(w + 1)] = 0;
        for (int x = 0; x < w; x++) {
            float v = pixels[(size_t)y * (size_t)w + (size_t)x];
            v = v < 0 ? 0 : v > 1 ? 1 : v;
            raw[(size_t)y * (size_t)(w + 1) + 1 + (size_t)x] = (unsigned char)(v * 255 + 0.5f);
        }
    }
    compress(z, &z_n, raw, (uLong)raw_n);
    unsigned char ihdr[13] = {(unsigned char)(w >> 24),
                              (unsigned char)(w >> 16),
                              (unsigned char)(w >> 8),
                              (unsigned char)w,
                              (unsigned char)(h >> 24),
                              (unsigned char)(h >> 16),
                              (unsigned char)(h >> 8),
                              (unsigned char)h,
                              8,
                              0,
                              0,
                              0,
                              0};
    fwrite("\x89PNG\r\n\x1a\n", 1, 8, f);
    png_chunk(f, "IHDR", ihdr, 13);
    png_chunk(f, "IDAT", z, (uint32_t)z_n);
    png_chunk(f, "IEND", NULL, 0);
    free(raw), free(z);
    return fclose(f) != 0;
}

#endif
