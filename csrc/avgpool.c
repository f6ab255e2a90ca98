/* Average pool (InceptionV3: 3x3, stride 1, SAME), NHWC. Like TensorFlow, each window is
 * divided by the number of valid (non-padding) elements it covers, not by kh * kw. The backward
 * pass gathers, per input pixel, the share of every window that covers it. */
#include "simd.h"
#include "avgpool.h"

#include <stddef.h>
#include <string.h>

static int valid_count(const window *g, int y0, int x0) {
    int ny = 0, nx = 0;
    for (int k = 0; k < g->kh; k++) ny += (y0 + k >= 0 && y0 + k < g->h);
    for (int k = 0; k < g->kw; k++) nx += (x0 + k >= 0 && x0 + k < g->w);
    return ny * nx;
}

/* in (h, w, c), out (ho, wo, c), both contiguous. */
DD_VECTORIZED
void avgpool_forward(float *out, const float *in, const window *g, int c, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int oy = 0; oy < g->ho; oy++) {
        for (int ox = 0; ox < g->wo; ox++) {
            int y0 = oy * g->sh - g->pad_top, x0 = ox * g->sw - g->pad_left;
            float *o = out + ((size_t)oy * g->wo + ox) * c;
            for (int ch = 0; ch < c; ch++) o[ch] = 0.0f;
            for (int ky = 0; ky < g->kh; ky++) {
                int iy = y0 + ky;
                if (iy < 0 || iy >= g->h) continue;
                for (int kx = 0; kx < g->kw; kx++) {
                    int ix = x0 + kx;
                    if (ix < 0 || ix >= g->w) continue;
                    const float *src = in + ((size_t)iy * g->w + ix) * c;
                    for (int ch = 0; ch < c; ch++) o[ch] += src[ch];
                }
            }
            float inv = 1.0f / (float)valid_count(g, y0, x0);
            for (int ch = 0; ch < c; ch++) o[ch] *= inv;
        }
    }
}

/* din (h, w, c) added to (accumulate) or written, dout (ho, wo, c), both contiguous. */
DD_VECTORIZED
void avgpool_backward(float *din, const float *dout, const window *g, int c, int accumulate,
                      int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int iy = 0; iy < g->h; iy++) {
        for (int ix = 0; ix < g->w; ix++) {
            float *dst = din + ((size_t)iy * g->w + ix) * c;
            if (!accumulate) memset(dst, 0, (size_t)c * sizeof(float));
            for (int ky = 0; ky < g->kh; ky++) {
                int oy = window_tap_output(iy, ky, g->pad_top, g->sh, g->ho);
                if (oy < 0) continue;
                for (int kx = 0; kx < g->kw; kx++) {
                    int ox = window_tap_output(ix, kx, g->pad_left, g->sw, g->wo);
                    if (ox < 0) continue;
                    const float *d = dout + ((size_t)oy * g->wo + ox) * c;
                    float inv = 1.0f / (float)valid_count(g, oy * g->sh - g->pad_top,
                                                          ox * g->sw - g->pad_left);
                    for (int ch = 0; ch < c; ch++) dst[ch] += d[ch] * inv;
                }
            }
        }
    }
}
