#include "window.h"

#include <string.h>

int window_out_len(int n, int k, int stride, int same) {
    if (n <= 0) return 0;
    if (same) return (int)(((long long)n + stride - 1) / stride);
    return n < k ? 0 : (n - k) / stride + 1;
}

static int pad_before(int n, int out, int k, int stride, int same) {
    if (!same) return 0;
    int total = (out - 1) * stride + k - n;
    return total > 0 ? total / 2 : 0;
}

window window_make(int h, int w, int kh, int kw, int stride, int same) {
    window g;
    g.h = h;
    g.w = w;
    g.kh = kh;
    g.kw = kw;
    g.sh = stride;
    g.sw = stride;
    g.ho = window_out_len(h, kh, stride, same);
    g.wo = window_out_len(w, kw, stride, same);
    g.pad_top = pad_before(h, g.ho, kh, stride, same);
    g.pad_left = pad_before(w, g.wo, kw, stride, same);
    return g;
}

const float *window_pixels(const float *in, int h, int w, int ld, int c, int y0, int x0, int side,
                           float *stage, size_t *rs, size_t *cs) {
    if (y0 >= 0 && x0 >= 0 && y0 + side <= h && x0 + side <= w) {
        *rs = (size_t)w * ld;
        *cs = ld;
        return in + ((size_t)y0 * w + x0) * ld;
    }
    for (int k = 0; k < side * side; k++) {
        int iy = y0 + k / side, ix = x0 + k % side;
        if (iy < 0 || iy >= h || ix < 0 || ix >= w)
            memset(stage + (size_t)k * c, 0, (size_t)c * sizeof(float));
        else
            memcpy(stage + (size_t)k * c, in + ((size_t)iy * w + ix) * ld, (size_t)c * sizeof(float));
    }
    *rs = (size_t)side * c;
    *cs = c;
    return stage;
}
