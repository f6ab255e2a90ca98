/* Max pool (InceptionV3: 3x3, stride 2, VALID), NHWC. The forward pass keeps, for every output
 * element, the index of the input element it took (the first maximum in row-major window
 * order); the backward pass adds the gradient there. */
#include "maxpool.h"

#include <stddef.h>

/* in (h, w, c) contiguous; out (ho, wo, c) with out_ld floats per pixel; argmax (ho*wo*c). */
void maxpool_forward(float *out, int out_ld, int *argmax, const float *in, const window *g, int c) {
    for (int oy = 0; oy < g->ho; oy++) {
        for (int ox = 0; ox < g->wo; ox++) {
            size_t p = (size_t)oy * g->wo + ox;
            float *o = out + p * out_ld;
            int *am = argmax + p * c;
            int y0 = oy * g->sh - g->pad_top, x0 = ox * g->sw - g->pad_left;
            for (int ch = 0; ch < c; ch++) {
                int best = -1;
                float m = 0.0f;
                for (int ky = 0; ky < g->kh; ky++) {
                    int iy = y0 + ky;
                    if (iy < 0 || iy >= g->h) continue;
                    for (int kx = 0; kx < g->kw; kx++) {
                        int ix = x0 + kx;
                        if (ix < 0 || ix >= g->w) continue;
                        int idx = (iy * g->w + ix) * c + ch;
                        if (best < 0 || in[idx] > m) {
                            best = idx;
                            m = in[idx];
                        }
                    }
                }
                o[ch] = m;
                am[ch] = best;
            }
        }
    }
}

/* din (h, w, c) contiguous, accumulated; dout (ho, wo, c) with out_ld floats per pixel. */
void maxpool_backward(float *din, const float *dout, int out_ld, const int *argmax, const window *g,
                      int c) {
    for (int p = 0; p < g->ho * g->wo; p++) {
        const float *d = dout + (size_t)p * out_ld;
        const int *am = argmax + (size_t)p * c;
        for (int ch = 0; ch < c; ch++) din[am[ch]] += d[ch];
    }
}
