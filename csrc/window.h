/* The geometry of a sliding-window op (convolution or pool) over one NHWC image,
 * with TensorFlow's padding rules:
 *   VALID: out = (in - k) / stride + 1, no padding.
 *   SAME:  out = ceil(in / stride), pad_total = max((out - 1) * stride + k - in, 0),
 *          pad_before = pad_total / 2 (the extra pixel, if any, goes after). */
#ifndef DD_WINDOW_H
#define DD_WINDOW_H

#include <stddef.h>

typedef struct {
    int h, w;             /* input size */
    int kh, kw;           /* window size */
    int sh, sw;           /* strides */
    int pad_top, pad_left;
    int ho, wo;           /* output size; 0 when the input is smaller than a VALID window */
} window;

/* The side x side pixels from (y0, x0) of an (h, w) map of c channels, ld floats per pixel:
 * returns where they are, with *rs and *cs the floats from one row and one pixel to the next.
 * A square that crosses an edge is copied into stage (side^2 x c floats), zeros outside. (The
 * input windows of the Winograd and polyphase transforms.) */
const float *window_pixels(const float *in, int h, int w, int ld, int c, int y0, int x0, int side,
                           float *stage, size_t *rs, size_t *cs);

/* One axis: output length for input length n, or 0 if n is too small. */
int window_out_len(int n, int k, int stride, int same);

window window_make(int h, int w, int kh, int kw, int stride, int same);

/* The output index o along one axis whose window puts tap k on input index i
 * (o * stride - pad + k == i), or -1 if there is none: what backward gathers walk. */
static inline int window_tap_output(int i, int k, int pad, int stride, int out_len) {
    int n = i + pad - k;
    if (n < 0) return -1;
    if (stride == 2) { /* InceptionV3's strides, without a division per pixel */
        if (n & 1) return -1;
        n >>= 1;
    } else if (stride != 1) {
        if (n % stride) return -1;
        n /= stride;
    }
    return n < out_len ? n : -1;
}

/* The outputs [*o0, *o1) along one axis whose window puts tap k inside an input of length n. */
static inline void window_tap_outputs(int n, int k, int pad, int stride, int out_len, int *o0,
                                      int *o1) {
    int first = pad - k, last = n - 1 + pad - k; /* o * stride within [first, last] */
    *o0 = first > 0 ? (first + stride - 1) / stride : 0;
    *o1 = last < 0 ? 0 : last / stride + 1;
    if (*o1 > out_len) *o1 = out_len;
    if (*o1 < *o0) *o1 = *o0;
}

#endif
