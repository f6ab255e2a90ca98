/* Bilinear resize with the semantics of tf.image.resize (method "bilinear", antialias off):
 * half-pixel centres, source coordinate (i + 0.5) * (in / out) - 0.5 in float32, neighbours
 * clamped to the image, weights from the fractional part. Forward only: the dream resizes
 * images between octaves, never gradients. */
#include "simd.h"
#include "resize.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    int lower, upper;
    float lerp;
} interp;

static void weights(interp *t, int out_len, int in_len) {
    const float scale = (float)in_len / (float)out_len;
    for (int i = 0; i < out_len; i++) {
        const float src = ((float)i + 0.5f) * scale - 0.5f;
        const float f = floorf(src);
        t[i].lower = f > 0.0f ? (int)f : 0;
        t[i].upper = (int)ceilf(src) < in_len - 1 ? (int)ceilf(src) : in_len - 1;
        if (t[i].upper < 0) t[i].upper = 0;
        t[i].lerp = src - f;
    }
}

/* in (h, w, c) -> out (oh, ow, c), both contiguous. Returns 0, or -1 when out of memory. */
DD_VECTORIZED
int resize_bilinear(float *out, int oh, int ow, const float *in, int h, int w, int c) {
    interp *ys = malloc(sizeof(interp) * (size_t)oh), *xs = malloc(sizeof(interp) * (size_t)ow);
    if (!ys || !xs) {
        free(ys);
        free(xs);
        return -1;
    }
    weights(ys, oh, h);
    weights(xs, ow, w);
    for (int oy = 0; oy < oh; oy++) {
        const float *top = in + (size_t)ys[oy].lower * w * c;
        const float *bottom = in + (size_t)ys[oy].upper * w * c;
        const float yl = ys[oy].lerp;
        float *o = out + (size_t)oy * ow * c;
        for (int ox = 0; ox < ow; ox++) {
            const size_t l = (size_t)xs[ox].lower * c, r = (size_t)xs[ox].upper * c;
            const float xl = xs[ox].lerp;
            for (int ch = 0; ch < c; ch++) {
                const float t = top[l + ch] + (top[r + ch] - top[l + ch]) * xl;
                const float b = bottom[l + ch] + (bottom[r + ch] - bottom[l + ch]) * xl;
                o[(size_t)ox * c + ch] = t + (b - t) * yl;
            }
        }
    }
    free(ys);
    free(xs);
    return 0;
}
