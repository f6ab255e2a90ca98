/* Max pool (InceptionV3: 3x3, stride 2, VALID), NHWC. The forward pass keeps, for every output
 * element, where in its window the maximum was (the first in row-major window order, as
 * TensorFlow's CPU kernel); the backward pass adds the gradient there, gathered per input pixel
 * so threads never write the same element. */
#include "simd.h"
#include "maxpool.h"

#include <stddef.h>
#include <string.h>

/* in (h, w, c) contiguous; out (ho, wo, c) with out_ld floats per pixel; argmax (ho*wo*c): for
 * each output element, the position ky * kw + kx of its maximum within the window. */
DD_VECTORIZED
void maxpool_forward(float *out, int out_ld, int *argmax, const float *in, const window *g, int c,
                     int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int oy = 0; oy < g->ho; oy++) {
        for (int ox = 0; ox < g->wo; ox++) {
            size_t p = (size_t)oy * g->wo + ox;
            float *restrict o = out + p * out_ld;
            int *restrict am = argmax + p * c;
            int y0 = oy * g->sh - g->pad_top, x0 = ox * g->sw - g->pad_left;
            int first = 1;
            for (int ky = 0; ky < g->kh; ky++) {
                int iy = y0 + ky;
                if (iy < 0 || iy >= g->h) continue;
                for (int kx = 0; kx < g->kw; kx++) {
                    int ix = x0 + kx;
                    if (ix < 0 || ix >= g->w) continue;
                    const float *restrict src = in + ((size_t)iy * g->w + ix) * c;
                    const int k = ky * g->kw + kx;
                    if (first) {
                        for (int ch = 0; ch < c; ch++) {
                            o[ch] = src[ch];
                            am[ch] = k;
                        }
                        first = 0;
                        continue;
                    }
#pragma omp simd
                    for (int ch = 0; ch < c; ch++) {
                        const float v = src[ch], m = o[ch];
                        const int take = -(v > m); /* all ones or zero: a select without a branch */
                        o[ch] = v > m ? v : m;
                        am[ch] = (am[ch] & ~take) | (k & take);
                    }
                }
            }
        }
    }
}

/* din (h, w, c) contiguous, added to (accumulate) or written; dout (ho, wo, c) with out_ld
 * floats per pixel. */
DD_VECTORIZED
void maxpool_backward(float *din, const float *dout, int out_ld, const int *argmax, const window *g,
                      int c, int accumulate, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int iy = 0; iy < g->h; iy++) {
        for (int ix = 0; ix < g->w; ix++) {
            float *restrict dst = din + ((size_t)iy * g->w + ix) * c;
            if (!accumulate) memset(dst, 0, (size_t)c * sizeof(float));
            for (int ky = 0; ky < g->kh; ky++) {
                int oy = window_tap_output(iy, ky, g->pad_top, g->sh, g->ho);
                if (oy < 0) continue;
                for (int kx = 0; kx < g->kw; kx++) {
                    int ox = window_tap_output(ix, kx, g->pad_left, g->sw, g->wo);
                    if (ox < 0) continue;
                    const size_t p = (size_t)oy * g->wo + ox;
                    const float *restrict d = dout + p * out_ld;
                    const int *restrict am = argmax + p * c;
                    const int k = ky * g->kw + kx;
#pragma omp simd
                    for (int ch = 0; ch < c; ch++) dst[ch] += (float)(am[ch] == k) * d[ch];
                }
            }
        }
    }
}
