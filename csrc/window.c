#include "window.h"

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
